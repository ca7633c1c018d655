package db

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/pgtest"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// testEngine is the engine openTestStore opens: TestMain runs every test of the
// package on SQLite, then again on PostgreSQL when a server is given (pgtest).
var testEngine = EngineSQLite

func TestMain(m *testing.M) {
	code := m.Run()
	if code != 0 {
		os.Exit(code)
	}
	switch {
	case pgtest.ServerURL() != "":
		fmt.Println("=== the store tests again, on PostgreSQL (TEST_DATABASE_URL)")
		testEngine = EnginePostgres
		code = m.Run()
	case pgtest.Required():
		fmt.Println("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set: the store tests did not run on PostgreSQL")
		code = 1
	default:
		fmt.Println("store tests ran on SQLite only: set TEST_DATABASE_URL to run them on PostgreSQL too")
	}
	os.Exit(code)
}

// testDatabase is a fresh, empty database of the engine under test: an SQLite file
// path or a PostgreSQL URL (its own schema).
func testDatabase(t testing.TB) string {
	t.Helper()
	if testEngine == EnginePostgres {
		return pgtest.URL(t)
	}
	return filepath.Join(t.TempDir(), "app.db")
}

// sqliteFiles are the files of an SQLite database at path; none for PostgreSQL.
func sqliteFiles(path string) []string {
	if testEngine != EngineSQLite {
		return nil
	}
	return []string{path, path + "-wal"}
}

// sqliteOnly skips a test of SQLite's file (what is in its pages, its WAL) on PostgreSQL.
func sqliteOnly(t testing.TB, why string) {
	t.Helper()
	if testEngine != EngineSQLite {
		t.Skip("SQLite only: " + why)
	}
}

func openTestStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := testDatabase(t)
	c, err := NewCipher("test-secret")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), path, c)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func createTestInbox(t *testing.T, s *Store, accountID int64, phone, token string) Inbox {
	t.Helper()
	in, err := s.CreateInbox(context.Background(), NewInbox{AccountID: accountID, Name: "Support " + phone, PhoneNumber: phone,
		PhoneNumberID: "pn" + phone, WABAID: "waba1", BusinessID: "biz1", AccessToken: token})
	if err != nil {
		t.Fatalf("create inbox: %v", err)
	}
	return in
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	s, _ := openTestStore(t)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("second migrate: want nil, got %v", err)
	}
}

func TestSecretsAreEncryptedAtRest(t *testing.T) {
	s, path := openTestStore(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "admin@example.com", "correct horse", "Acme", RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	const token = "EAAGplaintexttokenvalue1234567890"
	const pin = "918273"
	in := createTestInbox(t, s, u.AccountID, "+15550100001", token)
	if err := s.SetPIN(ctx, in.ID, pin, PINStateGenerated); err != nil {
		t.Fatal(err)
	}
	sec, err := s.Secrets(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sec.AccessToken != token || sec.PIN != pin || sec.PINState != PINStateGenerated {
		t.Fatalf("secrets round trip: want %q/%q/generated, got %q/%q/%s", token, pin, sec.AccessToken, sec.PIN, sec.PINState)
	}
	raw := storedBytes(t, s, path)
	for _, secret := range []string{token, pin, u.APIAccessToken, "correct horse"} {
		if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(hex.EncodeToString([]byte(secret)))) {
			t.Errorf("database contains %q in plain text", secret)
		}
	}
}

// storedBytes is everything the database holds, closing s: on SQLite its file and
// write-ahead log, on PostgreSQL every row of every table of the schema as JSON text
// (bytea columns as hex, which the caller searches too).
func storedBytes(t *testing.T, s *Store, path string) []byte {
	t.Helper()
	defer s.Close()
	var raw []byte
	if testEngine == EnginePostgres {
		rows, err := s.read.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		for rows.Next() {
			var name string
			rows.Scan(&name)
			tables = append(tables, name)
		}
		rows.Close()
		for _, table := range tables {
			rows, err := s.read.Query(`SELECT row_to_json(t)::text FROM ` + table + ` t`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var row string
				rows.Scan(&row)
				raw = append(raw, row...)
			}
			rows.Close()
		}
		return raw
	}
	s.Close()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	return raw
}

func TestWrongKeyCannotDecrypt(t *testing.T) {
	a, _ := NewCipher("one")
	b, _ := NewCipher("two")
	sealed, err := a.Encrypt("secret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt(sealed); err == nil {
		t.Fatal("decrypt with another key: want an error, got none")
	}
}

func TestLoadOrCreateSecretWritesKeyOnce(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreateSecret("", dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadOrCreateSecret("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if first != second || len(first) != 64 {
		t.Fatalf("want the same 64-hex key twice, got %q and %q", first, second)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: want 0600, got %o", st.Mode().Perm())
	}
	const envKey = "a-secret-key-from-the-environment-32b"
	if got, _ := LoadOrCreateSecret(envKey, dir); got != envKey {
		t.Fatalf("SECRET_KEY must win, got %q", got)
	}
}

func TestUsersAndAccess(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	admin, err := s.CreateUser(ctx, "admin@example.com", "password1", "Acme", RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := s.CreateUser(ctx, "agent@example.com", "password2", "Acme", RoleAgent)
	if err != nil {
		t.Fatal(err)
	}
	if admin.AccountID != agent.AccountID {
		t.Fatalf("same account name must reuse the account: %d vs %d", admin.AccountID, agent.AccountID)
	}
	if _, err := s.Authenticate(ctx, "ADMIN@example.com", "password1"); err != nil {
		t.Fatalf("login with other-case email: %v", err)
	}
	if _, err := s.Authenticate(ctx, "admin@example.com", "wrong"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("wrong password: want ErrNotFound, got %v", err)
	}
	if u, err := s.UserByAPIToken(ctx, admin.APIAccessToken); err != nil || u.ID != admin.UserID {
		t.Fatalf("api token lookup: want user %d, got %+v %v", admin.UserID, u, err)
	}
	if _, err := s.UserByAPIToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bad token: want ErrNotFound, got %v", err)
	}
	if _, err := s.CreateUser(ctx, "x@example.com", "password1", "Acme", "owner"); err == nil {
		t.Fatal("unknown role: want an error")
	}

	in1 := createTestInbox(t, s, admin.AccountID, "+15550100001", "tok")
	createTestInbox(t, s, admin.AccountID, "+15550100002", "tok")
	if err := s.AddInboxMember(ctx, in1.ID, agent.UserID); err != nil {
		t.Fatal(err)
	}
	adminM, _ := s.Membership(ctx, admin.UserID, admin.AccountID)
	agentM, _ := s.Membership(ctx, agent.UserID, agent.AccountID)
	all, _ := s.InboxesVisibleTo(ctx, admin.AccountID, adminM, admin.UserID)
	mine, _ := s.InboxesVisibleTo(ctx, agent.AccountID, agentM, agent.UserID)
	if len(all) != 2 || len(mine) != 1 || mine[0].ID != in1.ID {
		t.Fatalf("visibility: admin wants 2 got %d; agent wants [%d] got %+v", len(all), in1.ID, mine)
	}
	other, _ := s.CreateUser(ctx, "other@example.com", "password3", "Other", RoleAdministrator)
	if _, err := s.Inbox(ctx, other.AccountID, in1.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("inbox of another account: want ErrNotFound, got %v", err)
	}
	_, err = s.CreateInbox(ctx, NewInbox{AccountID: other.AccountID, Name: "dup", PhoneNumber: "+15550100001", PhoneNumberID: "new", WABAID: "w", AccessToken: "t"})
	var conflict *ConflictError
	if !errors.As(err, &conflict) || conflict.Field != "phone_number" {
		t.Fatalf("duplicate phone number: want ConflictError on phone_number, got %v", err)
	}
}

func TestLeaseIsExclusiveUntilExpiry(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")

	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.AcquireLease(ctx, in.ID, string(rune('a'+i)), time.Minute); err == nil {
				won.Add(1)
			} else if !errors.Is(err, ErrLeaseHeld) {
				t.Errorf("acquire: %v", err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("20 racing acquires: want exactly 1 winner, got %d", won.Load())
	}
	now := time.Now()
	s.SetClock(func() time.Time { return now.Add(2 * time.Minute) })
	if err := s.AcquireLease(ctx, in.ID, "late", time.Minute); err != nil {
		t.Fatalf("after expiry: want the lease, got %v", err)
	}
}

func TestSnapshotHistoryAndPrune(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	qualities := []string{"GREEN", "GREEN", "YELLOW", "YELLOW", "YELLOW", "GREEN"}
	for i, q := range qualities {
		p := &whatsapp.PhoneNumber{ID: "pn", Status: "CONNECTED", QualityRating: q, NameStatus: "APPROVED"}
		if _, err := s.AddSnapshot(ctx, HealthSnapshot{InboxID: in.ID, CheckedAt: base.Add(time.Duration(i) * time.Hour), OK: true, Phone: p}); err != nil {
			t.Fatal(err)
		}
	}
	changes, err := s.HealthChanges(ctx, in.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || changes[0].To != "GREEN" || changes[1].To != "YELLOW" {
		t.Fatalf("want 2 quality changes newest first (→GREEN, →YELLOW), got %+v", changes)
	}
	deleted, err := s.PruneSnapshots(ctx, base.Add(100*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// History lives in health_changes now: every old snapshot goes but the newest. Six
	// looks made three rows (change-only snapshots: GREEN×2, YELLOW×3, GREEN).
	if deleted != 2 {
		t.Fatalf("prune: want every snapshot but the newest deleted (2 of 3 rows), got %d", deleted)
	}
	after, _ := s.HealthChanges(ctx, in.ID, 10)
	if len(after) != 2 {
		t.Fatalf("prune must keep history: want 2 changes, got %+v", after)
	}
	latest, err := s.LatestSnapshot(ctx, in.ID)
	if err != nil || latest.Phone.QualityRating != "GREEN" {
		t.Fatalf("latest snapshot after prune: got %+v %v", latest, err)
	}
}

func TestInterruptedAttemptsAndCallCount(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	a, err := s.StartAttempt(ctx, in.ID, TriggerBanner, &u.UserID, true)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.MarkInterruptedAttempts(ctx, time.Now().Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("mark interrupted: want 1, got %d %v", n, err)
	}
	list, _ := s.Attempts(ctx, in.ID, 10)
	if len(list) != 1 || list[0].ID != a.ID || list[0].Outcome != OutcomeInterrupted || list[0].UserEmail != "a@example.com" {
		t.Fatalf("want the attempt interrupted with its user, got %+v", list)
	}
	count, _, err := s.GraphCallsSince(ctx, in.ID, time.Now().Add(-72*time.Hour))
	if err != nil || count != 1 {
		t.Fatalf("interrupted calls still count against Meta's limit: want 1, got %d %v", count, err)
	}
}

func TestAddSnapshotsIsAllOrNothing(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	good := HealthSnapshot{InboxID: in.ID, OK: true, Phone: &whatsapp.PhoneNumber{ID: "pn", Status: "CONNECTED"}}
	if _, err := s.AddSnapshots(ctx, []HealthSnapshot{good, {InboxID: in.ID + 999, OK: true}}); err == nil {
		t.Fatal("a batch with a snapshot of an unknown inbox: want an error")
	}
	if _, err := s.LatestSnapshot(ctx, in.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after a failed batch nothing may be stored: want ErrNotFound, got %v", err)
	}
	flagged := good
	flagged.Phone = &whatsapp.PhoneNumber{ID: "pn", Status: "FLAGGED"}
	stored, err := s.AddSnapshots(ctx, []HealthSnapshot{good, flagged})
	if err != nil || len(stored) != 2 || stored[0].ID == 0 || stored[1].ID <= stored[0].ID {
		t.Fatalf("batch of two: want two stored snapshots with ids, got %+v %v", stored, err)
	}
	if latest, err := s.LatestSnapshot(ctx, in.ID); err != nil || latest.ID != stored[1].ID {
		t.Fatalf("latest after the batch: want id %d, got %+v %v", stored[1].ID, latest, err)
	}
}

func TestOpenRefusesAnotherSecretKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	right, _ := NewCipher("the-key-the-database-was-made-with")
	wrong, _ := NewCipher("a-different-key-typed-by-mistake")
	s, err := Open(ctx, path, right)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, "admin@example.com", "correct horse", "Acme", RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	createTestInbox(t, s, u.AccountID, "+15550100001", "EAAGtoken-0000000000000001")
	s.Close()
	if _, err := Open(ctx, path, wrong); !errors.Is(err, ErrWrongSecretKey) {
		t.Fatalf("another key: want ErrWrongSecretKey at Open, got %v", err)
	}

	// A database from before the check value: its stored token decides, then the
	// check value is written.
	s, err = Open(ctx, path, right)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.ExecContext(ctx, `DELETE FROM settings`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, path, wrong); !errors.Is(err, ErrWrongSecretKey) {
		t.Fatalf("older database, another key: want ErrWrongSecretKey, got %v", err)
	}
	s, err = Open(ctx, path, right)
	if err != nil {
		t.Fatalf("older database, its own key: want it opened, got %v", err)
	}
	var n int
	s.read.QueryRowContext(ctx, `SELECT count(*) FROM settings WHERE name = ?`, settingSecretCheck).Scan(&n)
	s.Close()
	if n != 1 {
		t.Fatalf("older database: want the check value stored once it opened, got %d rows", n)
	}
}

func TestLoadOrCreateSecretRefusesShortKeys(t *testing.T) {
	if _, err := LoadOrCreateSecret("thirty-one-bytes-long-key-12345", t.TempDir()); err == nil || len("thirty-one-bytes-long-key-12345") != 31 {
		t.Fatalf("a 31-byte SECRET_KEY: want an error, got %v", err)
	}
}
