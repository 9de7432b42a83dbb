-- Last status each backend replica reported: which coordination store its
-- operations go to and whether that is a fallback. Replicas rewrite their
-- row every few seconds, so the system status route can list all of them.
-- Times are milliseconds since the epoch, as in 0001.

CREATE TABLE replica_status (
    replica_id    TEXT    NOT NULL PRIMARY KEY,
    coordination  TEXT    NOT NULL,
    degraded      BOOLEAN NOT NULL,
    usable        BOOLEAN NOT NULL,
    detail        TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    started_at    BIGINT  NOT NULL,
    seen_at       BIGINT  NOT NULL
);

-- Coordination store of several replicas while Redis is down (PostgresStore).
-- The service role cannot create tables, so they are made here; the store
-- creates them itself only where they are missing and its role may. Times
-- come from the database's clock, shared by every replica.

CREATE TABLE coordination_values (
    key         TEXT        NOT NULL PRIMARY KEY,
    value       BYTEA       NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE coordination_window_keys (
    key         TEXT        NOT NULL PRIMARY KEY,
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE coordination_window_events (
    key          TEXT        NOT NULL,
    member       BYTEA       NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (key, member)
);

CREATE INDEX coordination_window_events_time
    ON coordination_window_events (key, recorded_at);

CREATE TABLE coordination_set_members (
    key         TEXT        NOT NULL,
    member      BYTEA       NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (key, member)
);

CREATE TABLE coordination_messages (
    id          BIGSERIAL   PRIMARY KEY,
    channel     TEXT        NOT NULL,
    payload     BYTEA       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX coordination_messages_created ON coordination_messages (created_at);
