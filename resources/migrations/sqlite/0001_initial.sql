-- Initial schema of the backend's durable state on SQLite.
-- Times are Unix epoch milliseconds (UTC), ids are lowercase UUID text and
-- flags are 0 or 1. Every table but schema_migrations has org_id, and every
-- key starts with it.
-- Statements end with a semicolon at the end of a line; a statement whose
-- body holds semicolons sits between "-- statement-begin" and
-- "-- statement-end" lines.

CREATE TABLE orgs (
    org_id      TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Bearer tokens of the console and the CLI. Only SHA-256 of a token is kept.
CREATE TABLE api_tokens (
    org_id      TEXT    NOT NULL REFERENCES orgs (org_id),
    token_id    TEXT    NOT NULL,
    token_hash  BLOB    NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    role        TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
    label       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    PRIMARY KEY (org_id, token_id)
);

-- Single-use tokens that let a new agent enrol, bound to the agent name the
-- operator expects and valid for at most 24 hours.
CREATE TABLE enrolment_tokens (
    org_id            TEXT    NOT NULL REFERENCES orgs (org_id),
    token_id          TEXT    NOT NULL,
    token_hash        BLOB    NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    agent_name        TEXT    NOT NULL,
    created_by        TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    used_at           INTEGER,
    used_by_agent_id  TEXT,
    PRIMARY KEY (org_id, token_id),
    CHECK (expires_at > created_at AND expires_at <= created_at + 86400000)
);

-- encryption_key is the SPKI DER of the agent's RSA key, identity_key the raw
-- 32-byte Ed25519 public key. generation is 0 until the first certificate.
CREATE TABLE agents (
    org_id                 TEXT    NOT NULL REFERENCES orgs (org_id),
    agent_id               TEXT    NOT NULL,
    name                   TEXT    NOT NULL,
    status                 TEXT    NOT NULL
                           CHECK (status IN ('pending_approval', 'approved', 'revoked')),
    encryption_key         BLOB    NOT NULL,
    identity_key           BLOB    NOT NULL,
    certificate_statement  BLOB,
    certificate_signature  BLOB,
    generation             INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
    expires_at             INTEGER,
    last_seen              INTEGER,
    quarantined            INTEGER NOT NULL DEFAULT 0 CHECK (quarantined IN (0, 1)),
    created_at             INTEGER NOT NULL,
    PRIMARY KEY (org_id, agent_id),
    CHECK ((certificate_statement IS NULL) = (certificate_signature IS NULL))
);

-- The current signed statement of each credential, byte for byte. There is
-- no column for a salt or a secret: the backend never receives them.
CREATE TABLE credentials (
    org_id              TEXT    NOT NULL REFERENCES orgs (org_id),
    credential_id       TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    version             INTEGER NOT NULL CHECK (version >= 1),
    revision            INTEGER NOT NULL CHECK (revision >= 1),
    statement           BLOB    NOT NULL,
    signature           BLOB    NOT NULL,
    statement_sha256    TEXT    NOT NULL,
    commitment          BLOB,
    commitment_version  INTEGER CHECK (commitment_version = 1),
    scope               TEXT    NOT NULL CHECK (scope IN ('auto_all', 'explicit')),
    scope_agents        TEXT    NOT NULL,
    state               TEXT    NOT NULL CHECK (state IN ('active', 'deleted')),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (org_id, credential_id),
    CHECK ((commitment IS NULL) = (commitment_version IS NULL))
);

CREATE UNIQUE INDEX credentials_active_name ON credentials (org_id, name)
    WHERE state = 'active';

-- Delivery state of one credential on one agent, with the agent's latest
-- signed receipt.
CREATE TABLE credential_agents (
    org_id             TEXT    NOT NULL,
    credential_id      TEXT    NOT NULL,
    agent_id           TEXT    NOT NULL,
    secret_stored      INTEGER NOT NULL DEFAULT 0 CHECK (secret_stored IN (0, 1)),
    stored_version     INTEGER,
    stored_revision    INTEGER,
    attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at    INTEGER NOT NULL,
    last_error         TEXT,
    stalled            INTEGER NOT NULL DEFAULT 0 CHECK (stalled IN (0, 1)),
    receipt_statement  BLOB,
    receipt_signature  BLOB,
    receipt_at         INTEGER,
    PRIMARY KEY (org_id, credential_id, agent_id),
    FOREIGN KEY (org_id, credential_id) REFERENCES credentials (org_id, credential_id),
    FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, agent_id)
);

CREATE INDEX credential_agents_due ON credential_agents (org_id, stalled, next_attempt_at);

-- Creator envelopes waiting for their target agent to connect.
CREATE TABLE pending_deliveries (
    org_id                 TEXT    NOT NULL,
    delivery_id            TEXT    NOT NULL,
    credential_id          TEXT    NOT NULL,
    version                INTEGER NOT NULL CHECK (version >= 1),
    target_agent_id        TEXT    NOT NULL,
    envelope               TEXT    NOT NULL,
    attestation_statement  BLOB    NOT NULL,
    attestation_signature  BLOB    NOT NULL,
    created_at             INTEGER NOT NULL,
    PRIMARY KEY (org_id, delivery_id),
    FOREIGN KEY (org_id, credential_id) REFERENCES credentials (org_id, credential_id),
    FOREIGN KEY (org_id, target_agent_id) REFERENCES agents (org_id, agent_id)
);

CREATE INDEX pending_deliveries_target ON pending_deliveries (org_id, target_agent_id, created_at);

-- Rewrap requests sent to a peer and not yet answered. dispatch_id is the
-- request_id of the rewrap_request.
CREATE TABLE pending_dispatches (
    org_id                  TEXT    NOT NULL,
    dispatch_id             TEXT    NOT NULL,
    credential_id           TEXT    NOT NULL,
    target_agent_id         TEXT    NOT NULL,
    peer_agent_id           TEXT    NOT NULL,
    attempt                 INTEGER NOT NULL CHECK (attempt >= 0),
    originating_replica_id  TEXT    NOT NULL,
    dispatch_audit_id       TEXT    NOT NULL,
    started_at              INTEGER NOT NULL,
    deadline                INTEGER NOT NULL,
    PRIMARY KEY (org_id, dispatch_id),
    FOREIGN KEY (org_id, credential_id) REFERENCES credentials (org_id, credential_id),
    FOREIGN KEY (org_id, target_agent_id) REFERENCES agents (org_id, agent_id),
    FOREIGN KEY (org_id, peer_agent_id) REFERENCES agents (org_id, agent_id)
);

-- Peers that may not serve a credential until expires_at, after a target
-- attributed an integrity failure to them.
CREATE TABLE peer_blocklist (
    org_id             TEXT    NOT NULL,
    credential_id      TEXT    NOT NULL,
    source_agent_id    TEXT    NOT NULL,
    reporter_agent_id  TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    PRIMARY KEY (org_id, credential_id, source_agent_id),
    FOREIGN KEY (org_id, credential_id) REFERENCES credentials (org_id, credential_id)
);

-- At most one open (unacknowledged) alert per (type, subject); raising it
-- again bumps count and last_seen.
CREATE TABLE alerts (
    org_id           TEXT    NOT NULL REFERENCES orgs (org_id),
    alert_id         TEXT    NOT NULL,
    type             TEXT    NOT NULL,
    severity         TEXT    NOT NULL CHECK (severity IN ('medium', 'high', 'critical')),
    subject          TEXT    NOT NULL,
    details          TEXT,
    first_seen       INTEGER NOT NULL,
    last_seen        INTEGER NOT NULL,
    count            INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),
    acknowledged_at  INTEGER,
    acknowledged_by  TEXT,
    PRIMARY KEY (org_id, alert_id)
);

CREATE UNIQUE INDEX alerts_open ON alerts (org_id, type, subject)
    WHERE acknowledged_at IS NULL;

-- Append-only audit trail, hash-chained per org:
-- row_hash = SHA-256(prev_hash || canonical_json(row without row_hash)),
-- both base64. The backend assigns id itself inside the write transaction.
CREATE TABLE audit_log (
    id                 INTEGER NOT NULL PRIMARY KEY,
    org_id             TEXT    NOT NULL REFERENCES orgs (org_id),
    at                 INTEGER NOT NULL,
    event              TEXT    NOT NULL,
    actor              TEXT    NOT NULL,
    credential_id      TEXT,
    agent_id           TEXT,
    dispatch_audit_id  TEXT,
    outcome            TEXT,
    reason             TEXT,
    details            TEXT,
    prev_hash          TEXT    NOT NULL,
    row_hash           TEXT    NOT NULL
);

CREATE INDEX audit_log_org ON audit_log (org_id, id);

-- The triggers reject every change to a stored row. INSERT OR REPLACE deletes
-- the old row first, which fires audit_log_reject_delete only on connections
-- with PRAGMA recursive_triggers=ON, so audit_log_reject_replace also rejects
-- an insert whose id is taken.
-- statement-begin
CREATE TRIGGER audit_log_reject_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE rejected');
END;
-- statement-end

-- statement-begin
CREATE TRIGGER audit_log_reject_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE rejected');
END;
-- statement-end

-- statement-begin
CREATE TRIGGER audit_log_reject_replace BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: replacing a row rejected');
END;
-- statement-end
