-- Times are Unix milliseconds (UTC) in INTEGER columns: sortable, unambiguous.

CREATE TABLE accounts (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    email          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash  TEXT    NOT NULL,
    -- SHA-256 of the API access token, hex: tokens are high-entropy, so a fast hash is enough.
    api_token_hash TEXT    NOT NULL UNIQUE,
    created_at     INTEGER NOT NULL
);

CREATE TABLE account_users (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('administrator', 'agent')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX account_users_user ON account_users(user_id);

CREATE TABLE inboxes (
    id                   INTEGER PRIMARY KEY,
    account_id           INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name                 TEXT    NOT NULL,
    -- E.164: '+' and digits; webhooks are routed by it.
    phone_number         TEXT    NOT NULL UNIQUE,
    phone_number_id      TEXT    NOT NULL UNIQUE,
    waba_id              TEXT    NOT NULL,
    business_id          TEXT    NOT NULL DEFAULT '',
    access_token_enc     BLOB    NOT NULL,
    webhook_verify_token TEXT    NOT NULL,
    -- Two-step verification PIN, encrypted; NULL until one is made or given.
    pin_enc              BLOB,
    -- none | generated (made by us, stored before Meta saw it) | provided (typed by an
    -- administrator) | confirmed (Meta accepted it) | mismatch (Meta holds another PIN)
    pin_state            TEXT    NOT NULL DEFAULT 'none',
    registration_next_retry_at INTEGER,
    registration_backoff_step  INTEGER NOT NULL DEFAULT 0,
    webhook_subscribed_at      INTEGER,
    webhook_subscription_error TEXT    NOT NULL DEFAULT '',
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE INDEX inboxes_account ON inboxes(account_id);
CREATE INDEX inboxes_waba ON inboxes(waba_id);

CREATE TABLE inbox_members (
    inbox_id INTEGER NOT NULL REFERENCES inboxes(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (inbox_id, user_id)
);

CREATE TABLE health_snapshots (
    id             INTEGER PRIMARY KEY,
    inbox_id       INTEGER NOT NULL REFERENCES inboxes(id) ON DELETE CASCADE,
    checked_at     INTEGER NOT NULL,
    -- 1 when the fetch succeeded; a failed fetch keeps the last good data in `phone`.
    ok             INTEGER NOT NULL,
    -- JSON of the phone-number node (whatsapp.PhoneNumber); NULL if never fetched.
    phone          TEXT,
    -- JSON of the business account's health_status, when fetched.
    business_health TEXT,
    error_kind     TEXT    NOT NULL DEFAULT '',
    error_code     INTEGER NOT NULL DEFAULT 0,
    error_subcode  INTEGER NOT NULL DEFAULT 0,
    error_message  TEXT    NOT NULL DEFAULT '',
    -- Copied out of `phone` so the change history is a plain query.
    status         TEXT    NOT NULL DEFAULT '',
    quality_rating TEXT    NOT NULL DEFAULT '',
    name_status    TEXT    NOT NULL DEFAULT '',
    limit_tier     TEXT    NOT NULL DEFAULT '',
    overall_status TEXT    NOT NULL DEFAULT '',
    registration_state TEXT NOT NULL DEFAULT '',
    -- what produced it: fetch | sweep | webhook | registration
    source         TEXT    NOT NULL DEFAULT 'fetch'
);
CREATE INDEX health_snapshots_inbox_time ON health_snapshots(inbox_id, checked_at DESC);

CREATE TABLE registration_attempts (
    id            INTEGER PRIMARY KEY,
    inbox_id      INTEGER NOT NULL REFERENCES inboxes(id) ON DELETE CASCADE,
    -- banner | api | automatic | webhook | setup
    trigger       TEXT    NOT NULL,
    user_id       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    -- in_flight | registered | failed | interrupted
    outcome       TEXT    NOT NULL DEFAULT 'in_flight',
    -- 1 when the register call was sent to Meta (it counts against 10 per 72 h).
    graph_called  INTEGER NOT NULL DEFAULT 0,
    error_kind    TEXT    NOT NULL DEFAULT '',
    graph_code    INTEGER NOT NULL DEFAULT 0,
    graph_subcode INTEGER NOT NULL DEFAULT 0,
    message       TEXT    NOT NULL DEFAULT '',
    duration_ms   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX registration_attempts_inbox_time ON registration_attempts(inbox_id, started_at DESC);

-- One registration in flight per inbox, across goroutines and processes.
CREATE TABLE registration_leases (
    inbox_id   INTEGER PRIMARY KEY REFERENCES inboxes(id) ON DELETE CASCADE,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE webhook_events (
    id           INTEGER PRIMARY KEY,
    inbox_id     INTEGER REFERENCES inboxes(id) ON DELETE SET NULL,
    phone_number TEXT    NOT NULL,
    waba_id      TEXT    NOT NULL DEFAULT '',
    field        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    received_at  INTEGER NOT NULL
);
CREATE INDEX webhook_events_inbox ON webhook_events(inbox_id, received_at DESC);
