package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/bench"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// Soak bounds. Memory is "flat" when, after a warm-up, no later sample of the server's
// resident memory exceeds the warm-up sample by more than soakRSSGrowth (relative) and
// soakRSSSlack (absolute, for the Go heap's normal breathing).
const (
	soakDefaultDuration = 60 * time.Second
	soakWarmup          = 15 * time.Second
	soakRSSGrowth       = 0.25
	soakRSSSlack        = 16 << 10 // KiB
	soakWorkers         = 16
)

// TestSoak runs mixed load against the real binary: health reads (API, tab, inbox
// list), refreshes, "Complete registration" banner posts and signed webhooks, with the
// monitor sweeping every 10 s. Wanted: no 5xx and no transport error, flat memory, and
// a consistent database afterwards. Runs with SOAK=1 (make soak); SOAK_DURATION
// overrides the 60 s.
func TestSoak(t *testing.T) {
	if os.Getenv("SOAK") != "1" {
		t.Skip("soak test: run with SOAK=1 (make soak)")
	}
	duration := soakDefaultDuration
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 20*time.Second {
			t.Fatalf("SOAK_DURATION=%q: want a duration of at least 20s", v)
		}
		duration = d
	}
	bin := webBinary(t)
	const appSecret = "soak-app-secret"
	fleet := bench.Fleet{Businesses: 20, NumbersPerBusiness: 10, Accounts: 2, HistoryDays: 7, SnapshotEvery: 6 * time.Hour}
	sim, err := fleet.NewSimulator(appSecret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	// Every third number is verified but not registered yet: banner posts register it.
	for w := range fleet.Businesses {
		for n := 0; n < fleet.NumbersPerBusiness; n += 3 {
			sim.UpdateNumber(bench.PhoneNumberID(w, n), func(num *graphsim.Number) {
				num.PlatformType, num.ThroughputLevel, num.Status, num.PIN = "NOT_APPLICABLE", "NOT_APPLICABLE", "PENDING", ""
			})
		}
	}
	sim.SetFaults(graphsim.Faults{Latency: 20 * time.Millisecond})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)

	dir := t.TempDir()
	dbPath := filepath.Join(dir, "app.db")
	const secret = "soak-secret-key-at-least-32-bytes-long"
	fx, err := fleet.BuildFixture(context.Background(), dbPath, secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "DATABASE_PATH="+dbPath, "SECRET_KEY="+secret, "GRAPH_API_URL="+simSrv.URL+sim.Prefix(),
		"WHATSAPP_APP_SECRET="+appSecret, "HEALTH_REFRESH_INTERVAL=10s")
	srv := crashStart(t, bin, env)
	user := fx.Users[0]
	cookie := faultsLogin(t, srv.URL, user.Email, user.Password)

	type target struct {
		id    int64
		phone string
		waba  string
	}
	var mine []target
	for w := range fleet.Businesses {
		if fleet.AccountOf(w) != 0 {
			continue
		}
		for n := range fleet.NumbersPerBusiness {
			mine = append(mine, target{id: fx.InboxIDs[w*fleet.NumbersPerBusiness+n], phone: bench.PhoneNumber(w, n), waba: bench.WABAID(w)})
		}
	}

	var (
		mu       sync.Mutex
		counts   = map[string]map[int]int{}
		problems []string
		webhooks atomic.Int64
	)
	record := func(op string, status int, detail string) {
		mu.Lock()
		defer mu.Unlock()
		if counts[op] == nil {
			counts[op] = map[int]int{}
		}
		counts[op][status]++
		if (status == 0 || status >= 500) && len(problems) < 20 {
			problems = append(problems, fmt.Sprintf("%s: %d %.200s", op, status, detail))
		}
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: soakWorkers},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(op string, req *http.Request) {
		resp, err := client.Do(req)
		if err != nil {
			record(op, 0, err.Error())
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		record(op, resp.StatusCode, string(body))
		if op == "webhook" && resp.StatusCode == http.StatusOK {
			webhooks.Add(1)
		}
	}
	ops := []func(w, i int){
		func(w, i int) { // health API
			in := mine[(w*31+i)%len(mine)]
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/accounts/%d/inboxes/%d/health", srv.URL, user.AccountID, in.id), nil)
			req.Header.Set("api_access_token", user.APIToken)
			do("api health", req)
		},
		func(w, i int) { // Account Health tab
			in := mine[(w*17+i)%len(mine)]
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/accounts/%d/inboxes/%d/health", srv.URL, user.AccountID, in.id), nil)
			req.Header.Set("Cookie", cookie)
			do("health tab", req)
		},
		func(w, i int) { // inbox list, needing-attention filter
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/accounts/%d/inboxes?status=attention", srv.URL, user.AccountID), nil)
			req.Header.Set("Cookie", cookie)
			do("inbox list", req)
		},
		func(w, i int) { // Refresh button (htmx)
			in := mine[(w*13+i)%len(mine)]
			req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/accounts/%d/inboxes/%d/health/refresh", srv.URL, user.AccountID, in.id), nil)
			req.Header.Set("Cookie", cookie)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.Header.Set("HX-Request", "true")
			do("refresh", req)
		},
		func(w, i int) { // "Complete registration" banner (htmx)
			in := mine[(w*7+i)%len(mine)]
			req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/accounts/%d/inboxes/%d/registration", srv.URL, user.AccountID, in.id), nil)
			req.Header.Set("Cookie", cookie)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.Header.Set("HX-Request", "true")
			do("banner", req)
		},
		func(w, i int) { // signed webhook
			in := mine[(w*11+i)%len(mine)]
			quality := []string{"GREEN", "YELLOW"}[i%2]
			body := fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":%q,"time":%d,"changes":[{"field":"phone_number_quality_update","value":{"display_phone_number":%q,"event":"ONBOARDING","current_limit":"TIER_1K","quality_rating":%q}}]}]}`,
				in.waba, time.Now().Unix(), strings.TrimPrefix(in.phone, "+"), quality)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/whatsapp/"+strings.TrimPrefix(in.phone, "+"), strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Hub-Signature-256", graphsim.Sign([]byte(appSecret), body))
			do("webhook", req)
		},
	}
	// Reads are most of the traffic; writes come often enough to matter.
	mix := []int{0, 0, 0, 1, 1, 1, 2, 0, 1, 3, 5, 5, 4}

	var samples []int64
	var sampleTimes []time.Duration
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range soakWorkers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ops[mix[(w+i)%len(mix)]](w, i)
			}
		})
	}
	ticker := time.NewTicker(time.Second)
	for time.Since(start) < duration {
		<-ticker.C
		rss, err := bench.ProcessRSS(srv.cmd.Process.Pid)
		if err != nil {
			t.Fatalf("read the server's memory: %v\n%s", err, srv.log)
		}
		samples = append(samples, rss.CurrentKiB)
		sampleTimes = append(sampleTimes, time.Since(start))
	}
	ticker.Stop()
	close(stop)
	wg.Wait()
	total := 0
	for _, byStatus := range counts {
		for _, n := range byStatus {
			total += n
		}
	}
	t.Logf("soak: %d requests in %v (%.0f/s) by %d workers; statuses by operation: %v", total, duration, float64(total)/duration.Seconds(), soakWorkers, counts)
	t.Logf("soak: resident memory samples (KiB, one per second): %v", samples)
	srv.stop(syscall.SIGTERM)

	if len(problems) > 0 {
		t.Errorf("soak: want no 5xx and no transport error, got %d kinds; first: %v", len(problems), problems)
	}
	for op, byStatus := range counts {
		if byStatus[http.StatusOK]+byStatus[http.StatusNoContent]+byStatus[http.StatusSeeOther] == 0 {
			t.Errorf("soak: operation %q never succeeded: %v", op, byStatus)
		}
	}
	// Memory: the sample at the end of the warm-up against every later one.
	warm := slices.IndexFunc(sampleTimes, func(d time.Duration) bool { return d >= soakWarmup })
	if warm < 0 || warm == len(samples)-1 {
		t.Fatalf("soak: too few memory samples after the %v warm-up: %v", soakWarmup, samples)
	}
	base := samples[warm]
	limit := max(int64(float64(base)*(1+soakRSSGrowth)), base+soakRSSSlack)
	if peak := slices.Max(samples[warm:]); peak > limit {
		t.Errorf("soak: want resident memory flat after the warm-up (≤ %d KiB: %d KiB +%.0f%% or +%d KiB), got a peak of %d KiB", limit, base, soakRSSGrowth*100, soakRSSSlack, peak)
	}

	// The database is consistent, and every accepted webhook was stored.
	store := crashOffline(t, dbPath, secret)
	defer store.Close()
	if v, err := store.IntegrityCheck(context.Background()); err != nil || v != "ok" {
		t.Fatalf("soak: want PRAGMA integrity_check = ok, got %q (%v)", v, err)
	}
	if n, err := store.CountWebhookEvents(context.Background()); err != nil || int64(n) != webhooks.Load() {
		t.Fatalf("soak: want one stored event per accepted webhook (%d), got %d (%v)", webhooks.Load(), n, err)
	}
	if registered := sim.CountRequests(http.MethodPost, "/"+bench.PhoneNumberID(0, 0)+"/register"); registered > 10 {
		t.Errorf("soak: banner posts on one number made %d register calls; want them to stop once it is registered", registered)
	}
}
