-- Scope flag of each credential_agents row on SQLite, and an index for the
-- 24-hour deduplication look-up of alerts.
-- in_scope is 1 while the credential's current statement covers the agent:
-- always under scope auto_all, and under scope explicit only for the agents
-- the statement lists. Flags are 0 or 1, as in 0001.

ALTER TABLE credential_agents ADD COLUMN in_scope INTEGER NOT NULL DEFAULT 1
    CHECK (in_scope IN (0, 1));

-- Rows written before this migration take their flag from the stored scope;
-- scope_agents is a JSON array of agent ids.
UPDATE credential_agents SET in_scope = 0
WHERE EXISTS (
    SELECT 1 FROM credentials c
    WHERE c.org_id = credential_agents.org_id
      AND c.credential_id = credential_agents.credential_id
      AND c.scope = 'explicit'
      AND NOT EXISTS (SELECT 1 FROM json_each(c.scope_agents) listed
                      WHERE listed.value = credential_agents.agent_id));

-- Finds the newest alert of one (type, subject), open or acknowledged.
CREATE INDEX alerts_type_subject ON alerts (org_id, type, subject, last_seen);

-- Looks up the creator envelope of one credential for one target agent.
CREATE INDEX pending_deliveries_credential
    ON pending_deliveries (org_id, target_agent_id, credential_id);
