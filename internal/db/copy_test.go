package db

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/pgtest"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// An SQLite database copied into an empty PostgreSQL one reads the same there: ids,
// encrypted secrets (readable with the same key only), history; new rows continue
// after the copied ids; a database with data is refused.
func TestCopySQLiteIntoAnEmptyPostgresDatabase(t *testing.T) {
	if testEngine != EngineSQLite {
		t.Skip("copies SQLite into PostgreSQL: runs once, in the SQLite pass")
	}
	ctx := context.Background()
	c, _ := NewCipher("test-secret")
	src, err := Open(ctx, filepath.Join(t.TempDir(), "app.db"), c)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	u, err := src.CreateUser(ctx, "Owner@Example.com", "password1", "Acme", RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	first := createTestInbox(t, src, u.AccountID, "+15550100001", "EAAfirst-token")
	if err := src.DeleteInbox(ctx, first.ID); err != nil { // a gap in the ids
		t.Fatal(err)
	}
	in := createTestInbox(t, src, u.AccountID, "+15550100002", "EAAsecond-token")
	if err := src.SetPIN(ctx, in.ID, "135790", PINStateConfirmed); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i, q := range []string{"GREEN", "YELLOW"} {
		if _, err := src.AddSnapshot(ctx, HealthSnapshot{InboxID: in.ID, CheckedAt: at.Add(time.Duration(i) * time.Minute), OK: true,
			Phone: &whatsapp.PhoneNumber{ID: in.PhoneNumberID, QualityRating: q, Status: "CONNECTED"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.AddWebhookEvent(ctx, WebhookEvent{InboxID: &in.ID, WABAID: in.WABAID, Field: "f", Payload: "{}", DedupKey: "k1"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.CreateSession(ctx, u.UserID); err != nil {
		t.Fatal(err)
	}

	url := pgtest.URL(t)
	dst, err := Open(ctx, url, c)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	stats, err := CopyToPostgres(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Tables["inboxes"] != 1 || stats.Tables["health_snapshots"] != 2 || stats.Tables["users"] != 1 {
		t.Errorf("copied: want 1 inbox, 2 snapshots, 1 user, got %v", stats.Tables)
	}
	got, err := dst.InboxByID(ctx, in.ID)
	if err != nil || got.PhoneNumber != in.PhoneNumber {
		t.Fatalf("the inbox under its own id: got %+v (%v)", got, err)
	}
	sec, err := dst.Secrets(ctx, in.ID)
	if err != nil || sec.AccessToken != "EAAsecond-token" || sec.PIN != "135790" {
		t.Fatalf("secrets after the copy: want the same token and PIN, got %+v (%v)", sec, err)
	}
	if _, err := dst.Authenticate(ctx, "owner@example.com", "password1"); err != nil {
		t.Errorf("log in after the copy (email in another case): %v", err)
	}
	if changes, err := dst.HealthChanges(ctx, in.ID, 0); err != nil || len(changes) != 1 {
		t.Errorf("history after the copy: want the one quality change, got %v (%v)", changes, err)
	}
	next := createTestInbox(t, dst, u.AccountID, "+15550100003", "EAAthird-token")
	if next.ID <= in.ID {
		t.Errorf("a new inbox after the copy: want an id after %d, got %d", in.ID, next.ID)
	}
	// With the wrong key the copy's secrets stay unreadable: they were never decrypted.
	dst.Close()
	wrong, _ := NewCipher("another-secret")
	if _, err := Open(ctx, url, wrong); !errors.Is(err, ErrWrongSecretKey) {
		t.Errorf("the copy opened with another key: want ErrWrongSecretKey, got %v", err)
	}
	again, err := Open(ctx, url, c)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if _, err := CopyToPostgres(ctx, src, again); !errors.Is(err, ErrTargetNotEmpty) {
		t.Errorf("copying into a database with data: want ErrTargetNotEmpty, got %v", err)
	}
}
