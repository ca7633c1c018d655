package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/handlers"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// faultsReadTimeout is how long a health read (page or API) may take while Meta is
// failing: reads come from the stored snapshot and must never wait on Meta.
const faultsReadTimeout = 2 * time.Second

// faultsRefreshTimeout bounds a Refresh press while Meta hangs: the Graph client's own
// timeout, plus slack for a loaded machine.
const faultsRefreshTimeout = whatsapp.DefaultTimeout + 5*time.Second

// faultsHealth is the part of the health API these tests read.
type faultsHealth struct {
	DisplayPhoneNumber *string `json:"display_phone_number"`
	Stale              bool    `json:"stale"`
	CheckedAt          *string `json:"checked_at"`
	Error              *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// faultsGet reads a URL with a fresh connection and returns status, body and duration.
func faultsGet(t *testing.T, client *http.Client, url string, header map[string]string) (int, string, time.Duration) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error(), time.Since(start)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), time.Since(start)
}

// settledGoroutines waits until the goroutine count drops to at most want (idle HTTP
// connections of the default transport and the app's Graph client closed, background
// refreshes ended), up to a deadline, and returns the last count.
func settledGoroutines(want int, within time.Duration, graph *whatsapp.Client) int {
	deadline := time.Now().Add(within)
	for {
		// Idle keep-alive connections (two goroutines each) are a pool, not a leak.
		if tr, ok := http.DefaultTransport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
		graph.CloseIdleConnections()
		runtime.GC()
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFaultsReadsServeStaleDataWhileGraphFails: with Meta answering 30 % of requests
// with 5xx and hanging on some, the health API and the Account Health tab keep
// answering fast from the last good snapshot, marked stale; the sweep's retries are
// bounded; nothing keeps calling Meta afterwards; no goroutine is left behind.
func TestFaultsReadsServeStaleDataWhileGraphFails(t *testing.T) {
	ta := startTestApp(t)
	ctx := context.Background()
	user, err := ta.Store.CreateUser(ctx, "faults@demo.test", "faults password 1", demoAccountName, db.RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	token := map[string]string{"api_access_token": user.APIAccessToken}
	if _, err := ta.App.Monitor.SweepOnce(ctx); err != nil {
		t.Fatalf("first sweep without faults: %v", err)
	}
	inboxes, err := ta.Store.AllInboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var good []db.Inbox
	for _, in := range inboxes {
		if snap, err := ta.Store.LatestSnapshot(ctx, in.ID); err == nil && snap.OK && snap.Phone != nil {
			good = append(good, in)
		}
	}
	if len(good) < 3 {
		t.Fatalf("want at least 3 demo inboxes with good health after a clean sweep, got %d of %d", len(good), len(inboxes))
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cookie := faultsLogin(t, ta.URL, demoAdminEmail, demoAdminPassword)
	apiURL := func(in db.Inbox) string {
		return fmt.Sprintf("%s/api/v1/accounts/%d/inboxes/%d/health", ta.URL, in.AccountID, in.ID)
	}
	pageURL := func(in db.Inbox) string {
		return fmt.Sprintf("%s/accounts/%d/inboxes/%d/health", ta.URL, in.AccountID, in.ID)
	}
	// Warm up every path once, then take the goroutine baseline.
	for _, in := range good {
		faultsGet(t, client, apiURL(in), token)
		faultsGet(t, client, pageURL(in), map[string]string{"Cookie": cookie})
	}
	baseline := settledGoroutines(0, 2*time.Second, ta.App.Graph)

	// 1. A fetch that fails every retry keeps the last good data, marked stale, and
	// both doors say so at once.
	target := good[0]
	lastGood, _ := ta.Store.LatestSnapshot(ctx, target.ID)
	for range 5 { // more than the client's retries
		ta.Sim.FailNext(http.MethodGet, "/"+target.PhoneNumberID, http.StatusInternalServerError,
			graphsim.GraphError{Message: "An unexpected error has occurred.", Code: 2})
	}
	snap, err := ta.App.Health.Refresh(ctx, target, db.SourceFetch)
	if err != nil {
		t.Fatalf("refresh while Meta fails: want the failure stored as data, got error %v", err)
	}
	if snap.OK || snap.Phone == nil || snap.Phone.DisplayPhoneNumber != lastGood.Phone.DisplayPhoneNumber {
		t.Fatalf("refresh while Meta fails: want a failed snapshot keeping the last good data (%q), got ok=%v phone=%v",
			lastGood.Phone.DisplayPhoneNumber, snap.OK, snap.Phone)
	}
	ta.Sim.ClearFaults() // drop injections the client's retries did not use
	status, body, took := faultsGet(t, client, apiURL(target), token)
	var h faultsHealth
	if status != http.StatusOK || json.Unmarshal([]byte(body), &h) != nil {
		t.Fatalf("health API after a failed fetch: want 200 JSON, got %d %.300s", status, body)
	}
	if !h.Stale || h.Error == nil || h.DisplayPhoneNumber == nil || *h.DisplayPhoneNumber != lastGood.Phone.DisplayPhoneNumber {
		t.Fatalf("health API after a failed fetch: want stale=true, an error and the last good display_phone_number %q, got %.400s",
			lastGood.Phone.DisplayPhoneNumber, body)
	}
	if took > faultsReadTimeout {
		t.Errorf("health API after a failed fetch: want an answer within %v, took %v", faultsReadTimeout, took)
	}
	status, body, _ = faultsGet(t, client, pageURL(target), map[string]string{"Cookie": cookie})
	if status != http.StatusOK || !strings.Contains(body, `data-testid="stale-warning"`) || !strings.Contains(body, `data-testid="health-badges"`) {
		t.Fatalf("Account Health tab after a failed fetch: want 200 with the stale warning and the last good badges, got %d (stale warning %v, badges %v)",
			status, strings.Contains(body, "stale-warning"), strings.Contains(body, "health-badges"))
	}

	// 2. Random faults: 30 % 5xx and 10 % hangs, during a sweep and reads in parallel.
	groups := map[string]bool{}
	for _, in := range inboxes {
		groups[in.WABAID] = true // the demo has one token per business account
	}
	ta.Sim.ResetRequests()
	ta.Sim.SetFaults(graphsim.Faults{ServerErrorRate: 0.3, HangRate: 0.1})
	sweepDone := make(chan error, 1)
	sweepStart := time.Now()
	go func() {
		sweepCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		_, err := ta.App.Monitor.SweepOnce(sweepCtx)
		sweepDone <- err
	}()
	var (
		mu       sync.Mutex
		reads    int
		slowest  time.Duration
		failures []string
	)
	var wg sync.WaitGroup
	stopReads := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopReads:
					return
				default:
				}
				in := good[(w+i)%len(good)]
				url, hdr := apiURL(in), token
				if i%2 == 1 {
					url, hdr = pageURL(in), map[string]string{"Cookie": cookie}
				}
				status, body, took := faultsGet(t, client, url, hdr)
				mu.Lock()
				reads++
				slowest = max(slowest, took)
				if status != http.StatusOK {
					failures = append(failures, fmt.Sprintf("GET %s: %d %.200s", url, status, body))
				}
				if i%2 == 0 && status == http.StatusOK {
					var h faultsHealth
					if err := json.Unmarshal([]byte(body), &h); err != nil || h.DisplayPhoneNumber == nil || *h.DisplayPhoneNumber == "" {
						failures = append(failures, fmt.Sprintf("GET %s: want the last good display_phone_number, got %.300s", url, body))
					}
				}
				mu.Unlock()
			}
		})
	}
	// People press Refresh on every inbox meanwhile: each answer comes within the
	// refresh's own bound (the Graph client's timeout), showing the panel either way.
	var refreshes sync.WaitGroup
	for _, in := range inboxes {
		refreshes.Go(func() {
			url := fmt.Sprintf("%s/accounts/%d/inboxes/%d/health/refresh", ta.URL, in.AccountID, in.ID)
			req, _ := http.NewRequest(http.MethodPost, url, nil)
			req.Header.Set("Cookie", cookie)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.Header.Set("HX-Request", "true")
			start := time.Now()
			resp, err := client.Do(req)
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, fmt.Sprintf("POST %s: %v after %v", url, err, took))
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="health-panel"`) {
				failures = append(failures, fmt.Sprintf("POST %s: want 200 with the health panel, got %d %.200s", url, resp.StatusCode, body))
			}
			if took > faultsRefreshTimeout {
				failures = append(failures, fmt.Sprintf("POST %s: want an answer within %v, took %v", url, faultsRefreshTimeout, took))
			}
		})
	}
	refreshes.Wait()
	err = <-sweepDone
	sweepTook := time.Since(sweepStart)
	close(stopReads)
	wg.Wait()
	if err != nil {
		t.Fatalf("sweep under faults: want fetch failures recorded as data, got error %v", err)
	}
	sweepRequests := ta.Sim.Requests()
	sweepCalls := len(sweepRequests)
	ta.Sim.ClearFaults()
	faults := map[string]int{}
	for _, r := range sweepRequests {
		faults[r.Fault]++
	}
	if faults["server_error"] == 0 || faults["hang"] == 0 {
		t.Fatalf("faulty sweep: want the simulator to have answered some 5xx and hung on some calls, got faults %v", faults)
	}
	if len(failures) > 0 {
		t.Fatalf("reads during the faulty sweep: want every one 200 with the last good data, %d of %d were not; first: %s", len(failures), reads, failures[0])
	}
	if slowest > faultsReadTimeout {
		t.Errorf("reads during the faulty sweep: want each within %v, the slowest took %v", faultsReadTimeout, slowest)
	}
	// The client tries a transient failure at most 3 times: the sweep and the refreshes
	// are bounded by that, not a retry storm.
	if limit := 3 * (len(groups) + len(inboxes)); sweepCalls > limit {
		t.Errorf("faulty sweep and refreshes: want at most %d Graph calls (3 tries × (%d business accounts + %d refreshes)), got %d",
			limit, len(groups), len(inboxes), sweepCalls)
	}
	t.Logf("faulty sweep: %d Graph calls (faults %v) for %d business accounts in %v; %d reads, slowest %v", sweepCalls, faults, len(groups), sweepTook.Round(time.Millisecond), reads, slowest)

	// Nothing calls Meta in a loop once the sweep is over (the next one is an hour away).
	ta.Sim.ResetRequests()
	time.Sleep(3 * time.Second)
	if n := len(ta.Sim.Requests()); n != 0 {
		t.Errorf("after the faulty sweep: want no Graph calls until the next sweep, got %d in 3 s", n)
	}

	// 3. No goroutine outlives the faults (hung calls end at the client's timeout).
	if n := settledGoroutines(baseline+5, 30*time.Second, ta.App.Graph); n > baseline+5 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("goroutines: want at most %d (baseline %d + 5) once the faults are over, got %d\n%s", baseline+5, baseline, n, buf)
	}
}

func faultsLogin(t *testing.T, baseURL, email, password string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, baseURL+"/login", strings.NewReader("email="+email+"&password="+strings.ReplaceAll(password, " ", "+")))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("log in as %s: want 303, got %d", email, resp.StatusCode)
	}
	var parts []string
	for _, c := range resp.Cookies() {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// faultsRateLimitEnv is two business accounts of three numbers each behind a simulator
// on a fake clock, with the store, health service, monitor and handlers on that clock.
type faultsRateLimitEnv struct {
	t0             time.Time
	clock          *graphsim.FakeClock
	sim            *graphsim.Server
	store          *db.Store
	mon            *health.Monitor
	app            *httptest.Server
	admin          db.NewUserResult
	limited, other string
	numbers        map[string][]string
	limitedInbox   db.Inbox
}

func newFaultsRateLimitEnv(t *testing.T) *faultsRateLimitEnv {
	t.Helper()
	ctx := context.Background()
	e := &faultsRateLimitEnv{t0: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), limited: "201000000000001", other: "201000000000002",
		numbers: map[string][]string{}}
	e.clock = graphsim.NewFakeClock(e.t0)
	e.sim = graphsim.New(graphsim.Config{Clock: e.clock})
	t.Cleanup(e.sim.Close)
	for i, waba := range []string{e.limited, e.other} {
		if err := e.sim.AddBusiness(graphsim.Business{WABAID: waba, BusinessID: fmt.Sprintf("30100000000000%d", i), Name: "Biz",
			AccessToken: "token-" + waba}); err != nil {
			t.Fatal(err)
		}
		for n := range 3 {
			id := fmt.Sprintf("10100000000%d%03d", i, n)
			e.numbers[waba] = append(e.numbers[waba], id)
			if err := e.sim.AddNumber(graphsim.Number{PhoneNumber: fmt.Sprintf("+1555010%d%03d", i, n), PhoneNumberID: id, WABAID: waba,
				PlatformType: "CLOUD_API", ThroughputLevel: "STANDARD", Status: "CONNECTED", QualityRating: "GREEN"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	simSrv := httptest.NewServer(e.sim)
	t.Cleanup(simSrv.Close)

	cipher, _ := db.NewCipher("faults-secret")
	store, err := db.Open(ctx, filepath.Join(t.TempDir(), "app.db"), cipher)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	store.SetClock(e.clock.Now)
	e.store = store
	logger := slog.New(slog.DiscardHandler)
	client := whatsapp.NewClient(simSrv.URL+e.sim.Prefix(), nil)
	svc := health.NewService(store, client, health.Options{Now: e.clock.Now, Logger: logger})
	t.Cleanup(svc.Close)
	e.mon = health.NewMonitor(svc, store, client, health.MonitorOptions{Now: e.clock.Now, Logger: logger, Retention: -1})
	if e.admin, err = store.CreateUser(ctx, "rl@example.com", "rate limit pw", "RL", db.RoleAdministrator); err != nil {
		t.Fatal(err)
	}
	for i, waba := range []string{e.limited, e.other} {
		for n, id := range e.numbers[waba] {
			in, err := store.CreateInbox(ctx, db.NewInbox{AccountID: e.admin.AccountID, Name: id, PhoneNumber: fmt.Sprintf("+1555010%d%03d", i, n),
				PhoneNumberID: id, WABAID: waba, AccessToken: "token-" + waba})
			if err != nil {
				t.Fatal(err)
			}
			if waba == e.limited && n == 0 {
				e.limitedInbox = in
			}
		}
	}
	h := handlers.New(handlers.Config{SessionAuthKey: cipher.DeriveKey("a"), SessionEncryptionKey: cipher.DeriveKey("e"), Logger: logger, Now: e.clock.Now},
		handlers.Deps{Store: store, Health: svc})
	e.app = httptest.NewServer(h.Routes())
	t.Cleanup(e.app.Close)

	e.sweep(t, "before the limit")
	e.sim.RateLimitBusiness(e.limited, 30)
	e.sim.ResetRequests()
	e.sweep(t, "that meets the limit")
	if n := e.touches(e.limited); n != 1 {
		t.Fatalf("sweep meeting the rate limit: want exactly 1 call to the limited account (80008 is not retried), got %d", n)
	}
	return e
}

// touches counts logged Graph requests about a business account or its numbers.
func (e *faultsRateLimitEnv) touches(waba string) int {
	ids := map[string]bool{waba: true}
	for _, id := range e.numbers[waba] {
		ids[id] = true
	}
	n := 0
	for _, r := range e.sim.Requests() {
		if ids[r.ObjectID] {
			n++
		}
	}
	return n
}

func (e *faultsRateLimitEnv) sweep(t *testing.T, when string) {
	t.Helper()
	if _, err := e.mon.SweepOnce(context.Background()); err != nil {
		t.Fatalf("sweep %s: %v", when, err)
	}
}

// TestFaultsRateLimitNoCallsUntilAnnouncedTime: when Meta answers 80008 with
// X-Business-Use-Case-Usage announcing 30 minutes, the monitor makes no Graph call for
// that business account until the 30 minutes are over; other accounts carry on.
func TestFaultsRateLimitNoCallsUntilAnnouncedTime(t *testing.T) {
	e := newFaultsRateLimitEnv(t)
	if until := e.mon.RateLimitedUntil(e.limited); until.Before(e.t0.Add(29*time.Minute)) || until.After(e.t0.Add(31*time.Minute)) {
		t.Fatalf("monitor: want no calls to the limited account until about %v (30 min announced), got %v", e.t0.Add(30*time.Minute), until)
	}
	for _, after := range []time.Duration{time.Minute, 10 * time.Minute, 29 * time.Minute} {
		e.clock.Set(e.t0.Add(after))
		e.sim.ResetRequests()
		e.sweep(t, fmt.Sprintf("%v into the limit", after))
		if n := e.touches(e.limited); n != 0 {
			t.Fatalf("%v into a 30 min rate limit: want no Graph call for the limited account, got %d", after, n)
		}
		if n := e.touches(e.other); n == 0 {
			t.Fatalf("%v into the limit: want the other account swept as usual, it got no call", after)
		}
	}
	e.clock.Set(e.t0.Add(30*time.Minute + time.Second))
	e.sim.ResetRequests()
	e.sweep(t, "after the announced time")
	if n := e.touches(e.limited); n != 1 {
		t.Fatalf("after the announced 30 min: want the limited account swept again with 1 call, got %d", n)
	}
	if snap, err := e.store.LatestSnapshot(context.Background(), e.limitedInbox.ID); err != nil || !snap.OK {
		t.Fatalf("after the announced 30 min: want fresh good health for the limited account's inbox, got ok=%v err=%v", snap.OK, err)
	}
}

// TestFaultsRateLimitReadsDoNotCallMeta: a health read of an inbox whose snapshot is
// older than the service's TTL must not call Meta either while its business account
// is rate limited.
func TestFaultsRateLimitReadsDoNotCallMeta(t *testing.T) {
	e := newFaultsRateLimitEnv(t)
	for _, after := range []time.Duration{time.Minute, 10 * time.Minute, 29 * time.Minute} {
		e.clock.Set(e.t0.Add(after))
		e.sim.ResetRequests()
		status, body, _ := faultsGet(t, http.DefaultClient, fmt.Sprintf("%s/api/v1/accounts/%d/inboxes/%d/health", e.app.URL, e.admin.AccountID, e.limitedInbox.ID),
			map[string]string{"api_access_token": e.admin.APIAccessToken})
		if status != http.StatusOK {
			t.Fatalf("%v into the limit: health API want 200, got %d %.300s", after, status, body)
		}
		time.Sleep(300 * time.Millisecond) // a background refresh, if any, reaches the simulator by now
		if n := e.touches(e.limited); n != 0 {
			t.Errorf("%v into a 30 min rate limit: a health read of an inbox of the limited account called Meta %d time(s); want none until the announced time", after, n)
		}
	}
}
