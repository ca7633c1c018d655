-- Inboxes an administrator fixes and adds in bulk (issue 11): the check with Meta made
-- before an inbox is saved, and a log of every change made to an inbox.

-- What came of checking the inbox's token and ids with Meta (a read of the phone-number
-- node and of the business account's numbers):
--   passed   Meta showed the number in the business account with this token;
--   pending  Meta could not be reached when the inbox was saved (or it predates the
--            check): the monitor's next sweep checks it;
--   failed   a later check found a problem (meta_check_problem says which, in plain words).
-- Inboxes stored before this check existed are checked by the next sweep.
ALTER TABLE inboxes ADD COLUMN meta_check TEXT NOT NULL DEFAULT 'pending'
    CHECK (meta_check IN ('passed', 'pending', 'failed'));
ALTER TABLE inboxes ADD COLUMN meta_check_problem TEXT NOT NULL DEFAULT '';
ALTER TABLE inboxes ADD COLUMN meta_checked_at INTEGER;

-- Every change made to an inbox: created, imported, edited, reconnected, PIN given or
-- set anew. Who made it is kept as text too (actor), so the log still reads right when
-- the user is gone. details is JSON [{"field","from","to"}]: values only for fields
-- that are not secret (an access token or a PIN is named, never shown). The log goes
-- with the inbox when it is removed.
CREATE TABLE inbox_changes (
    id            INTEGER PRIMARY KEY,
    inbox_id      INTEGER NOT NULL REFERENCES inboxes(id) ON DELETE CASCADE,
    changed_at    INTEGER NOT NULL,
    -- created | imported | edited | reconnected | pin_provided | pin_reset
    action        TEXT    NOT NULL,
    user_id       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    -- "admin@example.com", or "API token of admin@example.com"
    actor         TEXT    NOT NULL,
    details       TEXT    NOT NULL DEFAULT '[]'
);
-- The Settings tab reads an inbox's newest changes first.
CREATE INDEX inbox_changes_inbox ON inbox_changes(inbox_id, id);
