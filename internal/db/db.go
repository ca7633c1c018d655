// Package db is the store, on SQLite (one file, the default) or PostgreSQL (several
// instances, one server): migrations, one file per entity, hand-written SQL, and
// encryption of secrets at rest. dialect.go says how one set of queries runs on both.
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

	"golang.org/x/crypto/bcrypt"
	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

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
//
// On PostgreSQL read and write are one pool (the server handles concurrent writers) and
// several processes may share the database: what must hold across them is in the
// database (row locks, advisory locks; see LeaderLock), and the caches are short-lived.
type Store struct {
	engine Engine
	write  *sql.DB
	read   *sql.DB
	// lockSpace tells this database's (and schema's) advisory locks from those of
	// another database on the same server (PostgreSQL only; see advisoryKey).
	lockSpace string
	cipher    *Cipher
	now       func() time.Time
	st        statements
	c         caches
	// passwordCost and dummyHash: see SetPasswordCost.
	passwordCost int
	dummyHash    []byte
	// writeObserver is told how long timed writes take (SetWriteObserver).
	writeObserver atomic.Pointer[func(op string, d time.Duration)]
	// events groups concurrent webhook events into one transaction (registrations.go).
	events eventBatch
}

// Open opens the database, applies pending migrations, and encrypts secrets with
// cipher. path is an SQLite file (created if needed) or a PostgreSQL URL
// (postgres://user:password@host:port/dbname?sslmode=...; IsPostgresURL).
func Open(ctx context.Context, path string, cipher *Cipher) (*Store, error) {
	if cipher == nil {
		return nil, errors.New("db: open: a cipher is required")
	}
	if IsPostgresURL(path) {
		pool, err := openPostgres(path, PostgresMaxConns)
		if err != nil {
			return nil, err
		}
		s := &Store{engine: EnginePostgres, write: pool, read: pool, cipher: cipher, now: time.Now,
			c: newCaches(CacheTTL), passwordCost: bcrypt.DefaultCost, dummyHash: defaultDummyHash}
		if err := pool.PingContext(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("db: connect to %s: %w", RedactURL(path), err)
		}
		if err := s.read.QueryRowContext(ctx, `SELECT current_database() || '.' || current_schema()`).Scan(&s.lockSpace); err != nil {
			pool.Close()
			return nil, fmt.Errorf("db: connect to %s: %w", RedactURL(path), err)
		}
		return s.finishOpen(ctx)
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
	if err := connectWhenNotBusy(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("db: open %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("db: open reader: %w", err)
	}
	// Every reader stays open once made: database/sql keeps only 2 idle connections by
	// default, so under load the other 6 were closed after each query and reopened for
	// the next, and each new SQLite connection parses the whole schema and its
	// statistics again (make bench's profile: most of a webhook's CPU went there).
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	s := &Store{engine: EngineSQLite, write: write, read: read, cipher: cipher, now: time.Now, c: newCaches(CacheTTL),
		passwordCost: bcrypt.DefaultCost, dummyHash: defaultDummyHash}
	return s.finishOpen(ctx)
}

// readConns is the number of SQLite reader connections: WAL lets them read while the
// one writer writes.
const readConns = 8

// PostgresMaxConns bounds the connections one process opens to PostgreSQL: one pool,
// of which Leadership keeps one while this process leads the monitor. Several
// instances share the server's max_connections (100 by default).
var PostgresMaxConns = 16

// finishOpen migrates and checks a freshly opened store.
func (s *Store) finishOpen(ctx context.Context) (*Store, error) {
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.syncHealthSeverity(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.checkSecretKey(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ErrWrongSecretKey is returned by Open when the cipher's key is not the one the
// database's secrets were encrypted with.
var ErrWrongSecretKey = errors.New("db: the secret key does not match the key this database was created with")

const (
	settingSecretCheck = "secret_check"
	secretCheckMarker  = "inboxhealth/secret-check/v1"
)

// checkSecretKey compares the cipher with the check value stored at the first start (a
// known marker, encrypted), so a changed SECRET_KEY is refused at start with one clear
// error instead of failing later on every stored token and PIN. A database from before
// the check value existed is checked against one of its stored tokens instead, then
// given the check value.
func (s *Store) checkSecretKey(ctx context.Context) error {
	var sealed []byte
	err := s.read.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, settingSecretCheck).Scan(&sealed)
	switch {
	case err == nil:
		if plain, err := s.cipher.Decrypt(sealed); err != nil || plain != secretCheckMarker {
			return ErrWrongSecretKey
		}
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("db: read secret check: %w", err)
	}
	var token []byte
	err = s.read.QueryRowContext(ctx, `SELECT access_token_enc FROM inboxes ORDER BY id LIMIT 1`).Scan(&token)
	switch {
	case err == nil:
		if _, err := s.cipher.Decrypt(token); err != nil {
			return ErrWrongSecretKey
		}
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("db: read secret check: %w", err)
	}
	sealed, err = s.cipher.Encrypt(secretCheckMarker)
	if err != nil {
		return err
	}
	res, err := s.write.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING`,
		settingSecretCheck, sealed)
	if err != nil {
		return fmt.Errorf("db: store secret check: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return s.checkSecretKey(ctx) // another process stored its own first: compare with it
	}
	return nil
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
	if s.read == s.write {
		return errors.Join(s.st.close(), s.write.Close())
	}
	return errors.Join(s.st.close(), s.write.Close(), s.read.Close())
}

// Engine says which database the store runs on.
func (s *Store) Engine() Engine { return s.engine }

func (s *Store) postgres() bool { return s.engine == EnginePostgres }

// pragma runs an SQLite PRAGMA on the connection of ex; PostgreSQL has none of them,
// and what they do (secure_delete, wal_checkpoint) is the server's business there.
func (s *Store) pragma(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, pragma string) error {
	if s.postgres() {
		return nil
	}
	_, err := ex.ExecContext(ctx, "PRAGMA "+pragma)
	return err
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
// On PostgreSQL, which checks its own pages (amcheck, data checksums), it says "ok"
// when the server answers.
func (s *Store) IntegrityCheck(ctx context.Context) (string, error) {
	if s.postgres() {
		if err := s.Ping(ctx); err != nil {
			return "", err
		}
		return "ok", nil
	}
	var verdict string
	if err := s.read.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&verdict); err != nil {
		return "", fmt.Errorf("db: integrity check: %w", err)
	}
	return verdict, nil
}

// Migrate applies every embedded migration not applied yet (migrations.FS on SQLite,
// migrations.Postgres on PostgreSQL), each in its own transaction. On PostgreSQL the
// whole run holds an advisory lock, so instances starting together migrate once: the
// second waits, then finds every step applied. (On SQLite the writer's BEGIN IMMEDIATE
// does the same for two processes on one file.)
func (s *Store) Migrate(ctx context.Context) error {
	var set fs.FS = migrations.FS
	var conn *sql.Conn
	if s.postgres() {
		set = migrations.Postgres
		var err error
		if conn, err = s.write.Conn(ctx); err != nil {
			return fmt.Errorf("db: migrate: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(?)`, s.advisoryKey("migrate")); err != nil {
			return fmt.Errorf("db: migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(?)`, s.advisoryKey("migrate"))
	}
	create := `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`
	if s.postgres() {
		create = `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`
	}
	if _, err := s.write.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("db: migrate: %w", err)
	}
	names, err := fs.Glob(set, "*.sql")
	if err != nil {
		return fmt.Errorf("db: migrate: list: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := s.applyMigration(ctx, set, name); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, set fs.FS, name string) error {
	body, err := fs.ReadFile(set, name)
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

// connectWhenNotBusy makes the writer's first connection. When several processes open
// a new database file at once, one's switch to WAL (dsn) can be answered SQLITE_BUSY at
// once: SQLite calls no busy handler there, so busy_timeout does not wait. It is tried
// again until that timeout; once the file is in WAL mode, the switch costs no lock.
func connectWhenNotBusy(ctx context.Context, write *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second) // busy_timeout in dsn
	for {
		err := write.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func isUniqueViolation(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint failed") || pgErrCode(err) == "23505")
}
