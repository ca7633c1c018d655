package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"
)

// Leadership is one process's claim to run a job that must run on one instance at a
// time (the health monitor's sweeps): with several instances on one PostgreSQL
// database, the holder of a session-level advisory lock (pg_try_advisory_lock) on a
// connection of its own. The lock lives as long as that connection: a leader that
// dies, is killed or loses the server loses it with its session, and the next Check of
// another instance takes it. On SQLite, one file serves one process's monitor, so every
// Check leads.
type Leadership struct {
	s    *Store
	name string
	key  int64

	mu   sync.Mutex
	conn *sql.Conn // holds the lock while leading; nil otherwise
}

// Leadership returns the claim named name (one lock per name and database).
func (s *Store) Leadership(name string) *Leadership {
	return &Leadership{s: s, name: name, key: s.advisoryKey("leader:" + name)}
}

// Check reports whether this process leads now, taking the lock if it is free. Run it
// before each round of the job: a leader whose connection broke finds out here (and
// stops leading), a follower takes over here once the leader is gone.
func (l *Leadership) Check(ctx context.Context) (bool, error) {
	if !l.s.postgres() {
		return true, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		// Still leading while the session that holds the lock answers.
		if err := l.conn.PingContext(ctx); err == nil {
			return true, nil
		}
		l.dropLocked()
	}
	conn, err := l.s.write.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("db: leadership %s: %w", l.name, err)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(?)`, l.key).Scan(&got); err != nil {
		conn.Close()
		return false, fmt.Errorf("db: leadership %s: %w", l.name, err)
	}
	if !got {
		conn.Close()
		return false, nil
	}
	l.conn = conn
	return true, nil
}

// Release gives the lead up (at shutdown), so another instance takes over at its next
// Check instead of when this process's connection goes.
func (l *Leadership) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(?)`, l.key)
		l.dropLocked()
	}
}

// dropLocked ends the lock's connection. It is closed for good rather than given back
// to the pool: should the unlock not have reached the server, a session still holding
// the lock must not be lent to other work.
func (l *Leadership) dropLocked() {
	l.conn.Raw(func(any) error { return driver.ErrBadConn }) // database/sql discards it
	l.conn.Close()
	l.conn = nil
}
