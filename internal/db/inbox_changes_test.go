package db

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

func TestUpdateInboxStartsAfreshOnlyWhenAsked(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "admin@example.com", "correct horse", "Acme", RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "EAAold-token-0123456789")
	other := createTestInbox(t, s, u.AccountID, "+15550100002", "EAAother-token-0123456789")
	history := func() (snapshots, attempts int) {
		t.Helper()
		for _, q := range []struct {
			table string
			n     *int
		}{{"health_snapshots", &snapshots}, {"registration_attempts", &attempts}} {
			if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM `+q.table+` WHERE inbox_id = ?`, in.ID).Scan(q.n); err != nil {
				t.Fatal(err)
			}
		}
		return snapshots, attempts
	}
	for _, quality := range []string{"GREEN", "RED"} {
		if _, err := s.AddSnapshot(ctx, HealthSnapshot{InboxID: in.ID, OK: true, Phone: &whatsapp.PhoneNumber{ID: in.PhoneNumberID, QualityRating: quality}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.StartAttempt(ctx, in.ID, TriggerBanner, &u.UserID, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPIN(ctx, in.ID, "135790", PINStateConfirmed); err != nil {
		t.Fatal(err)
	}
	subscribed := time.Now()
	if err := s.SetWebhookSubscription(ctx, in.ID, &subscribed, ""); err != nil {
		t.Fatal(err)
	}
	actor := Actor{UserID: &u.UserID, Name: "admin@example.com"}
	edit := InboxEdit{Name: "Renamed", PhoneNumber: in.PhoneNumber, PhoneNumberID: in.PhoneNumberID, WABAID: in.WABAID,
		BusinessID: in.BusinessID, MetaCheck: MetaCheckPassed,
		Change: InboxChange{Action: ChangeEdited, Actor: actor, Details: []FieldChange{{Field: "name", From: in.Name, To: "Renamed"}}}}

	got, err := s.UpdateInbox(ctx, in.ID, edit)
	if err != nil {
		t.Fatal(err)
	}
	if snaps, attempts := history(); got.Name != "Renamed" || snaps != 2 || attempts != 1 || got.PINState != PINStateConfirmed || got.WebhookSubscribedAt == nil {
		t.Fatalf("a rename keeps everything else: got %+v, %d snapshots, %d attempts", got, snaps, attempts)
	}
	if sec, _ := s.Secrets(ctx, in.ID); sec.AccessToken != "EAAold-token-0123456789" {
		t.Error("an edit without a token keeps the stored one")
	}

	// The number of another inbox: a conflict, and nothing changes.
	taken := edit
	taken.PhoneNumberID, taken.Name = other.PhoneNumberID, "Stolen"
	var conflict *ConflictError
	if _, err := s.UpdateInbox(ctx, in.ID, taken); !errors.As(err, &conflict) || conflict.Field != "phone_number_id" {
		t.Fatalf("another inbox's id: want a conflict on phone_number_id, got %v", err)
	}
	if cur, _ := s.InboxByID(ctx, in.ID); cur.Name != "Renamed" || len(mustChanges(t, s, in.ID)) != 1 {
		t.Fatalf("a refused update must change nothing, log included: got %+v", cur)
	}

	// Another number in another business account, with a new token: afresh.
	afresh := edit
	afresh.PhoneNumberID, afresh.WABAID, afresh.AccessToken, afresh.StartAfresh = "pn-new", "waba2", "EAAnew-token-0123456789", true
	afresh.Change = InboxChange{Action: ChangeEdited, Actor: actor, Details: []FieldChange{
		{Field: "phone_number_id", From: in.PhoneNumberID, To: "pn-new"}, {Field: "access_token", From: "leak?", To: "leak!", Secret: true}}}
	got, err = s.UpdateInbox(ctx, in.ID, afresh)
	if err != nil {
		t.Fatal(err)
	}
	sec, _ := s.Secrets(ctx, in.ID)
	if snaps, attempts := history(); snaps != 0 || attempts != 0 || got.PINState != PINStateNone || sec.PIN != "" || sec.AccessToken != "EAAnew-token-0123456789" {
		t.Fatalf("afresh: want no snapshot, attempt or PIN and the new token, got %d snapshots, %d attempts, PIN state %s", snaps, attempts, got.PINState)
	}
	if got.WebhookSubscribedAt != nil {
		t.Error("afresh in another business account: the webhook subscription must be made again")
	}
	if _, err := s.LatestSnapshot(ctx, in.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("afresh: the cached snapshot must go too, got %v", err)
	}
	changes := mustChanges(t, s, in.ID)
	if len(changes) != 2 || changes[0].Details[0].To != "pn-new" || changes[0].Details[1].From != "" || changes[0].Details[1].To != "" {
		t.Fatalf("change log: want the newest first and no value of a secret, got %+v", changes)
	}
	if changes[0].Actor.Name != "admin@example.com" || *changes[0].Actor.UserID != u.UserID {
		t.Errorf("change log: want who made it, got %+v", changes[0].Actor)
	}
}

func mustChanges(t *testing.T, s *Store, inboxID int64) []InboxChange {
	t.Helper()
	changes, err := s.InboxChanges(context.Background(), inboxID, InboxChangeLogLength)
	if err != nil {
		t.Fatal(err)
	}
	return changes
}
