package db

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRepeatedWebhookDeliveryIsMarkedDuplicate(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	ev := WebhookEvent{WABAID: "102290129340398", Field: "phone_number_name_update", Payload: `{}`, DedupKey: "k1"}
	first, err := s.AddWebhookEvent(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.AddWebhookEvent(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.AddWebhookEvent(ctx, WebhookEvent{WABAID: ev.WABAID, Field: ev.Field, Payload: `{}`, DedupKey: "k2"})
	if err != nil {
		t.Fatal(err)
	}
	unkeyed1, _ := s.AddWebhookEvent(ctx, WebhookEvent{Field: "x", Payload: `{}`})
	unkeyed2, _ := s.AddWebhookEvent(ctx, WebhookEvent{Field: "x", Payload: `{}`})
	if first.Duplicate || !again.Duplicate || other.Duplicate || unkeyed1.Duplicate || unkeyed2.Duplicate {
		t.Fatalf("duplicate flags: first %v, again %v, other key %v, unkeyed %v %v; want only the second delivery of k1 marked",
			first.Duplicate, again.Duplicate, other.Duplicate, unkeyed1.Duplicate, unkeyed2.Duplicate)
	}
	if n, _ := s.CountWebhookEvents(ctx); n != 5 {
		t.Fatalf("stored %d events, want all 5 deliveries kept", n)
	}
	// The database itself refuses a second first delivery of a key.
	if _, err := s.write.ExecContext(ctx, `INSERT INTO webhook_events (phone_number, field, payload, dedup_key, duplicate, received_at)
		VALUES ('', 'f', '{}', 'k1', 0, 0)`); err == nil {
		t.Fatal("a second non-duplicate row for key k1 was accepted")
	}
}

func TestLastWebhookEventAtPerBusinessAccountAndField(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i, e := range []WebhookEvent{
		{WABAID: "1", Field: "account_update", ReceivedAt: at},
		{WABAID: "1", Field: "messages", ReceivedAt: at.Add(time.Hour)},
		{WABAID: "2", Field: "account_update", ReceivedAt: at.Add(2 * time.Hour)},
	} {
		e.Payload = "{}"
		if _, err := s.AddWebhookEvent(ctx, e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	got, err := s.LastWebhookEventAt(ctx, "1", []string{"account_update", "phone_number_name_update"})
	if err != nil || !got.Equal(at) {
		t.Fatalf("last account-level event of WABA 1 = %v, %v; want %v", got, err, at)
	}
	if got, _ := s.LastWebhookEventAt(ctx, "3", []string{"account_update"}); !got.IsZero() {
		t.Fatalf("WABA without events: %v, want zero", got)
	}
}

func TestNameChangeApprovalIsClearedOnlyByALaterRegistration(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "admin@example.com", "password1", "Acme", RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	in := createTestInbox(t, s, u.AccountID, "+14155550100", "tok")
	approved := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := s.MarkNameChangeApproved(ctx, in.ID, approved); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearNameChangeApproved(ctx, in.ID, approved.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, _ := s.InboxByID(ctx, in.ID)
	if got.NameChangeApprovedAt == nil || !got.NameChangeApprovedAt.Equal(approved) {
		t.Fatalf("a register call started before the approval cleared it: %v", got.NameChangeApprovedAt)
	}
	if err := s.ClearNameChangeApproved(ctx, in.ID, approved.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.InboxByID(ctx, in.ID); got.NameChangeApprovedAt != nil {
		t.Fatalf("still waiting after a later registration: %v", got.NameChangeApprovedAt)
	}
}

func TestRecentWebhookEventsOfAnInboxAndItsBusinessAccount(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "admin@example.com", "password1", "Acme", RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	in := createTestInbox(t, s, u.AccountID, "+14155550100", "tok") // WABA waba1
	other := createTestInbox(t, s, u.AccountID, "+14155550101", "tok")
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	add := func(e WebhookEvent) {
		t.Helper()
		e.Payload = "{}"
		if _, err := s.AddWebhookEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	add(WebhookEvent{InboxID: &in.ID, WABAID: "waba1", Field: "mine", DedupKey: "a", ReceivedAt: at})
	add(WebhookEvent{InboxID: &in.ID, WABAID: "waba1", Field: "mine", DedupKey: "a", ReceivedAt: at.Add(time.Minute)}) // repeat
	add(WebhookEvent{WABAID: "waba1", Field: "whole account", ReceivedAt: at.Add(2 * time.Minute)})
	add(WebhookEvent{InboxID: &other.ID, WABAID: "waba1", Field: "other inbox", ReceivedAt: at.Add(3 * time.Minute)})
	add(WebhookEvent{WABAID: "waba2", Field: "other account", ReceivedAt: at.Add(4 * time.Minute)})
	got, err := s.RecentWebhookEvents(ctx, in.ID, "waba1", 10)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, e := range got {
		fields = append(fields, e.Field)
	}
	if len(fields) != 2 || fields[0] != "whole account" || fields[1] != "mine" {
		t.Fatalf("want [whole account, mine] (newest first, no repeats, none of others), got %v", fields)
	}
}

// The duplicate check must be an index lookup: a scan would make every webhook slower
// as events accumulate.
func TestDuplicateCheckUsesTheIndex(t *testing.T) {
	sqliteOnly(t, "reads SQLite's query plan")
	s, _ := openTestStore(t)
	rows, err := s.read.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+qAddWebhookEvent,
		nil, "", "1", "f", "{}", "k", int64(0))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	joined := strings.Join(plan, "; ")
	if !strings.Contains(joined, "INDEX webhook_events_first_delivery") || strings.Contains(joined, "SCAN webhook_events") {
		t.Fatalf("duplicate check: want a search of webhook_events_first_delivery, got plan %q", joined)
	}
}

func TestDeleteInboxErasesItsSecretsAndRecords(t *testing.T) {
	s, path := openTestStore(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "admin@example.com", "password1", "Acme", RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	in := createTestInbox(t, s, u.AccountID, "+14155550100", "EAAsecret-token-to-erase-0123456789")
	keep := createTestInbox(t, s, u.AccountID, "+14155550101", "EAAother-token-0123456789")
	if err := s.SetPIN(ctx, in.ID, "123456", PINStateGenerated); err != nil {
		t.Fatal(err)
	}
	var tokenEnc []byte
	if err := s.read.QueryRowContext(ctx, `SELECT access_token_enc FROM inboxes WHERE id = ?`, in.ID).Scan(&tokenEnc); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddWebhookEvent(ctx, WebhookEvent{InboxID: &in.ID, WABAID: in.WABAID, Field: "f", Payload: "{}"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartAttempt(ctx, in.ID, TriggerBanner, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteInbox(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InboxByID(ctx, in.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: want ErrNotFound, got %v", err)
	}
	if _, err := s.InboxByID(ctx, keep.ID); err != nil {
		t.Fatalf("another inbox must stay: %v", err)
	}
	for table, want := range map[string]int{"webhook_events": 0, "registration_attempts": 0} {
		var n int
		if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE inbox_id = ?`, in.ID).Scan(&n); err != nil || n != want {
			t.Errorf("%s of the removed inbox: %d rows (%v), want %d", table, n, err, want)
		}
	}
	// On SQLite the freed pages are zeroed. PostgreSQL keeps a deleted row's old
	// version until VACUUM reclaims it (ciphertext only, useless without SECRET_KEY).
	for _, file := range sqliteFiles(path) {
		data, err := os.ReadFile(file)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(data, tokenEnc) {
			t.Errorf("%s still holds the removed inbox's encrypted token", filepath.Base(file))
		}
	}
	if err := s.DeleteInbox(ctx, in.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting again: want ErrNotFound, got %v", err)
	}
}

// Webhook events are kept WebhookEventRetention: older ones go, in received order,
// and nothing cached still shows them.
func TestPrunerDeletesWebhookEventsPastTheirRetention(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now }) // frozen: only the pruning can empty the caches
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	cutoff := now.Add(-WebhookEventRetention)
	for i, at := range []time.Time{
		cutoff.Add(-30 * 24 * time.Hour), cutoff.Add(-time.Hour), cutoff.Add(-time.Millisecond), // old: pruned
		cutoff,                      // exactly the retention: kept
		cutoff.Add(-48 * time.Hour), // old, but stored after a newer event (the clock went back): kept for now
		now,
	} {
		if _, err := s.AddWebhookEvent(ctx, WebhookEvent{InboxID: &in.ID, WABAID: in.WABAID, Field: "phone_number_quality_update",
			Payload: fmt.Sprintf(`{"n":%d}`, i), DedupKey: fmt.Sprint("k", i), ReceivedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	if events, err := s.RecentWebhookEvents(ctx, in.ID, in.WABAID, 10); err != nil || len(events) != 6 {
		t.Fatalf("before pruning: want 6 recent events, got %d (%v)", len(events), err)
	}
	p := s.NewPruner(PruneBefore{WebhookEvents: cutoff})
	for range 5 {
		if done, err := p.Step(ctx); err != nil {
			t.Fatal(err)
		} else if done {
			break
		}
	}
	if p.WebhookEvents != 3 || p.Snapshots != 0 || p.Changes != 0 {
		t.Fatalf("want the 3 events stored first and older than the retention pruned (and nothing else), got %d events, %d snapshots, %d changes",
			p.WebhookEvents, p.Snapshots, p.Changes)
	}
	events, err := s.RecentWebhookEvents(ctx, in.ID, in.WABAID, 10)
	if err != nil {
		t.Fatal(err)
	}
	var payloads []string
	for _, e := range events {
		payloads = append(payloads, e.Payload)
	}
	if want := `[{"n":5} {"n":3} {"n":4}]`; fmt.Sprint(payloads) != want {
		t.Errorf("after pruning, the inbox's events: want %s (newest first), got %v", want, payloads)
	}
	if last, _ := s.LastWebhookEventAt(ctx, in.WABAID, []string{"phone_number_quality_update"}); !last.Equal(now) {
		t.Errorf("the newest event must be kept: last event at %v, want %v", last, now)
	}
}
