package db

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

func TestAnUnchangedLookMovesTheNewestSnapshotInsteadOfAddingOne(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	first := addTestSnapshot(t, s, in.ID, base, true, "GREEN")
	var again HealthSnapshot
	for i := 1; i <= 3; i++ {
		snap := HealthSnapshot{InboxID: in.ID, CheckedAt: base.Add(time.Duration(i) * 15 * time.Minute), OK: true, Source: SourceSweep,
			Phone: &whatsapp.PhoneNumber{ID: "pn", Status: "CONNECTED", QualityRating: "GREEN", NameStatus: "APPROVED"}}
		var err error
		if again, err = s.AddSnapshot(ctx, snap); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.CountSnapshots(ctx, in.ID); n != 1 {
		t.Fatalf("four identical looks: want one row, got %d", n)
	}
	if again.ID != first.ID || again.CheckCount != 4 || !again.FirstCheckedAt.Equal(base) || !again.CheckedAt.Equal(base.Add(45*time.Minute)) {
		t.Fatalf("the look returned: want row %d with 4 looks from %v to %v, got %+v", first.ID, base, base.Add(45*time.Minute), again)
	}
	latest, err := s.LatestSnapshot(ctx, in.ID)
	if err != nil || latest.ID != first.ID || !latest.CheckedAt.Equal(base.Add(45*time.Minute)) || latest.CheckCount != 4 || latest.Source != SourceSweep {
		t.Fatalf("latest: want the last look's time and source on the one row, got %+v %v", latest, err)
	}

	// A failed look is a new state (the error), and so is the recovery after it.
	addTestSnapshot(t, s, in.ID, base.Add(time.Hour), false, "GREEN")
	addTestSnapshot(t, s, in.ID, base.Add(75*time.Minute), false, "GREEN")
	addTestSnapshot(t, s, in.ID, base.Add(90*time.Minute), true, "RED")
	addTestSnapshot(t, s, in.ID, base.Add(105*time.Minute), true, "RED")
	if n, _ := s.CountSnapshots(ctx, in.ID); n != 3 {
		t.Fatalf("GREEN×4, error×2, RED×2: want 3 rows, got %d", n)
	}
	changes, _ := s.HealthChanges(ctx, in.ID, 0)
	want := []HealthChange{{At: base.Add(90 * time.Minute), Field: "quality_rating", From: "GREEN", To: "RED"}}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Fatalf("changes: want %+v, got %+v", want, changes)
	}
}

func TestAnOlderAnswerDoesNotReplaceTheNewestSnapshot(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	newer := addTestSnapshot(t, s, in.ID, base.Add(time.Minute), true, "RED")

	late := HealthSnapshot{InboxID: in.ID, CheckedAt: base, OK: false, ErrorKind: whatsapp.KindTransient, ErrorMessage: "timeout", IfNewest: true}
	got, err := s.AddSnapshot(ctx, late)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Superseded || got.ID != newer.ID || !got.OK {
		t.Fatalf("an answer asked for before the newest: want the newest back, superseded, got %+v", got)
	}
	if n, _ := s.CountSnapshots(ctx, in.ID); n != 1 {
		t.Fatalf("the older answer must not be stored: want 1 row, got %d", n)
	}
	if latest, _ := s.LatestSnapshot(ctx, in.ID); latest.ID != newer.ID || !latest.OK {
		t.Fatalf("latest: want the newer success, got %+v", latest)
	}
}

func TestMigrationFoldsRunsOfIdenticalSnapshots(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	other := createTestInbox(t, s, u.AccountID, "+15550100002", "tok")
	// Back to the schema before 0012, with a row per look.
	for _, q := range []string{`ALTER TABLE health_snapshots DROP COLUMN check_count`,
		`ALTER TABLE health_snapshots DROP COLUMN first_checked_at`,
		`DELETE FROM schema_migrations WHERE name = '0012_snapshot_runs.sql'`} {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	green, red := `{"quality_rating":"GREEN"}`, `{"quality_rating":"RED"}`
	rows := []struct {
		inbox  int64
		minute int
		ok     int
		phone  any
		errMsg string
	}{
		{in.ID, 0, 1, nil, ""},
		{in.ID, 15, 1, green, ""},
		{other.ID, 15, 1, green, ""},
		{in.ID, 30, 1, green, ""},
		{in.ID, 45, 1, green, ""},
		{other.ID, 30, 1, green, ""},
		{in.ID, 60, 0, green, "boom"},
		{in.ID, 75, 0, green, "boom"},
		{in.ID, 90, 0, green, "other"},
		{in.ID, 105, 1, red, ""},
		{in.ID, 120, 1, green, ""},
		{in.ID, 135, 1, green, ""},
	}
	for _, r := range rows {
		if _, err := s.write.ExecContext(ctx, `INSERT INTO health_snapshots (inbox_id, checked_at, ok, phone, error_message,
			source) VALUES (?, ?, ?, ?, ?, ?)`, r.inbox, millis(base.Add(time.Duration(r.minute)*time.Minute)), r.ok, r.phone, r.errMsg,
			[]string{SourceSweep, SourceFetch}[r.minute/15%2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	type run struct {
		first, last, looks int
		phone              string
	}
	read := func(inbox int64) []run {
		t.Helper()
		res, err := s.read.QueryContext(ctx, `SELECT first_checked_at, checked_at, check_count, coalesce(phone, '') FROM health_snapshots
			WHERE inbox_id = ? ORDER BY checked_at`, inbox)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		var out []run
		for res.Next() {
			var first, last int64
			var r run
			if err := res.Scan(&first, &last, &r.looks, &r.phone); err != nil {
				t.Fatal(err)
			}
			r.first, r.last = int(fromMillis(first).Sub(base)/time.Minute), int(fromMillis(last).Sub(base)/time.Minute)
			out = append(out, r)
		}
		return out
	}
	want := []run{{0, 0, 1, ""}, {15, 45, 3, green}, {60, 75, 2, green}, {90, 90, 1, green}, {105, 105, 1, red}, {120, 135, 2, green}}
	if got := read(in.ID); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("folded runs (first, last minute, looks, phone):\nwant %v\ngot  %v", want, got)
	}
	if got, want := read(other.ID), []run{{15, 30, 2, green}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the other inbox: want %v, got %v", want, got)
	}
	latest, err := s.LatestSnapshot(ctx, in.ID)
	if err != nil || !latest.CheckedAt.Equal(base.Add(135*time.Minute)) || latest.CheckCount != 2 {
		t.Fatalf("latest after folding: want the last look at 135 min, got %+v %v", latest, err)
	}
}
