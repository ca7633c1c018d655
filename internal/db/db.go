// Package db is the SQLite store: migrations, one file per entity, hand-written SQL,
// and encryption of secrets at rest.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/inboxhealth/inboxhealth/migrations"
)

// ErrNotFound is returned when a row does not exist (or is not visible to the caller).
var ErrNotFound = errors.New("db: not found")

// ErrConflict is returned when a unique value is already taken.
var ErrConflict = errors.New("db: already exists")

// Store is the application's database. SQLite allows one writer at a time, so writes go
// through a single-connection pool (no SQLITE_BUSY storms between our own goroutines)
// while reads use a pool of their own. The queries run on every request are prepared
// once (stmts.go), and the rows every request reads are cached for CacheTTL (cache.go).
type Store struct {
	write  *sql.DB
	read   *sql.DB
	cipher *Cipher
	now    func() time.Time
	st     statements
	c      caches
	// writeObserver is told how long timed writes take (SetWriteObserver).
	writeObserver atomic.Pointer[func(op string, d time.Duration)]
}

// Open opens (creating if needed) the SQLite file at path, applies pending migrations,
// and encrypts secrets with cipher.
func Open(ctx context.Context, path string, cipher *Cipher) (*Store, error) {
	if cipher == nil {
		return nil, errors.New("db: open: a cipher is required")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("db: create data folder: %w", err)
		}
	}
	write, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("db: open writer: %w", err)
	}
	write.SetMaxOpenConns(1)
	read, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("db: open reader: %w", err)
	}
	read.SetMaxOpenConns(8)
	s := &Store{write: write, read: read, cipher: cipher, now: time.Now, c: newCaches(CacheTTL)}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Overwrite what updates and deletes free, where that costs no extra I/O, so stale
	// copies of rows (encrypted tokens and PINs among them) do not linger in pages.
	q.Add("_pragma", "secure_delete(FAST)")
	if writer {
		// BEGIN IMMEDIATE takes the write lock up front, so a read-then-write
		// transaction cannot fail half-way with SQLITE_BUSY.
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// Close finalizes the prepared statements and closes both pools.
func (s *Store) Close() error {
	return errors.Join(s.st.close(), s.write.Close(), s.read.Close())
}

// SetClock replaces the store's clock; tests use it to move time.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("db: ping: %w", err)
	}
	return nil
}

// IntegrityCheck runs SQLite's PRAGMA integrity_check and returns its verdict ("ok").
func (s *Store) IntegrityCheck(ctx context.Context) (string, error) {
	var verdict string
	if err := s.read.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&verdict); err != nil {
		return "", fmt.Errorf("db: integrity check: %w", err)
	}
	return verdict, nil
}

// Migrate applies every embedded migration not applied yet, each in its own transaction.
func (s *Store) Migrate(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("db: migrate: %w", err)
	}
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return fmt.Errorf("db: migrate: list: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := s.applyMigration(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, name string) error {
	body, err := fs.ReadFile(migrations.FS, name)
	if err != nil {
		return fmt.Errorf("db: migrate %s: %w", name, err)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: migrate %s: %w", name, err)
	}
	defer tx.Rollback()
	var applied int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE name = ?", name).Scan(&applied); err != nil {
		return fmt.Errorf("db: migrate %s: %w", name, err)
	}
	if applied > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("db: migrate %s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", name, s.now().UnixMilli()); err != nil {
		return fmt.Errorf("db: migrate %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: migrate %s: %w", name, err)
	}
	return nil
}

func millis(t time.Time) int64 { return t.UTC().UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullableMillis(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return millis(*t)
}

func timePtr(ms sql.NullInt64) *time.Time {
	if !ms.Valid {
		return nil
	}
	t := fromMillis(ms.Int64)
	return &t
}

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
