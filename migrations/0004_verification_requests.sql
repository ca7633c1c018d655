-- Requests for a verification code (POST /{phone-number-id}/request_code), per inbox
-- (issue 17). Each sends a real SMS or call, so the app allows one a minute and five an
-- hour per number, counted here so every process and restart agrees. The code itself is
-- never stored.
CREATE TABLE verification_requests (
    id           INTEGER PRIMARY KEY,
    inbox_id     INTEGER NOT NULL REFERENCES inboxes(id) ON DELETE CASCADE,
    user_id      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    -- SMS | VOICE
    method       TEXT    NOT NULL,
    language     TEXT    NOT NULL,
    requested_at INTEGER NOT NULL,
    -- sent | failed
    outcome      TEXT    NOT NULL,
    error_kind   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX verification_requests_inbox_time ON verification_requests(inbox_id, requested_at);
