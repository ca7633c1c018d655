package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

func TestHealthRefreshCooldownJoinsClicksIntoOneGraphCall(t *testing.T) {
	sim, client := newSimClient(t, healthTestAppSecret, "connected")
	cipher, store := newTestStore(t, "refresh-cooldown-tests")
	clock := &testClock{t: time.Now()} // snapshots carry the service's time; the store's reads compare with it
	svc := health.NewService(store, client, health.Options{Logger: discardLogger(), Now: clock.now})
	t.Cleanup(svc.Close)
	h := New(Config{FrontendURL: "http://health.test", SessionAuthKey: cipher.DeriveKey("a"), SessionEncryptionKey: cipher.DeriveKey("e"),
		Logger: discardLogger()}, Deps{Store: store, Health: svc})
	env := &healthEnv{t: t, store: store, cipher: cipher, sim: sim, svc: svc, inboxes: map[string]db.Inbox{}}
	env.routes = h.Routes()
	env.srv = httptest.NewServer(env.routes)
	t.Cleanup(env.srv.Close)
	env.admin = createTestUser(t, store, "admin@health.test", "Health Co", db.RoleAdministrator)
	seedScenarios(t, store, env.admin.AccountID, []string{"connected"}, env.inboxes)
	in := env.inbox(inboxConnected)
	env.refresh(in)

	ctx := context.Background()
	graphCalls := func() int { return sim.CountRequests(http.MethodGet, "/"+in.PhoneNumberID) }
	snapshots := func() int {
		n, err := store.CountChecks(ctx, in.ID) // stored looks (change-only snapshots)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	calls, snaps := graphCalls(), snapshots()

	s := env.login("admin@health.test")
	token := s.csrf(views.InboxHealthURL(env.admin.AccountID, in.ID))
	path := views.InboxHealthRefreshURL(env.admin.AccountID, in.ID)
	var wg sync.WaitGroup
	statuses := make([]int, 50)
	for i := range statuses {
		wg.Go(func() {
			resp, _ := s.post(path, nil, map[string]string{"HX-Request": "true", "X-CSRF-Token": token})
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusOK {
			t.Fatalf("click %d: want 200 with the panel, got %d", i, st)
		}
	}
	if got := graphCalls() - calls; got != 1 {
		t.Errorf("50 concurrent Refresh clicks: want exactly one Graph call, got %d", got)
	}
	if got := snapshots() - snaps; got != 1 {
		t.Errorf("50 concurrent Refresh clicks: want exactly one snapshot, got %d", got)
	}

	// The API refresh shares the cooldown: within 30 s no call, after it one.
	apiRefresh := func() {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, env.srv.URL+"/api/v1/accounts/"+itoa(env.admin.AccountID)+"/inboxes/"+itoa(in.ID)+"/health/refresh", nil)
		req.Header.Set(headerAPIAccessToken, env.admin.APIAccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("API refresh: want 200, got %d", resp.StatusCode)
		}
	}
	clock.advance(health.RefreshCooldown - time.Second)
	apiRefresh()
	if got := graphCalls() - calls; got != 1 {
		t.Errorf("API refresh within the cooldown: want no further Graph call, got %d in all", got)
	}
	clock.advance(2 * time.Second)
	apiRefresh()
	if got := graphCalls() - calls; got != 2 {
		t.Errorf("API refresh after the cooldown: want one more Graph call, got %d in all", got)
	}
}
