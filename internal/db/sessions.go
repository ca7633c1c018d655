package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Session lifetimes: the one place they are decided. The session cookie's Max-Age is
// what is left of SessionLifetime, and ResumeSession refuses a session past either.
const (
	// SessionLifetime is the longest a log-in lasts, however active (absolute timeout).
	SessionLifetime = 7 * 24 * time.Hour
	// SessionIdleTimeout ends a session nobody used for this long.
	SessionIdleTimeout = 12 * time.Hour
	// sessionTouchEvery is how stale last_seen_at may get before a request writes it
	// again: idle time is measured to this precision, and at most one write a minute
	// per session is spent on it.
	sessionTouchEvery = time.Minute
)

// Session is one log-in of a user in one browser.
type Session struct {
	ID         int64
	UserID     int64
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// ExpiresAt is when the session ends if it stays in use: its absolute end.
func (s Session) ExpiresAt() time.Time { return s.CreatedAt.Add(SessionLifetime) }

// live reports whether the session may still be used at now.
func (s Session) live(now time.Time) bool {
	return now.Before(s.ExpiresAt()) && now.Sub(s.LastSeenAt) < SessionIdleTimeout
}

// CreateSession starts a session for the user and returns its token, which only the
// cookie holds (the database keeps its hash). Sessions past their lifetime are deleted
// on the way, so the table does not grow with abandoned log-ins.
func (s *Store) CreateSession(ctx context.Context, userID int64) (token string, sess Session, err error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Session{}, fmt.Errorf("db: create session: %w", err)
	}
	token = hex.EncodeToString(raw)
	now := s.now().UTC()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return "", Session{}, fmt.Errorf("db: create session: %w", err)
	}
	defer tx.Rollback()
	if err := deleteExpiredSessions(ctx, tx, now); err != nil {
		return "", Session{}, err
	}
	sess = Session{UserID: userID, CreatedAt: now, LastSeenAt: now}
	if err := tx.QueryRowContext(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at)
		VALUES (?, ?, ?, ?) RETURNING id`, hashToken(token), userID, millis(now), millis(now)).Scan(&sess.ID); err != nil {
		return "", Session{}, fmt.Errorf("db: create session: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", Session{}, fmt.Errorf("db: create session: %w", err)
	}
	return token, sess, nil
}

func deleteExpiredSessions(ctx context.Context, tx *sql.Tx, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE created_at <= ? OR last_seen_at <= ?`,
		millis(now.Add(-SessionLifetime)), millis(now.Add(-SessionIdleTimeout))); err != nil {
		return fmt.Errorf("db: delete expired sessions: %w", err)
	}
	return nil
}

const qSessionByToken = `SELECT id, user_id, created_at, last_seen_at FROM sessions WHERE token_hash = ?`

// ResumeSession returns the live session of a cookie's token and records that it was
// used (to the minute), or ErrNotFound when the session ended: logged out, signed out
// everywhere, password changed, idle for SessionIdleTimeout or older than
// SessionLifetime. It always reads the database, so a session ended by another process
// ends here at once too.
func (s *Store) ResumeSession(ctx context.Context, token string) (Session, error) {
	if token == "" {
		return Session{}, ErrNotFound
	}
	var sess Session
	var created, seen int64
	err := s.st.sessionByToken.QueryRowContext(ctx, hashToken(token)).Scan(&sess.ID, &sess.UserID, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("db: resume session: %w", err)
	}
	sess.CreatedAt, sess.LastSeenAt = fromMillis(created), fromMillis(seen)
	now := s.now().UTC()
	if !sess.live(now) {
		if err := s.DeleteSession(ctx, token); err != nil {
			return Session{}, err
		}
		return Session{}, ErrNotFound
	}
	if now.Sub(sess.LastSeenAt) >= sessionTouchEvery {
		if _, err := s.write.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, millis(now), sess.ID); err != nil {
			return Session{}, fmt.Errorf("db: resume session: %w", err)
		}
		sess.LastSeenAt = now
	}
	return sess, nil
}

// DeleteSession ends one session (logout). Ending one that is gone already is no error.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, hashToken(token)); err != nil {
		return fmt.Errorf("db: delete session: %w", err)
	}
	return nil
}

// qEndUserSessions ends every session of one user; password changes run it inside
// their own transaction, so the old cookie stops working with the old password.
const qEndUserSessions = `DELETE FROM sessions WHERE user_id = ?`

// EndUserSessions ends every session of the user ("sign out everywhere", a password
// change, removal from an account) and says how many there were.
func (s *Store) EndUserSessions(ctx context.Context, userID int64) (int, error) {
	res, err := s.write.ExecContext(ctx, qEndUserSessions, userID)
	if err != nil {
		return 0, fmt.Errorf("db: end sessions of user %d: %w", userID, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// CountUserSessions counts the user's live sessions.
func (s *Store) CountUserSessions(ctx context.Context, userID int64) (int, error) {
	now := s.now().UTC()
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE user_id = ? AND created_at > ? AND last_seen_at > ?`,
		userID, millis(now.Add(-SessionLifetime)), millis(now.Add(-SessionIdleTimeout))).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count sessions: %w", err)
	}
	return n, nil
}
