package db

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// fakeNow is a movable clock for the store.
type fakeNow struct{ t time.Time }

func (f *fakeNow) now() time.Time { return f.t }

// otherProcess changes the database behind the store's back, as `web user add` or a
// second server on the same file would.
func otherProcess(t *testing.T, s *Store, query string, args ...any) {
	t.Helper()
	if _, err := s.write.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatal(err)
	}
}

func TestCachedReadsSeeTheStoresOwnWritesAtOnce(t *testing.T) {
	s, _ := openTestStore(t)
	clock := &fakeNow{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.SetClock(clock.now) // frozen: nothing expires, so only invalidation can show writes
	ctx := context.Background()

	first, err := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByAPIToken(ctx, first.APIAccessToken); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Membership(ctx, first.UserID, first.AccountID); err != nil || m.Role != RoleAdministrator {
		t.Fatalf("membership: %+v %v", m, err)
	}
	if ms, _ := s.Memberships(ctx, first.UserID); len(ms) != 1 {
		t.Fatalf("memberships: want 1, got %+v", ms)
	}
	// Re-adding the user issues a new token, changes the role and adds an account.
	again, err := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAgent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByAPIToken(ctx, first.APIAccessToken); err != ErrNotFound {
		t.Errorf("old API token after a new one was issued: want ErrNotFound, got %v", err)
	}
	if u, err := s.UserByAPIToken(ctx, again.APIAccessToken); err != nil || u.ID != first.UserID {
		t.Errorf("new API token: want user %d, got %+v %v", first.UserID, u, err)
	}
	if m, _ := s.Membership(ctx, first.UserID, first.AccountID); m.Role != RoleAgent {
		t.Errorf("membership after a role change: want agent, got %q", m.Role)
	}
	other, _ := s.CreateUser(ctx, "a@example.com", "password1", "Other", RoleAgent)
	if ms, _ := s.Memberships(ctx, first.UserID); len(ms) != 2 {
		t.Errorf("memberships after joining another account: want 2, got %+v", ms)
	}

	in := createTestInbox(t, s, first.AccountID, "+15550100001", "tok")
	if _, err := s.Inbox(ctx, first.AccountID, in.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Inbox(ctx, other.AccountID, in.ID); err != ErrNotFound {
		t.Errorf("inbox through another account: want ErrNotFound, got %v", err)
	}
	next := clock.t.Add(time.Hour)
	if err := s.SetPINState(ctx, in.ID, PINStateConfirmed); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRegistrationSchedule(ctx, in.ID, &next, 2); err != nil {
		t.Fatal(err)
	}
	got, err := s.Inbox(ctx, first.AccountID, in.ID)
	if err != nil || got.PINState != PINStateConfirmed || got.RegistrationNextRetryAt == nil || got.RegistrationBackoffStep != 2 {
		t.Errorf("inbox after updates: want confirmed PIN and a retry at step 2, got %+v %v", got, err)
	}
	if err := s.SetWebhookSubscription(ctx, in.ID, nil, "nope"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.InboxByID(ctx, in.ID); got.WebhookSubscriptionError != "nope" {
		t.Errorf("inbox after a webhook subscription error: got %q", got.WebhookSubscriptionError)
	}

	green := &whatsapp.PhoneNumber{ID: "pn", Status: "CONNECTED", QualityRating: "GREEN"}
	if _, err := s.AddSnapshot(ctx, HealthSnapshot{InboxID: in.ID, OK: true, Phone: green}); err != nil {
		t.Fatal(err)
	}
	if snap, _ := s.LatestSnapshot(ctx, in.ID); snap.Phone.QualityRating != "GREEN" {
		t.Fatalf("latest: want GREEN, got %+v", snap.Phone)
	}
	if changes, _ := s.HealthChanges(ctx, in.ID, 10); len(changes) != 0 {
		t.Fatalf("history after one snapshot: want none, got %+v", changes)
	}
	green.QualityRating = "MUTATED" // the caller's own value must not reach the cache
	red := &whatsapp.PhoneNumber{ID: "pn", Status: "CONNECTED", QualityRating: "RED"}
	added, err := s.AddSnapshot(ctx, HealthSnapshot{InboxID: in.ID, OK: true, Phone: red, CheckedAt: clock.t.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if snap, _ := s.LatestSnapshot(ctx, in.ID); snap.ID != added.ID || snap.Phone.QualityRating != "RED" {
		t.Errorf("latest after a newer snapshot: want %d RED, got %d %+v", added.ID, snap.ID, snap.Phone)
	}
	if changes, _ := s.HealthChanges(ctx, in.ID, 10); len(changes) != 1 || changes[0].From != "GREEN" || changes[0].To != "RED" {
		t.Errorf("history after a change: want GREEN -> RED, got %+v", changes)
	}
	// An older snapshot (a late webhook, say) is stored but does not become the latest.
	if _, err := s.AddSnapshot(ctx, HealthSnapshot{InboxID: in.ID, OK: true, Phone: green, CheckedAt: clock.t.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if snap, _ := s.LatestSnapshot(ctx, in.ID); snap.ID != added.ID {
		t.Errorf("latest after an older snapshot was added: want still %d, got %d", added.ID, snap.ID)
	}
	all, err := s.LatestSnapshots(ctx, first.AccountID)
	if err != nil || all[in.ID].ID != added.ID {
		t.Errorf("latest snapshots of the account: want inbox %d at %d, got %+v %v", in.ID, added.ID, all, err)
	}
}

func TestCachedReadsSeeOtherProcessesWritesAfterTheTTL(t *testing.T) {
	s, _ := openTestStore(t)
	clock := &fakeNow{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.SetClock(clock.now)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	if _, err := s.AddSnapshot(ctx, HealthSnapshot{InboxID: in.ID, OK: true, Phone: &whatsapp.PhoneNumber{QualityRating: "GREEN"}}); err != nil {
		t.Fatal(err)
	}
	// Load everything into the caches.
	if _, err := s.UserByAPIToken(ctx, u.APIAccessToken); err != nil {
		t.Fatal(err)
	}
	s.UserByID(ctx, u.UserID)
	s.Membership(ctx, u.UserID, u.AccountID)
	s.Memberships(ctx, u.UserID)
	s.Inbox(ctx, u.AccountID, in.ID)
	s.LatestSnapshot(ctx, in.ID)
	s.HealthChanges(ctx, in.ID, 10)

	otherProcess(t, s, `INSERT INTO health_changes (inbox_id, changed_at, field, from_value, to_value) VALUES (?, ?, 'quality_rating', 'GREEN', 'RED')`,
		in.ID, millis(clock.t.Add(time.Second)))
	otherProcess(t, s, `UPDATE users SET api_token_hash = 'revoked', email = 'b@example.com' WHERE id = ?`, u.UserID)
	otherProcess(t, s, `UPDATE account_users SET role = 'agent' WHERE user_id = ?`, u.UserID)
	otherProcess(t, s, `UPDATE inboxes SET name = 'Renamed' WHERE id = ?`, in.ID)
	otherProcess(t, s, `INSERT INTO health_snapshots (inbox_id, checked_at, ok, phone, quality_rating) VALUES (?, ?, 1, '{"quality_rating":"RED"}', 'RED')`,
		in.ID, millis(clock.t.Add(time.Second)))

	// An entry lives at least half the TTL (expiry is spread over its second half).
	clock.t = clock.t.Add(CacheTTL/2 - time.Millisecond)
	if _, err := s.UserByAPIToken(ctx, u.APIAccessToken); err != nil {
		t.Errorf("within the TTL: want the cached user, got %v", err)
	}
	if got, _ := s.Inbox(ctx, u.AccountID, in.ID); got.Name == "Renamed" {
		t.Errorf("within the TTL: want the cached inbox (this test checks the cache is used)")
	}

	clock.t = clock.t.Add(CacheTTL/2 + time.Millisecond)
	if _, err := s.UserByAPIToken(ctx, u.APIAccessToken); err != ErrNotFound {
		t.Errorf("after the TTL: a token revoked by another process must stop working, got %v", err)
	}
	if got, _ := s.UserByID(ctx, u.UserID); got.Email != "b@example.com" {
		t.Errorf("after the TTL: want the new email, got %q", got.Email)
	}
	if m, _ := s.Membership(ctx, u.UserID, u.AccountID); m.Role != RoleAgent {
		t.Errorf("after the TTL: want the new role, got %q", m.Role)
	}
	if ms, _ := s.Memberships(ctx, u.UserID); len(ms) != 1 || ms[0].Role != RoleAgent {
		t.Errorf("after the TTL: want the new role in the list, got %+v", ms)
	}
	if got, _ := s.Inbox(ctx, u.AccountID, in.ID); got.Name != "Renamed" {
		t.Errorf("after the TTL: want the renamed inbox, got %q", got.Name)
	}
	if snap, _ := s.LatestSnapshot(ctx, in.ID); snap.Phone == nil || snap.Phone.QualityRating != "RED" {
		t.Errorf("after the TTL: want another process's newer snapshot, got %+v", snap.Phone)
	}
	if changes, _ := s.HealthChanges(ctx, in.ID, 10); len(changes) != 1 {
		t.Errorf("after the TTL: want another process's change in the history, got %+v", changes)
	}
}

func TestCachedValuesCannotBeChangedThroughWhatReadsReturn(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	next := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.SetRegistrationSchedule(ctx, in.ID, &next, 1)
	phone := &whatsapp.PhoneNumber{QualityRating: "GREEN", HealthStatus: &whatsapp.HealthStatus{CanSendMessage: "AVAILABLE",
		Entities: []whatsapp.HealthEntity{{ID: "1", AdditionalInfo: []string{"a"}, Errors: []whatsapp.HealthError{{ErrorCode: 1}}}}}}
	if _, err := s.AddSnapshot(ctx, HealthSnapshot{InboxID: in.ID, OK: true, Phone: phone, BusinessHealth: phone.HealthStatus}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first read may fill the cache, the second hits it
		snap, _ := s.LatestSnapshot(ctx, in.ID)
		snap.Phone.QualityRating = "X"
		snap.Phone.HealthStatus.Entities[0].AdditionalInfo[0] = "X"
		snap.Phone.HealthStatus.Entities[0].Errors[0].ErrorCode = 9
		snap.BusinessHealth.Entities[0].ID = "X"
		got, _ := s.Inbox(ctx, u.AccountID, in.ID)
		*got.RegistrationNextRetryAt = time.Time{}
		ms, _ := s.Memberships(ctx, u.UserID)
		ms[0].Role = "X"
	}
	snap, _ := s.LatestSnapshot(ctx, in.ID)
	e := snap.Phone.HealthStatus.Entities[0]
	if snap.Phone.QualityRating != "GREEN" || e.AdditionalInfo[0] != "a" || e.Errors[0].ErrorCode != 1 || snap.BusinessHealth.Entities[0].ID != "1" {
		t.Errorf("snapshot changed through a returned copy: %+v %+v", snap.Phone, snap.BusinessHealth)
	}
	if got, _ := s.Inbox(ctx, u.AccountID, in.ID); !got.RegistrationNextRetryAt.Equal(next) {
		t.Errorf("inbox changed through a returned copy: %v", got.RegistrationNextRetryAt)
	}
	if ms, _ := s.Memberships(ctx, u.UserID); ms[0].Role != RoleAdministrator {
		t.Errorf("memberships changed through a returned copy: %+v", ms)
	}
}

// TestCloneSnapshotCopiesEveryReference fails when a pointer, slice or map field is
// added to the cached types without cloneSnapshot/cloneInbox copying it.
func TestCloneSnapshotCopiesEveryReference(t *testing.T) {
	known := map[string]bool{
		"db.HealthSnapshot.Phone":                   true,
		"db.HealthSnapshot.BusinessHealth":          true,
		"whatsapp.PhoneNumber.HealthStatus":         true,
		"whatsapp.PhoneNumber.WebhookConfiguration": true,
		"whatsapp.PhoneNumber.IsOnBizApp":           true,
		"whatsapp.HealthStatus.Entities":            true,
		"whatsapp.HealthEntity.AdditionalInfo":      true,
		"whatsapp.HealthEntity.Errors":              true,
		"db.Inbox.RegistrationNextRetryAt":          true,
		"db.Inbox.WebhookSubscribedAt":              true,
		"db.Inbox.NameChangeApprovedAt":             true,
		"db.Inbox.WebhookAppsCheckedAt":             true,
		"db.Inbox.MetaCheckedAt":                    true,
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ == reflect.TypeFor[time.Time]() {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			switch f.Type.Kind() {
			case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface, reflect.Func, reflect.Chan:
				if name := typ.String() + "." + f.Name; !known[name] {
					t.Errorf("%s is a %s: make cloneSnapshot/cloneInbox copy it, then list it here", name, f.Type.Kind())
				}
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[HealthSnapshot]())
	walk(reflect.TypeFor[Inbox]())
	walk(reflect.TypeFor[User]())
	walk(reflect.TypeFor[Membership]())
}

func TestTTLCacheFillLosesToAConcurrentWrite(t *testing.T) {
	c := newTTLCache[int, string](time.Minute)
	now := time.Now()
	_, _, gen := c.get(1, now) // a read misses and goes to the database...
	c.drop(1)                  // ...while a write commits and drops the entry
	c.fill(1, "old", now, gen) // the read's (old) row must not be cached
	if _, ok, _ := c.get(1, now); ok {
		t.Fatal("a fill that raced a write was cached")
	}
	for i := range maxCacheEntries + 1 {
		c.put(i, "v", now, false, nil)
	}
	if n := len(c.entries); n > maxCacheEntries {
		t.Fatalf("bounded: want at most %d entries, got %d", maxCacheEntries, n)
	}
	c.put(-1, "v", now, true, nil)
	if _, ok, _ := c.get(-1, now); ok {
		t.Fatal("put ifCached stored over no entry")
	}
	later := now.Add(time.Minute)
	c.put(-2, "v", later, false, nil) // sweeps out everything expired by then
	if n := len(c.entries); n != 1 {
		t.Fatalf("expired entries: want them swept out on the next store, %d left", n)
	}
}

// The per-number webhook callback finds its inbox by phone number on every delivery;
// the lookup is cached, and must follow the store's own renumbering and deleting at
// once and another process's within the TTL.
func TestInboxByPhoneNumberFollowsRenumberingAndDeleting(t *testing.T) {
	s, _ := openTestStore(t)
	clock := &fakeNow{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.SetClock(clock.now) // frozen: only invalidation can show the store's own writes
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	if got, err := s.InboxByPhoneNumber(ctx, "+15550100001"); err != nil || got.ID != in.ID {
		t.Fatalf("by number: want inbox %d, got %+v %v", in.ID, got, err)
	}

	// The store's own edit: the old number stops routing at once, the new one routes.
	if _, err := s.UpdateInbox(ctx, in.ID, InboxEdit{Name: in.Name, PhoneNumber: "+15550100002", PhoneNumberID: in.PhoneNumberID,
		WABAID: in.WABAID, BusinessID: in.BusinessID, MetaCheck: MetaCheckPassed,
		Change: InboxChange{Action: ChangeEdited, Actor: Actor{Name: "a@example.com"}}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.InboxByPhoneNumber(ctx, "+15550100001"); err != ErrNotFound {
		t.Errorf("old number after the edit: want ErrNotFound, got %+v %v", got, err)
	}
	if got, err := s.InboxByPhoneNumber(ctx, "+15550100002"); err != nil || got.ID != in.ID {
		t.Errorf("new number after the edit: want inbox %d, got %+v %v", in.ID, got, err)
	}

	// Another process renames and renumbers it: within the TTL the lookup is served
	// from memory (the old name shows), after it the new number routes and the old
	// does not.
	s.InboxByPhoneNumber(ctx, "+15550100002") // the inbox row is cached from here
	otherProcess(t, s, `UPDATE inboxes SET name = 'Renamed', phone_number = '+15550100003' WHERE id = ?`, in.ID)
	if got, err := s.InboxByPhoneNumber(ctx, "+15550100002"); err != nil || got.Name == "Renamed" {
		t.Errorf("within the TTL: want the cached inbox (this test checks the cache is used), got %+v %v", got, err)
	}
	clock.t = clock.t.Add(CacheTTL)
	if got, err := s.InboxByPhoneNumber(ctx, "+15550100002"); err != ErrNotFound {
		t.Errorf("after the TTL: another process's renumbering must show, got %+v %v", got, err)
	}
	if got, err := s.InboxByPhoneNumber(ctx, "+15550100003"); err != nil || got.ID != in.ID {
		t.Errorf("after the TTL: want the inbox by its new number, got %+v %v", got, err)
	}

	if err := s.DeleteInbox(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.InboxByPhoneNumber(ctx, "+15550100003"); err != ErrNotFound {
		t.Errorf("after deleting: want ErrNotFound, got %+v %v", got, err)
	}
}

// Entries stored together must not all expire together (a burst of database reads on a
// busy server), and none may outlive the TTL (another process's change shows within it).
func TestTTLCacheSpreadsExpiryWithinTheTTL(t *testing.T) {
	const ttl = time.Minute
	c := newTTLCache[int, string](ttl)
	now := time.Now()
	for i := range 1000 {
		c.put(i, "v", now, false, nil)
	}
	earliest, latest := now.Add(ttl), now
	for _, e := range c.entries {
		if e.expires.After(now.Add(ttl)) || e.expires.Before(now.Add(ttl/2)) {
			t.Fatalf("an entry expires %s after it was stored; want within [ttl/2, ttl]", e.expires.Sub(now))
		}
		if e.expires.Before(earliest) {
			earliest = e.expires
		}
		if e.expires.After(latest) {
			latest = e.expires
		}
	}
	if spread := latest.Sub(earliest); spread < ttl/4 {
		t.Fatalf("1,000 entries stored at once expire within %s of each other; want them spread over most of ttl/2", spread)
	}
	if _, ok, _ := c.get(0, now.Add(ttl)); ok {
		t.Fatal("an entry was still served at its TTL")
	}
}
