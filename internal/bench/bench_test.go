package bench

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

func TestResultPercentilesAndMerge(t *testing.T) {
	a := Result{Requests: 100, Elapsed: time.Second, statuses: map[int]int{200: 100}}
	for i := 1; i <= 100; i++ {
		a.latencies = append(a.latencies, time.Duration(i)*time.Millisecond)
	}
	if got := a.Percentile(50); got != 50*time.Millisecond {
		t.Fatalf("p50 of 1..100 ms: want 50ms, got %v", got)
	}
	if got := a.Percentile(99); got != 99*time.Millisecond {
		t.Fatalf("p99 of 1..100 ms: want 99ms, got %v", got)
	}
	m := a.Merge(Result{Requests: 1, Elapsed: time.Second, latencies: []time.Duration{time.Second}, statuses: map[int]int{500: 1}, Failures: 1})
	if m.Requests != 101 || m.Failures != 1 || m.RPS() != 50.5 || m.Percentile(100) != time.Second || m.Statuses()[500] != 1 {
		t.Fatalf("merge: want 101 requests, 1 failure, 50.5 req/s, max 1s, got %+v (rps %v)", m, m.RPS())
	}
}

func TestLoadCountsFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	res := Load{Conns: 4, Duration: 200 * time.Millisecond, Request: func(w, i int) *http.Request {
		path := "/ok"
		if i%2 == 1 {
			path = "/fail"
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		return req
	}}.Run(context.Background())
	if res.Requests == 0 || res.Failures == 0 || res.Failures == res.Requests || res.Statuses()[500] != res.Failures {
		t.Fatalf("want some successes and every 500 counted as a failure, got %d requests, %d failures, statuses %v", res.Requests, res.Failures, res.Statuses())
	}
}

// A paced load sends at its rate, not as fast as answers come; and a server slower
// than the pace is charged for the requests waiting behind it, not only for each
// answer's own time.
func TestPacedLoadKeepsItsRateAndChargesTheWait(t *testing.T) {
	fast := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer fast.Close()
	paced := Load{Conns: 4, Rate: 200, Duration: time.Second, Request: func(w, i int) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, fast.URL, nil)
		return req
	}}.Run(context.Background())
	if paced.Requests < 150 || paced.Requests > 210 {
		t.Fatalf("paced at 200 req/s for 1 s: want about 200 requests, got %d", paced.Requests)
	}

	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { time.Sleep(20 * time.Millisecond) }))
	defer slow.Close()
	behind := Load{Conns: 1, Rate: 100, Duration: time.Second, Request: func(w, i int) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, slow.URL, nil)
		return req
	}}.Run(context.Background())
	// 100 planned a second, 50 answered: the last ones waited about half a second.
	if behind.Requests > 60 || behind.Percentile(99) < 300*time.Millisecond {
		t.Fatalf("a 20 ms server paced at 100 req/s on one connection: want at most ~50 answers and a p99 of several hundred ms, got %d requests, p99 %v", behind.Requests, behind.Percentile(99))
	}
}

// smallFleet is big enough to have several accounts, pages and changes.
var smallFleet = Fleet{Businesses: 4, NumbersPerBusiness: 3, Accounts: 2, HistoryDays: 30, SnapshotEvery: 24 * time.Hour}

func TestFixtureIsReadByTheStoreAndSweptGrouped(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fleet.db")
	fx, err := smallFleet.BuildFixture(ctx, path, "fixture-secret", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if fx.Snapshots != smallFleet.Inboxes()*30 || len(fx.InboxIDs) != 12 || len(fx.Users) != 2 {
		t.Fatalf("want 12 inboxes with 30 snapshots each and 2 users, got %d inboxes, %d snapshots, %d users", len(fx.InboxIDs), fx.Snapshots, len(fx.Users))
	}
	cipher, _ := db.NewCipher("fixture-secret")
	store, err := db.Open(ctx, path, cipher)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	secrets, err := store.Secrets(ctx, fx.InboxIDs[smallFleet.index(2, 1)])
	if err != nil || secrets.AccessToken != AccessToken(2) {
		t.Fatalf("want the inbox's token decrypted by the store's cipher, got %q (%v)", secrets.AccessToken, err)
	}
	snap, err := store.LatestSnapshot(ctx, fx.InboxIDs[0])
	if err != nil || !snap.OK || snap.Phone == nil || snap.Phone.ID != PhoneNumberID(0, 0) {
		t.Fatalf("want the newest snapshot readable with its phone, got %+v (%v)", snap, err)
	}
	changes, err := store.HealthChanges(ctx, fx.InboxIDs[0], 10)
	if err != nil || len(changes) != 2 {
		t.Fatalf("inbox 0 dipped to YELLOW once: want 2 changes in its history, got %v (%v)", changes, err)
	}

	sim, err := smallFleet.NewSimulator("")
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	logger := slog.New(slog.DiscardHandler)
	client := NewProductionGraphClient(srv.URL+sim.Prefix(), logger)
	svc := health.NewService(store, client, health.Options{Logger: logger})
	defer svc.Close()
	stats, err := health.NewMonitor(svc, store, client, health.MonitorOptions{Logger: logger}).SweepOnce(ctx)
	if err != nil || stats.InboxesUpdated != 12 || stats.Errors != 0 {
		t.Fatalf("sweep of the fixture: want 12 inboxes updated, got %+v (%v)", stats, err)
	}
	if n := len(sim.Requests()); n != smallFleet.Businesses {
		t.Fatalf("grouped sweep: want one call per business account (%d), got %d", smallFleet.Businesses, n)
	}
}

// BenchmarkSweep measures one grouped monitor sweep of a 400-inbox fleet against the
// simulator with no latency (the Graph calls themselves are figure 4 of make bench).
func BenchmarkSweep(b *testing.B) {
	ctx := context.Background()
	fleet := Fleet{Businesses: 20, NumbersPerBusiness: 20, Accounts: 2, HistoryDays: 1, SnapshotEvery: 24 * time.Hour}
	path := filepath.Join(b.TempDir(), "fleet.db")
	if _, err := fleet.BuildFixture(ctx, path, "bench-secret", time.Now()); err != nil {
		b.Fatal(err)
	}
	cipher, _ := db.NewCipher("bench-secret")
	store, err := db.Open(ctx, path, cipher)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	sim, err := fleet.NewSimulator("")
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	logger := slog.New(slog.DiscardHandler)
	client := NewProductionGraphClient(srv.URL+sim.Prefix(), logger)
	svc := health.NewService(store, client, health.Options{Logger: logger})
	defer svc.Close()
	mon := health.NewMonitor(svc, store, client, health.MonitorOptions{Logger: logger, Retention: -1})
	sim.ResetRequests()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mon.SweepOnce(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(sim.Requests()))/float64(b.N), "graph-calls/op")
	b.ReportMetric(float64(fleet.Inboxes()), "inboxes/op")
}

// BenchmarkStorageDay stores a day of 15-minute sweeps of 1,000 inboxes, 1 % of them
// changing per sweep (the full scale is make bench's x4 and x5).
func BenchmarkStorageDay(b *testing.B) {
	ctx := context.Background()
	fleet := Fleet{Businesses: 50, NumbersPerBusiness: 20, Accounts: 1}
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "storage.db")
		fx, err := fleet.BuildFixture(ctx, path, "bench-secret", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		g, err := fleet.MeasureStorage(ctx, fx, 24*time.Hour, 0.01, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(g.Added())/float64(fleet.Inboxes()), "bytes/inbox/day")
		b.ReportMetric(float64(g.Rows), "rows")
	}
}

// BenchmarkWebhookIngest is make bench's x1 on a small fleet, for profiling: signed
// quality updates at 64 connections for 3 s, beside bare Echo.
func BenchmarkWebhookIngest(b *testing.B) {
	ctx := context.Background()
	fleet := Fleet{Businesses: 20, NumbersPerBusiness: 20, Accounts: 1, HistoryDays: 1, SnapshotEvery: 6 * time.Hour}
	path := filepath.Join(b.TempDir(), "fleet.db")
	if _, err := fleet.BuildFixture(ctx, path, benchSecretKey, time.Now()); err != nil {
		b.Fatal(err)
	}
	app, err := StartApp(ctx, path, benchSecretKey, "http://127.0.0.1:1/v24.0", benchAppSecret, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	bare, err := Serve(BareEchoSink(map[string]any{"received": 1, "applied": 0, "duplicates": 0}))
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Close()
	n := fleet.Inboxes()
	var deliveries atomic.Int64
	firstTime := time.Now().Unix()
	hook := Load{Conns: 64, Duration: 2 * time.Second, Warmup: 500 * time.Millisecond, Request: func(w, i int) *http.Request {
		wi, k := fleet.position((w*7919 + i*104729) % n)
		return qualityDelivery(app.URL, WABAID(wi), PhoneNumber(wi, k), firstTime, deliveries.Add(1))
	}}
	bareLoad := Load{Conns: 64, Duration: 2 * time.Second, Warmup: 500 * time.Millisecond, Request: func(w, i int) *http.Request {
		wi, k := fleet.position((w*7919 + i*104729) % n)
		return qualityDelivery(bare.URL, WABAID(wi), PhoneNumber(wi, k), firstTime, int64(i))
	}}
	var commits atomic.Int64
	app.Store.SetWriteObserver(func(op string, _ time.Duration) {
		if op == "webhook_event" {
			commits.Add(1)
		}
	})
	for b.Loop() {
		before, err := countEvents(app.Store)
		if err != nil {
			b.Fatal(err)
		}
		commits.Store(0)
		bb, t := Compare(ctx, 3, bareLoad, hook)
		after, err := countEvents(app.Store)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(after-before)/float64(max(1, commits.Load())), "events/commit")
		b.ReportMetric(t.RPS(), "hook-req/s")
		b.ReportMetric(bb.RPS(), "bare-req/s")
		b.ReportMetric(t.RPS()/bb.RPS(), "ratio")
		if t.Failures > 0 {
			b.Fatalf("failures: %s", t.FirstError())
		}
	}
}
