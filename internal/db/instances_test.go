package db

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// openSecondInstance opens the database of a test store again, as another instance
// (another process on the same SQLite file, or another server on PostgreSQL).
func openSecondInstance(t *testing.T, path string) *Store {
	t.Helper()
	c, _ := NewCipher("test-secret")
	s, err := Open(context.Background(), path, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Two dispatchers passing at once take each due delivery once between them.
func TestDueDeliveriesAreClaimedOnceAcrossInstances(t *testing.T) {
	a, path := openTestStore(t)
	b := openSecondInstance(t, path)
	ctx := context.Background()
	u, err := a.CreateUser(ctx, "admin@example.com", "password1", "Acme", RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	dest, err := a.CreateAlertDestination(ctx, NewAlertDestination{AccountID: u.AccountID, Channel: "webhook",
		Label: "https://hooks.example.com", URL: "https://hooks.example.com/x", Secret: "s", Kinds: []string{"status"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	const alerts = 30
	for i := range alerts {
		sent := now.Add(-time.Duration(i) * time.Second)
		if _, err := a.AddAlert(ctx, Alert{AccountID: u.AccountID, Kind: "status", Type: "problem", OccurredAt: sent,
			State: AlertSent, SentAt: &sent}, []int64{dest.ID}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b, a, b} {
		wg.Go(func() {
			for range 10 {
				got, err := s.ClaimDueAlertDeliveries(ctx, now, 4, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, d := range got {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != alerts {
		t.Errorf("want all %d deliveries claimed, got %d", alerts, len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %d claimed %d times", id, n)
		}
	}
	if got, _ := a.ClaimDueAlertDeliveries(ctx, now.Add(30*time.Second), 100, time.Minute); len(got) != 0 {
		t.Errorf("within the hold: want none claimable again, got %d", len(got))
	}
	if got, _ := a.ClaimDueAlertDeliveries(ctx, now.Add(2*time.Minute), 100, time.Minute); len(got) != alerts {
		t.Errorf("after the hold (a dispatcher died): want all %d claimable again, got %d", alerts, len(got))
	}
}

// Two instances finding a digest due at once store one.
func TestADigestIsStoredOnceAcrossInstances(t *testing.T) {
	a, path := openTestStore(t)
	b := openSecondInstance(t, path)
	ctx := context.Background()
	u, _ := a.CreateUser(ctx, "admin@example.com", "password1", "Acme", RoleAdministrator)
	dest, err := a.CreateAlertDestination(ctx, NewAlertDestination{AccountID: u.AccountID, Channel: "webhook",
		Label: "https://hooks.example.com", URL: "https://hooks.example.com/x", Secret: "s", Kinds: []string{"status"}, Digest: true})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i, s := range []*Store{a, b, a, b} {
		wg.Go(func() {
			sent, id := now, dest.ID
			_, errs[i] = s.AddDigest(ctx, Alert{AccountID: u.AccountID, Kind: "digest", Type: "digest", OccurredAt: now,
				State: AlertSent, SentAt: &sent, OnlyDestinationID: &id})
		})
	}
	wg.Wait()
	stored := 0
	for _, err := range errs {
		switch {
		case err == nil:
			stored++
		case !errors.Is(err, ErrDigestSent):
			t.Errorf("AddDigest: %v", err)
		}
	}
	if stored != 1 {
		t.Errorf("want one digest stored, got %d", stored)
	}
	sent, id := now.Add(24*time.Hour), dest.ID
	if _, err := a.AddDigest(ctx, Alert{AccountID: u.AccountID, Kind: "digest", Type: "digest", OccurredAt: sent,
		State: AlertSent, SentAt: &sent, OnlyDestinationID: &id}); err != nil {
		t.Errorf("the next day's digest: %v", err)
	}
}

// Refresh clicks reaching two instances at once make one claim per cooldown.
func TestRefreshIsClaimedOncePerCooldownAcrossInstances(t *testing.T) {
	a, path := openTestStore(t)
	b := openSecondInstance(t, path)
	ctx := context.Background()
	u, _ := a.CreateUser(ctx, "admin@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, a, u.AccountID, "+15550100001", "tok")
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var mu sync.Mutex
	claims := 0
	for i := range 20 {
		s := []*Store{a, b}[i%2]
		wg.Go(func() {
			ok, err := s.ClaimRefresh(ctx, in.ID, now, 30*time.Second)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				claims++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if claims != 1 {
		t.Errorf("20 clicks at once on two instances: want one claim, got %d", claims)
	}
	if ok, _ := b.ClaimRefresh(ctx, in.ID, now.Add(29*time.Second), 30*time.Second); ok {
		t.Error("within the cooldown: want no claim")
	}
	if ok, _ := b.ClaimRefresh(ctx, in.ID, now.Add(30*time.Second), 30*time.Second); !ok {
		t.Error("after the cooldown: want a claim")
	}
}

// Instances started together on a new database apply each migration once: the others
// wait for the first (PostgreSQL: an advisory lock; SQLite: the writer's lock).
func TestInstancesStartingTogetherMigrateOnce(t *testing.T) {
	path := testDatabase(t)
	c, _ := NewCipher("test-secret")
	const instances = 4
	stores := make([]*Store, instances)
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i := range instances {
		wg.Go(func() { stores[i], errs[i] = Open(context.Background(), path, c) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	rows, err := stores[0].read.Query(`SELECT name, count(*) FROM schema_migrations GROUP BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name string
		var count int
		rows.Scan(&name, &count)
		if count != 1 {
			t.Errorf("%s applied %d times", name, count)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no migration recorded")
	}
}
