package db

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

func addTestSnapshot(t *testing.T, s *Store, inboxID int64, at time.Time, ok bool, quality string) HealthSnapshot {
	t.Helper()
	snap := HealthSnapshot{InboxID: inboxID, CheckedAt: at, OK: ok}
	if quality != "" {
		snap.Phone = &whatsapp.PhoneNumber{ID: "pn", Status: "CONNECTED", QualityRating: quality, NameStatus: "APPROVED"}
	}
	if !ok {
		snap.ErrorKind, snap.ErrorMessage = whatsapp.KindTransient, "boom"
	}
	stored, err := s.AddSnapshot(context.Background(), snap)
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

func TestHealthChangesCompareWithTheLastSuccessfulSnapshot(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	addTestSnapshot(t, s, in.ID, base, false, "")                       // never fetched: no data
	addTestSnapshot(t, s, in.ID, base.Add(1*time.Hour), true, "GREEN")  // first data: no change
	addTestSnapshot(t, s, in.ID, base.Add(2*time.Hour), false, "GREEN") // failed, last good data
	addTestSnapshot(t, s, in.ID, base.Add(3*time.Hour), true, "RED")    // GREEN -> RED
	addTestSnapshot(t, s, in.ID, base.Add(4*time.Hour), false, "RED")
	addTestSnapshot(t, s, in.ID, base.Add(5*time.Hour), true, "RED") // no change
	changes, err := s.HealthChanges(ctx, in.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []HealthChange{{At: base.Add(3 * time.Hour), Field: "quality_rating", From: "GREEN", To: "RED"}}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Fatalf("changes: want %+v, got %+v", want, changes)
	}

	// Two fields in one snapshot: newest first, in reverse field order (as before).
	p := &whatsapp.PhoneNumber{ID: "pn", Status: "FLAGGED", QualityRating: "YELLOW", NameStatus: "APPROVED"}
	if _, err := s.AddSnapshot(ctx, HealthSnapshot{InboxID: in.ID, CheckedAt: base.Add(6 * time.Hour), OK: true, Phone: p}); err != nil {
		t.Fatal(err)
	}
	changes, _ = s.HealthChanges(ctx, in.ID, 2)
	if len(changes) != 2 || changes[0].Field != "quality_rating" || changes[1].Field != "status" ||
		changes[0].From != "RED" || changes[1].To != "FLAGGED" {
		t.Fatalf("two changes in one snapshot: got %+v", changes)
	}
}

func TestHealthChangesSurviveThePruningOfTheLastGoodSnapshot(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	addTestSnapshot(t, s, in.ID, base, true, "GREEN")
	for d := 1; d <= 9; d++ { // failing for 9 days
		addTestSnapshot(t, s, in.ID, base.Add(time.Duration(d)*24*time.Hour), false, "GREEN")
	}
	if _, err := s.PruneSnapshots(ctx, base.Add(9*24*time.Hour-SnapshotRetention)); err != nil {
		t.Fatal(err)
	}
	addTestSnapshot(t, s, in.ID, base.Add(10*24*time.Hour), true, "YELLOW")
	changes, _ := s.HealthChanges(ctx, in.ID, 10)
	if len(changes) != 1 || changes[0].From != "GREEN" || changes[0].To != "YELLOW" {
		t.Fatalf("after the last good snapshot was pruned: want GREEN -> YELLOW (from the failed snapshots' copy), got %+v", changes)
	}
}

func TestMigrationBackfillsHealthChanges(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	other := createTestInbox(t, s, u.AccountID, "+15550100002", "tok")
	// Back to the schema before 0002, with history written the old way.
	for _, q := range []string{`DROP TABLE health_changes`, `DROP INDEX health_snapshots_time`,
		`DELETE FROM schema_migrations WHERE name = '0002_health_changes.sql'`} {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := []struct {
		inbox         int64
		hour          int
		ok            int
		phone         any
		status, tier  string
		quality, name string
	}{
		{in.ID, 0, 1, "{}", "CONNECTED", "TIER_1K", "GREEN", "APPROVED"},
		{other.ID, 0, 1, "{}", "CONNECTED", "TIER_1K", "GREEN", "APPROVED"},
		{in.ID, 1, 0, "{}", "CONNECTED", "TIER_1K", "GREEN", "APPROVED"},
		{in.ID, 2, 1, "{}", "FLAGGED", "TIER_1K", "YELLOW", "APPROVED"},
		{in.ID, 3, 1, nil, "", "", "", ""}, // no phone data: not compared
		{in.ID, 4, 1, "{}", "FLAGGED", "TIER_10K", "YELLOW", "APPROVED"},
		{other.ID, 4, 1, "{}", "CONNECTED", "TIER_1K", "GREEN", "APPROVED"},
	}
	for _, r := range rows {
		if _, err := s.write.ExecContext(ctx, `INSERT INTO health_snapshots (inbox_id, checked_at, ok, phone, status, quality_rating,
			name_status, limit_tier) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.inbox, millis(base.Add(time.Duration(r.hour)*time.Hour)),
			r.ok, r.phone, r.status, r.quality, r.name, r.tier); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	changes, err := s.HealthChanges(ctx, in.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []HealthChange{
		{At: base.Add(4 * time.Hour), Field: "limit_tier", From: "TIER_1K", To: "TIER_10K"},
		{At: base.Add(2 * time.Hour), Field: "quality_rating", From: "GREEN", To: "YELLOW"},
		{At: base.Add(2 * time.Hour), Field: "status", From: "CONNECTED", To: "FLAGGED"},
	}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Fatalf("backfilled changes:\nwant %+v\ngot  %+v", want, changes)
	}
	if changes, _ := s.HealthChanges(ctx, other.ID, 0); len(changes) != 0 {
		t.Fatalf("an inbox that never changed: want no changes, got %+v", changes)
	}
}

// pruneFixture is a store with two inboxes: busy has n snapshots a minute apart from
// base, then its newest at base+n minutes, and 3 health changes older than the change
// retention; quiet has one snapshot at base, its only one.
func pruneFixture(t *testing.T, n int) (s *Store, busy, quiet Inbox, base time.Time) {
	t.Helper()
	s, _ = openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	busy = createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	quiet = createTestInbox(t, s, u.AccountID, "+15550100002", "tok")
	base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.write.ExecContext(ctx, `WITH RECURSIVE i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k + 1 < ?)
		INSERT INTO health_snapshots (inbox_id, checked_at, ok) SELECT ?, CAST(? AS BIGINT) + k * 60000, 1 FROM i`, n, busy.ID, millis(base)); err != nil {
		t.Fatal(err)
	}
	addTestSnapshot(t, s, quiet.ID, base, true, "GREEN") // its only snapshot, as old as any
	old := millis(base.Add(-HealthChangeRetention - time.Hour))
	for range 3 {
		if _, err := s.write.ExecContext(ctx, `INSERT INTO health_changes (inbox_id, changed_at, field, from_value, to_value)
			VALUES (?, ?, 'status', 'A', 'B')`, busy.ID, old); err != nil {
			t.Fatal(err)
		}
	}
	addTestSnapshot(t, s, busy.ID, base.Add(time.Duration(n)*time.Minute), true, "GREEN")
	return s, busy, quiet, base
}

func TestPruneDeletesInBatchesAndKeepsEachInboxsNewest(t *testing.T) {
	const n = 2*pruneBatch + 10
	s, busy, quiet, base := pruneFixture(t, n)
	ctx := context.Background()
	addTestSnapshot(t, s, busy.ID, base.Add(time.Duration(n+1)*time.Minute), true, "RED") // a recent change

	deleted, err := s.PruneSnapshots(ctx, base.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if deleted != n+1 {
		t.Fatalf("prune: want every snapshot but each inbox's newest deleted (%d), got %d", n+1, deleted)
	}
	for _, in := range []Inbox{busy, quiet} {
		var count int
		s.read.QueryRowContext(ctx, `SELECT count(*) FROM health_snapshots WHERE inbox_id = ?`, in.ID).Scan(&count)
		if count != 1 {
			t.Errorf("inbox %d: want its newest snapshot kept, %d left", in.ID, count)
		}
	}
	pruned, err := s.PruneHealthChanges(ctx, base.Add(-HealthChangeRetention))
	if err != nil || pruned != 3 {
		t.Fatalf("prune health changes: want the 3 older than the retention deleted, got %d (%v)", pruned, err)
	}
	if changes, _ := s.HealthChanges(ctx, busy.ID, 0); len(changes) != 1 || changes[0].To != "RED" {
		t.Fatalf("recent history must stay: got %+v", changes)
	}
}

func TestPrunerStepsThroughSnapshotsThenChangesOneBatchAtATime(t *testing.T) {
	const n = 2*pruneStep + 10
	s, busy, quiet, base := pruneFixture(t, n)
	ctx := context.Background()

	p := s.NewPruner(PruneBefore{Snapshots: base.Add(365 * 24 * time.Hour), Changes: base.Add(-HealthChangeRetention)})
	var steps []int64
	for {
		before := p.Snapshots + p.Changes
		done, err := p.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, p.Snapshots+p.Changes-before)
		if done {
			break
		}
		if len(steps) > 10 {
			t.Fatalf("pruner never done: steps %v", steps)
		}
	}
	// 2 full batches, the snapshots' last 10, the 3 changes, then no webhook event.
	if want := []int64{pruneStep, pruneStep, 10, 3, 0}; fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Errorf("rows deleted per step: want %v, got %v", want, steps)
	}
	if p.Snapshots != n || p.Changes != 3 {
		t.Errorf("want %d snapshots and 3 changes counted, got %d and %d", n, p.Snapshots, p.Changes)
	}
	for _, in := range []Inbox{busy, quiet} {
		var count int
		s.read.QueryRowContext(ctx, `SELECT count(*) FROM health_snapshots WHERE inbox_id = ?`, in.ID).Scan(&count)
		if count != 1 {
			t.Errorf("inbox %d: want its newest snapshot kept, %d left", in.ID, count)
		}
	}
	if changes, _ := s.HealthChanges(ctx, busy.ID, 0); len(changes) != 0 {
		t.Errorf("health changes older than the retention: want none left, got %+v", changes)
	}
}

func TestCachedChangesAnswerSmallerLimitsFromALargerRead(t *testing.T) {
	five := make([]HealthChange, 5)
	for i := range five {
		five[i].From = fmt.Sprint(i)
	}
	for _, c := range []struct {
		cached  cachedChanges
		limit   int
		want    int
		answers bool
	}{
		{cachedChanges{limit: 500, changes: five}, 10, 5, true},     // held fewer than asked for: every change
		{cachedChanges{limit: 500, changes: five}, -1, 5, true},     // the same, asked for all
		{cachedChanges{limit: 5, changes: five}, 3, 3, true},        // the newest 3 of the newest 5
		{cachedChanges{limit: 5, changes: five}, 10, 0, false},      // there may be more than 5
		{cachedChanges{limit: 5, changes: five}, -1, 0, false},      // the same, asked for all
		{cachedChanges{limit: -1, changes: five}, 2, 2, true},       // all were read
		{cachedChanges{limit: 10, changes: five[:0]}, 500, 0, true}, // none at all
		{cachedChanges{limit: 10, changes: five[:0]}, 10, 0, true},
	} {
		got, ok := c.cached.answer(c.limit)
		if ok != c.answers || len(got) != c.want {
			t.Errorf("cached %d of limit %d, asked %d: want %d (%v), got %d (%v)", len(c.cached.changes), c.cached.limit, c.limit, c.want, c.answers, len(got), ok)
		}
	}
}
