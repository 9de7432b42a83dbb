-- Finds the creator envelopes of one credential for every target agent.
-- Every upload deletes the envelopes of earlier versions by org and
-- credential, and pending_deliveries_credential, which starts with the target
-- agent, narrows that look-up to the org only. Without this index each upload
-- reads every envelope still waiting in the org, for example the envelopes
-- of an agent that stays offline.

CREATE INDEX pending_deliveries_by_credential
    ON pending_deliveries (org_id, credential_id, version);
