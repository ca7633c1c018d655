-- Alerts (issue 14): where an account's alerts go, what the alert engine last saw of
-- each inbox, the alerts raised, and their deliveries (the outbox and its log).

-- One destination of an account's alerts. The URL (Slack or webhook) and the signing
-- secret are encrypted like access tokens (db.Cipher); label is what pages show
-- (the URL's scheme and host, never its path or query, which carry Slack's secret).
CREATE TABLE alert_destinations (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- email | slack | webhook
    channel    TEXT    NOT NULL CHECK (channel IN ('email', 'slack', 'webhook')),
    label      TEXT    NOT NULL,
    url_enc    BLOB,
    secret_enc BLOB,
    -- email only: JSON array of addresses
    recipients TEXT    NOT NULL DEFAULT '[]',
    -- JSON array of the alert kinds this destination gets
    kinds      TEXT    NOT NULL,
    -- 1: one daily digest of these kinds instead of each alert as it happens
    digest     INTEGER NOT NULL DEFAULT 0,
    -- when the last digest was queued (NULL: none yet)
    digest_sent_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX alert_destinations_account ON alert_destinations(account_id);

-- The alert engine's memory of each inbox: per alert kind, the last value it saw and
-- whether a problem alert is open. A new health reading is compared with this row, so
-- one transition makes one alert however many sweeps repeat it, and a restart alerts
-- nothing twice.
CREATE TABLE alert_conditions (
    inbox_id   INTEGER NOT NULL REFERENCES inboxes(id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    firing     INTEGER NOT NULL DEFAULT 0,
    -- the value before the open problem began (what a recovery returns to)
    ok_value   TEXT    NOT NULL DEFAULT '',
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (inbox_id, kind)
);

-- One alert: a transition, or several of one inbox and kind grouped (count) because
-- they came within an hour of the alert before. state 'held' waits for release_at
-- (more transitions may join it); 'sent' has its deliveries queued.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- an inbox removed takes its alerts with it, like the rest of its history
    inbox_id    INTEGER REFERENCES inboxes(id) ON DELETE CASCADE,
    inbox_name  TEXT    NOT NULL DEFAULT '',
    phone_number TEXT   NOT NULL DEFAULT '',
    kind        TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    from_value  TEXT    NOT NULL DEFAULT '',
    to_value    TEXT    NOT NULL DEFAULT '',
    reason      TEXT    NOT NULL DEFAULT '',
    remedy      TEXT    NOT NULL DEFAULT '',
    occurred_at INTEGER NOT NULL,
    count       INTEGER NOT NULL DEFAULT 1,
    state       TEXT    NOT NULL CHECK (state IN ('held', 'sent')),
    release_at  INTEGER,
    sent_at     INTEGER,
    -- a "Send test alert" or a daily digest: delivered to this destination only
    only_destination_id INTEGER REFERENCES alert_destinations(id) ON DELETE CASCADE
);
CREATE INDEX alerts_account_time ON alerts(account_id, occurred_at);
CREATE INDEX alerts_inbox_kind ON alerts(inbox_id, kind, id);
CREATE INDEX alerts_held ON alerts(release_at) WHERE state = 'held';

-- The outbox: one row per alert and destination. A pending row is retried with
-- backoff until next_attempt_at passes a day after created_at; it survives restarts.
CREATE TABLE alert_deliveries (
    id              INTEGER PRIMARY KEY,
    alert_id        INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    destination_id  INTEGER NOT NULL REFERENCES alert_destinations(id) ON DELETE CASCADE,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_attempt_at INTEGER,
    last_detail     TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL
);
CREATE INDEX alert_deliveries_due ON alert_deliveries(next_attempt_at) WHERE state = 'pending';
CREATE INDEX alert_deliveries_alert ON alert_deliveries(alert_id);

-- The delivery log: every attempt, with the HTTP status or SMTP reply.
CREATE TABLE alert_delivery_attempts (
    id           INTEGER PRIMARY KEY,
    delivery_id  INTEGER NOT NULL REFERENCES alert_deliveries(id) ON DELETE CASCADE,
    attempted_at INTEGER NOT NULL,
    -- delivered | failed (will retry) | gave_up
    outcome      TEXT    NOT NULL,
    detail       TEXT    NOT NULL
);
CREATE INDEX alert_delivery_attempts_delivery ON alert_delivery_attempts(delivery_id, id);
