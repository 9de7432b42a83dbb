-- Last status each backend replica reported: which coordination store its
-- operations go to and whether that is a fallback. Replicas rewrite their
-- row every few seconds, so the system status route can list all of them.
-- Times are milliseconds since the epoch, as in 0001; flags are 0 or 1.

CREATE TABLE replica_status (
    replica_id    TEXT    NOT NULL PRIMARY KEY,
    coordination  TEXT    NOT NULL,
    degraded      INTEGER NOT NULL CHECK (degraded IN (0, 1)),
    usable        INTEGER NOT NULL CHECK (usable IN (0, 1)),
    detail        TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    started_at    INTEGER NOT NULL,
    seen_at       INTEGER NOT NULL
);
