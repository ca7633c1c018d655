// Package pgtest gives tests a PostgreSQL database of their own on the server named by
// TEST_DATABASE_URL (.ci/run starts a throwaway cluster and sets it). Without it, tests
// that need PostgreSQL skip with a message, unless REQUIRE_POSTGRES=1, which makes a
// missing server a failure (CI must not pass by skipping).
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// ServerURL is the test server's URL (TEST_DATABASE_URL), "" when none is given.
func ServerURL() string { return os.Getenv("TEST_DATABASE_URL") }

// Required reports whether tests must fail instead of skipping without a server.
func Required() bool { return os.Getenv("REQUIRE_POSTGRES") == "1" }

// Skip ends t when no PostgreSQL server is given: a skip with a message, or a failure
// when REQUIRE_POSTGRES=1.
func Skip(t testing.TB) {
	t.Helper()
	if ServerURL() != "" {
		return
	}
	if Required() {
		t.Fatal("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set: start a server (.ci/pg-cluster start DIR)")
	}
	t.Skip("no PostgreSQL server: set TEST_DATABASE_URL (e.g. eval \"$(.ci/pg-cluster start /tmp/pg)\") to run this test")
}

var (
	adminOnce sync.Once
	admin     *sql.DB
	adminErr  error
)

func adminDB() (*sql.DB, error) {
	adminOnce.Do(func() {
		admin, adminErr = sql.Open("pgx", ServerURL())
		if adminErr != nil {
			return
		}
		admin.SetMaxOpenConns(4)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The schema's migrations create citext if it is missing; made here once, in
		// public, it is shared by every test schema (an extension exists once per
		// database) and dropping a test schema cannot take it along.
		_, adminErr = admin.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS citext SCHEMA public`)
	})
	return admin, adminErr
}

// URL returns the URL of a new, empty schema on the test server (its search_path is
// the schema, then public for citext), dropped with everything in it when t ends.
// Tests each get their own, so they stay independent and may run in parallel.
func URL(t testing.TB) string {
	t.Helper()
	Skip(t)
	u, drop, err := NewSchema()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(drop)
	return u
}

// NewSchema makes a new, empty schema on the test server and returns its URL and a
// function that drops it; for TestMain and benchmarks, which have no t.Cleanup.
func NewSchema() (string, func(), error) {
	db, err := adminDB()
	if err != nil {
		return "", nil, fmt.Errorf("test server %s: %w", ServerURL(), err)
	}
	return newSchema(db, ServerURL())
}

// NewSchemaOn is NewSchema on the server at serverURL (the bench's); the returned
// function also closes the connection it made.
func NewSchemaOn(serverURL string) (string, func(), error) {
	db, err := sql.Open("pgx", serverURL)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS citext SCHEMA public`); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("PostgreSQL server: %w", err)
	}
	u, drop, err := newSchema(db, serverURL)
	if err != nil {
		db.Close()
		return "", nil, err
	}
	return u, func() { drop(); db.Close() }, nil
}

func newSchema(db *sql.DB, serverURL string) (string, func(), error) {
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema+",public")
	u.RawQuery = q.Encode()
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		// Connections of the test still open (a process killed on purpose) would hold
		// locks on the schema's tables; end them first.
		db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE pid <> pg_backend_pid() AND query_start IS NOT NULL AND application_name = $1`, schema)
		db.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
	}
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// OnPostgres reports whether the tests of packages above the store run on PostgreSQL
// (TEST_ENGINE=postgres; .ci/run runs them so once more) instead of SQLite.
func OnPostgres() bool { return os.Getenv("TEST_ENGINE") == "postgres" }

// Database is where a test's store lives: sqlitePath, or with TEST_ENGINE=postgres a
// fresh schema on the test server (URL).
func Database(t testing.TB, sqlitePath string) string {
	t.Helper()
	if OnPostgres() {
		return URL(t)
	}
	return sqlitePath
}
