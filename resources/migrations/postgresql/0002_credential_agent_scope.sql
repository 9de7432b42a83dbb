-- Scope flag of each credential_agents row on PostgreSQL, and an index for
-- the 24-hour deduplication look-up of alerts.
-- in_scope is true while the credential's current statement covers the
-- agent: always under scope auto_all, and under scope explicit only for the
-- agents the statement lists.

ALTER TABLE credential_agents ADD COLUMN in_scope BOOLEAN NOT NULL DEFAULT TRUE;

-- Rows written before this migration take their flag from the stored scope;
-- scope_agents is a JSON array of agent ids.
UPDATE credential_agents ca SET in_scope = FALSE
FROM credentials c
WHERE c.org_id = ca.org_id
  AND c.credential_id = ca.credential_id
  AND c.scope = 'explicit'
  AND NOT (c.scope_agents::jsonb @> jsonb_build_array(ca.agent_id));

-- Finds the newest alert of one (type, subject), open or acknowledged.
CREATE INDEX alerts_type_subject ON alerts (org_id, type, subject, last_seen);

-- Looks up the creator envelope of one credential for one target agent.
CREATE INDEX pending_deliveries_credential
    ON pending_deliveries (org_id, target_agent_id, credential_id);
