-- Server-side sessions (issue 12). The session cookie carries a random token; only its
-- SHA-256 is stored, so a copy of the database cannot be replayed as a log-in. A
-- session ends when its row goes: logout deletes it, "sign out everywhere" and a
-- password change delete the user's rows, and every request checks the row.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_last_seen ON sessions(last_seen_at);

-- Server-wide values. `secret_check` holds a known marker encrypted with the at-rest
-- key at first start, so a different SECRET_KEY is told at start instead of failing
-- later on every stored token.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
