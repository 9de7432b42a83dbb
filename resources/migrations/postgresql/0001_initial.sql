-- Initial schema of the backend's durable state on PostgreSQL, run by the
-- migration (owner) role. The service role gets its privileges from the
-- backend after the migrations: SELECT and INSERT only on audit_log.
-- Times are Unix epoch milliseconds (UTC) and ids are lowercase UUID text.
-- Every table but schema_migrations has org_id, and every key starts with it.
-- Statements end with a semicolon at the end of a line; a statement whose
-- body holds semicolons sits between "-- statement-begin" and
-- "-- statement-end" lines.

CREATE TABLE orgs (
    org_id      TEXT   NOT NULL PRIMARY KEY,
    name        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Bearer tokens of the console and the CLI. Only SHA-256 of a token is kept.
CREATE TABLE api_tokens (
    org_id      TEXT   NOT NULL REFERENCES orgs (org_id),
    token_id    TEXT   NOT NULL,
    token_hash  BYTEA  NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    role        TEXT   NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
    label       TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    PRIMARY KEY (org_id, token_id)
);

-- Single-use tokens that let a new agent enrol, bound to the agent name the
-- operator expects and valid for at most 24 hours.
CREATE TABLE enrolment_tokens (
    org_id            TEXT   NOT NULL REFERENCES orgs (org_id),
    token_id          TEXT   NOT NULL,
    token_hash        BYTEA  NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    agent_name        TEXT   NOT NULL,
    created_by        TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    used_at           BIGINT,
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
    encryption_key         BYTEA   NOT NULL,
    identity_key           BYTEA   NOT NULL,
    certificate_statement  BYTEA,
    certificate_signature  BYTEA,
    generation             BIGINT  NOT NULL DEFAULT 0 CHECK (generation >= 0),
    expires_at             BIGINT,
    last_seen              BIGINT,
    quarantined            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at             BIGINT  NOT NULL,
    PRIMARY KEY (org_id, agent_id),
    CHECK ((certificate_statement IS NULL) = (certificate_signature IS NULL))
);

-- The current signed statement of each credential, byte for byte. There is
-- no column for a salt or a secret: the backend never receives them.
CREATE TABLE credentials (
    org_id              TEXT   NOT NULL REFERENCES orgs (org_id),
    credential_id       TEXT   NOT NULL,
    name                TEXT   NOT NULL,
    kind                TEXT   NOT NULL,
    version             BIGINT NOT NULL CHECK (version >= 1),
    revision            BIGINT NOT NULL CHECK (revision >= 1),
    statement           BYTEA  NOT NULL,
    signature           BYTEA  NOT NULL,
    statement_sha256    TEXT   NOT NULL,
    commitment          BYTEA,
    commitment_version  INTEGER CHECK (commitment_version = 1),
    scope               TEXT   NOT NULL CHECK (scope IN ('auto_all', 'explicit')),
    scope_agents        TEXT   NOT NULL,
    state               TEXT   NOT NULL CHECK (state IN ('active', 'deleted')),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
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
    secret_stored      BOOLEAN NOT NULL DEFAULT FALSE,
    stored_version     BIGINT,
    stored_revision    BIGINT,
    attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at    BIGINT  NOT NULL,
    last_error         TEXT,
    stalled            BOOLEAN NOT NULL DEFAULT FALSE,
    receipt_statement  BYTEA,
    receipt_signature  BYTEA,
    receipt_at         BIGINT,
    PRIMARY KEY (org_id, credential_id, agent_id),
    FOREIGN KEY (org_id, credential_id) REFERENCES credentials (org_id, credential_id),
    FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, agent_id)
);

CREATE INDEX credential_agents_due ON credential_agents (org_id, stalled, next_attempt_at);

-- Creator envelopes waiting for their target agent to connect.
CREATE TABLE pending_deliveries (
    org_id                 TEXT   NOT NULL,
    delivery_id            TEXT   NOT NULL,
    credential_id          TEXT   NOT NULL,
    version                BIGINT NOT NULL CHECK (version >= 1),
    target_agent_id        TEXT   NOT NULL,
    envelope               TEXT   NOT NULL,
    attestation_statement  BYTEA  NOT NULL,
    attestation_signature  BYTEA  NOT NULL,
    created_at             BIGINT NOT NULL,
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
    started_at              BIGINT  NOT NULL,
    deadline                BIGINT  NOT NULL,
    PRIMARY KEY (org_id, dispatch_id),
    FOREIGN KEY (org_id, credential_id) REFERENCES credentials (org_id, credential_id),
    FOREIGN KEY (org_id, target_agent_id) REFERENCES agents (org_id, agent_id),
    FOREIGN KEY (org_id, peer_agent_id) REFERENCES agents (org_id, agent_id)
);

-- Peers that may not serve a credential until expires_at, after a target
-- attributed an integrity failure to them.
CREATE TABLE peer_blocklist (
    org_id             TEXT   NOT NULL,
    credential_id      TEXT   NOT NULL,
    source_agent_id    TEXT   NOT NULL,
    reporter_agent_id  TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
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
    first_seen       BIGINT  NOT NULL,
    last_seen        BIGINT  NOT NULL,
    count            BIGINT  NOT NULL DEFAULT 1 CHECK (count >= 1),
    acknowledged_at  BIGINT,
    acknowledged_by  TEXT,
    PRIMARY KEY (org_id, alert_id)
);

CREATE UNIQUE INDEX alerts_open ON alerts (org_id, type, subject)
    WHERE acknowledged_at IS NULL;

-- Append-only audit trail, hash-chained per org:
-- row_hash = SHA-256(prev_hash || canonical_json(row without row_hash)),
-- both base64. The backend takes id from the sequence before it hashes the row.
CREATE TABLE audit_log (
    id                 BIGSERIAL NOT NULL PRIMARY KEY,
    org_id             TEXT      NOT NULL REFERENCES orgs (org_id),
    at                 BIGINT    NOT NULL,
    event              TEXT      NOT NULL,
    actor              TEXT      NOT NULL,
    credential_id      TEXT,
    agent_id           TEXT,
    dispatch_audit_id  TEXT,
    outcome            TEXT,
    reason             TEXT,
    details            TEXT,
    prev_hash          TEXT      NOT NULL,
    row_hash           TEXT      NOT NULL
);

CREATE INDEX audit_log_org ON audit_log (org_id, id);

REVOKE ALL ON audit_log FROM PUBLIC;

-- Row triggers reject UPDATE and DELETE; TRUNCATE fires no row trigger, so a
-- statement-level trigger rejects it. Only the table's owner can disable or
-- drop these triggers, and the service role does not own the table.
-- statement-begin
CREATE FUNCTION audit_log_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % rejected', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- statement-end

CREATE TRIGGER audit_log_reject_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_reject_change();

CREATE TRIGGER audit_log_reject_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_reject_change();
