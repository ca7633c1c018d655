package db

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// The log-in throttle's counters, for instances that share the database
// (handlers.NewStoreLoginThrottle): per key, failures outstanding (Level) as of At,
// one draining away every Drain.

// ThrottleCount is one key's failures outstanding at At.
type ThrottleCount struct {
	Level float64
	At    time.Time
	Drain time.Duration
}

// ThrottleCounts reads the counts of keys (keys never counted are left out).
func (s *Store) ThrottleCounts(ctx context.Context, keys []string) (map[string]ThrottleCount, error) {
	out := make(map[string]ThrottleCount, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := s.read.QueryContext(ctx, `SELECT key, level, at, drain_ms FROM login_throttle WHERE key IN (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", ")+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("db: throttle counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var c ThrottleCount
		var at, drain int64
		if err := rows.Scan(&key, &c.Level, &at, &drain); err != nil {
			return nil, fmt.Errorf("db: throttle counts: %w", err)
		}
		c.At, c.Drain = fromMillis(at), time.Duration(drain)*time.Millisecond
		out[key] = c
	}
	return out, rows.Err()
}

// qThrottleFail adds one failure to a key: what drained since At goes first (never
// below none), in the statement itself, so failures counted at once by several
// instances all count.
const qThrottleFail = `INSERT INTO login_throttle (key, level, at, drain_ms) VALUES (?, 1, ?, ?)
	ON CONFLICT (key) DO UPDATE SET
		level = CASE WHEN login_throttle.level - (excluded.at - login_throttle.at) * 1.0 / login_throttle.drain_ms > 0
			THEN login_throttle.level - (excluded.at - login_throttle.at) * 1.0 / login_throttle.drain_ms ELSE 0 END + 1,
		at = excluded.at, drain_ms = excluded.drain_ms`

// throttleFails counts ThrottleFail calls, to prune drained keys every so often.
var throttleFails atomic.Int64

// ThrottleFail counts one failure against each key (key → its drain interval) at now.
// Every 256th call also deletes keys that have drained completely.
func (s *Store) ThrottleFail(ctx context.Context, now time.Time, keys map[string]time.Duration) error {
	for key, drain := range keys {
		if _, err := s.write.ExecContext(ctx, qThrottleFail, key, millis(now), drain.Milliseconds()); err != nil {
			return fmt.Errorf("db: throttle fail: %w", err)
		}
	}
	if throttleFails.Add(1)%256 == 0 {
		if _, err := s.write.ExecContext(ctx, `DELETE FROM login_throttle WHERE at < ? AND level - (? - at) * 1.0 / drain_ms <= 0`,
			millis(now.Add(-time.Minute)), millis(now)); err != nil {
			return fmt.Errorf("db: throttle prune: %w", err)
		}
	}
	return nil
}

// ThrottleForget deletes a key's count (a log-in succeeded).
func (s *Store) ThrottleForget(ctx context.Context, key string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM login_throttle WHERE key = ?`, key); err != nil {
		return fmt.Errorf("db: throttle forget: %w", err)
	}
	return nil
}

// ClaimRefresh records that this process fetches the inbox's health from Meta on
// demand at now, unless one was claimed (by any instance) less than cooldown ago:
// then it returns false and the caller answers with the newest stored snapshot.
func (s *Store) ClaimRefresh(ctx context.Context, inboxID int64, now time.Time, cooldown time.Duration) (bool, error) {
	res, err := s.write.ExecContext(ctx, `INSERT INTO refresh_claims (inbox_id, at) VALUES (?, ?)
		ON CONFLICT (inbox_id) DO UPDATE SET at = excluded.at WHERE refresh_claims.at <= ?`,
		inboxID, millis(now), millis(now.Add(-cooldown)))
	if err != nil {
		return false, fmt.Errorf("db: claim refresh: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("db: claim refresh: %w", err)
	}
	return n == 1, nil
}
