-- People an administrator manages from the People page and the members API (issue 12).

-- When the person last signed in through the log-in form (NULL: never).
ALTER TABLE users ADD COLUMN last_sign_in_at BIGINT;
-- Set while the password is a one-time password an administrator was shown when adding
-- the person: it works until this time and only to choose a password of their own,
-- which clears it. NULL for a password the person (or the operator's CLI) chose.
ALTER TABLE users ADD COLUMN one_time_password_expires_at BIGINT;

-- An agent's inboxes are read on every request (list, and each inbox page); the
-- primary key (inbox_id, user_id) cannot serve "which inboxes does this user have".
CREATE INDEX inbox_members_user ON inbox_members(user_id, inbox_id);
