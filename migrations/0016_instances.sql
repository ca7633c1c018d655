-- What several instances sharing one database must agree on (issue 16), kept for
-- SQLite too so both engines have the same schema.

-- The log-in throttle (handlers.NewStoreLoginThrottle): each key (SHA-256 of email and
-- address, of the address, of the email) counts failures that drain away at a steady
-- rate. A single process on SQLite keeps the throttle in memory instead.
CREATE TABLE login_throttle (
    key      TEXT    PRIMARY KEY,
    -- failures outstanding at `at` (Unix ms); one drains every drain_ms
    level    REAL    NOT NULL,
    at       INTEGER NOT NULL,
    drain_ms INTEGER NOT NULL
);
-- Drained keys are deleted by age.
CREATE INDEX login_throttle_at ON login_throttle(at);

-- When a person last had an inbox's health fetched from Meta on demand (the Refresh
-- button, the API): one Graph call per inbox per health.RefreshCooldown, whichever
-- instance the clicks reach.
CREATE TABLE refresh_claims (
    inbox_id INTEGER PRIMARY KEY REFERENCES inboxes(id) ON DELETE CASCADE,
    at       INTEGER NOT NULL
);
