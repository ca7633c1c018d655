package health_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/pgtest"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// monitorEnv is a store and a simulator holding several business accounts with many
// numbers, each number connected to an inbox.
type monitorEnv struct {
	t         *testing.T
	store     *db.Store
	sim       *graphsim.Server
	clock     *graphsim.FakeClock
	client    *whatsapp.Client
	transport *http.Transport
	svc       *health.Service
	dsn       string // the store's database, for a second store on it
	accountID int64
	inboxes   map[string][]db.Inbox // by WABA id
}

var monitorStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newMonitorEnv(t *testing.T) *monitorEnv {
	t.Helper()
	ctx := context.Background()
	clock := graphsim.NewFakeClock(monitorStart)
	sim := graphsim.New(graphsim.Config{Clock: clock})
	t.Cleanup(sim.Close)
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	client := whatsapp.NewClient(simSrv.URL+sim.Prefix(), &http.Client{Transport: transport, Timeout: 10 * time.Second},
		whatsapp.WithRetry(1, 0, 0))

	cipher, err := db.NewCipher("monitor-tests")
	if err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.Database(t, filepath.Join(t.TempDir(), "app.db"))
	store, err := db.Open(ctx, dsn, cipher)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	store.SetClock(clock.Now)
	user, err := store.CreateUser(ctx, "admin@monitor.test", "monitor-password", "Monitor", db.RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	svc := health.NewService(store, client, health.Options{Now: clock.Now, Logger: quietLogger()})
	t.Cleanup(svc.Close)
	return &monitorEnv{t: t, store: store, sim: sim, clock: clock, client: client, transport: transport, svc: svc, dsn: dsn,
		accountID: user.AccountID, inboxes: map[string][]db.Inbox{}}
}

// addBusiness adds a business account with n connected numbers, and an inbox for each.
func (e *monitorEnv) addBusiness(wabaID, token string, n int) {
	e.t.Helper()
	if err := e.sim.AddBusiness(graphsim.Business{WABAID: wabaID, Name: "Business " + wabaID, AccessToken: token}); err != nil {
		e.t.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("%s%04d", wabaID[:6], i)
		phone := fmt.Sprintf("+1%s%04d", wabaID[:6], i)
		err := e.sim.AddNumber(graphsim.Number{PhoneNumber: phone, PhoneNumberID: id, WABAID: wabaID,
			PlatformType: "CLOUD_API", ThroughputLevel: "STANDARD", Status: "CONNECTED", QualityRating: "GREEN"})
		if err != nil {
			e.t.Fatal(err)
		}
		e.addInbox(wabaID, token, phone, id)
	}
}

func (e *monitorEnv) addInbox(wabaID, token, phone, phoneNumberID string) db.Inbox {
	e.t.Helper()
	in, err := e.store.CreateInbox(context.Background(), db.NewInbox{AccountID: e.accountID, Name: "Inbox " + phone,
		PhoneNumber: phone, PhoneNumberID: phoneNumberID, WABAID: wabaID, AccessToken: token})
	if err != nil {
		e.t.Fatal(err)
	}
	e.inboxes[wabaID] = append(e.inboxes[wabaID], in)
	return in
}

func (e *monitorEnv) monitor(opts health.MonitorOptions) *health.Monitor {
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	return health.NewMonitor(e.svc, e.store, e.client, opts)
}

func (e *monitorEnv) latest(in db.Inbox) db.HealthSnapshot {
	e.t.Helper()
	snap, err := e.store.LatestSnapshot(context.Background(), in.ID)
	if err != nil {
		e.t.Fatalf("latest snapshot of inbox %d (%s): %v", in.ID, in.PhoneNumberID, err)
	}
	return snap
}

func (e *monitorEnv) listCalls(wabaID string) int {
	return e.sim.CountRequests(http.MethodGet, "/"+wabaID+"/phone_numbers")
}

const (
	wabaBig   = "201111000000001" // 150 numbers: two pages of 100
	wabaSmall = "202222000000002"
	wabaThird = "203333000000003"
)

func TestSweepFetchesEachBusinessAccountWithOnePagedCall(t *testing.T) {
	t.Parallel()
	env := newMonitorEnv(t)
	env.addBusiness(wabaBig, "token-shared-system-user", 150)
	env.addBusiness(wabaSmall, "token-shared-system-user", 5) // same token, other account: its own group
	env.addBusiness(wabaThird, "token-third", 3)
	missing := env.addInbox(wabaSmall, "token-shared-system-user", "+19995550000", "109999999999999")
	var swept atomic.Int32
	mon := env.monitor(health.MonitorOptions{OnSwept: func(context.Context) { swept.Add(1) }})

	stats, err := mon.SweepOnce(context.Background())
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	want := health.SweepStats{Groups: 3, GraphCalls: 3, InboxesUpdated: 158, Errors: 1}
	if stats != want {
		t.Errorf("sweep stats: want %+v, got %+v", want, stats)
	}
	if got := swept.Load(); got != 1 {
		t.Errorf("OnSwept: want it called once, got %d", got)
	}
	requests := env.sim.Requests()
	if len(requests) != 4 {
		t.Errorf("Graph requests: want 4 (2 pages + 1 + 1), got %d: %+v", len(requests), requests)
	}
	for waba, pages := range map[string]int{wabaBig: 2, wabaSmall: 1, wabaThird: 1} {
		if got := env.listCalls(waba); got != pages {
			t.Errorf("GET /%s/phone_numbers: want %d (one per page), got %d", waba, pages, got)
		}
	}
	for _, r := range requests {
		if !strings.HasSuffix(r.Path, "/phone_numbers") {
			t.Errorf("want only paged list calls, got %s %s", r.Method, r.Path)
		}
	}

	for waba, inboxes := range env.inboxes {
		for _, in := range inboxes {
			snap := env.latest(in)
			if snap.Source != db.SourceSweep {
				t.Errorf("inbox %s: want source %q, got %q", in.PhoneNumberID, db.SourceSweep, snap.Source)
			}
			if in.ID == missing.ID {
				continue
			}
			if !snap.OK || snap.Phone == nil || snap.Phone.ID != in.PhoneNumberID || snap.OverallStatus != whatsapp.OverallConnected {
				t.Errorf("inbox %s of %s: want a good, connected snapshot of its own number, got ok=%v status=%q phone=%+v",
					in.PhoneNumberID, waba, snap.OK, snap.OverallStatus, snap.Phone)
			}
		}
	}
	snap := env.latest(missing)
	if snap.OK || snap.ErrorKind != whatsapp.KindInvalidRequest || !strings.Contains(snap.ErrorMessage, "number not found in business account") {
		t.Errorf("number missing from its account: want an invalid_request error snapshot saying it was not found, got ok=%v kind=%q message=%q",
			snap.OK, snap.ErrorKind, snap.ErrorMessage)
	}
}

func TestSweepBacksOffARateLimitedBusinessAccountUntilMetaSaysSo(t *testing.T) {
	t.Parallel()
	env := newMonitorEnv(t)
	env.addBusiness(wabaSmall, "token-small", 4)
	env.addBusiness(wabaThird, "token-third", 2)
	mon := env.monitor(health.MonitorOptions{})
	ctx := context.Background()
	if _, err := mon.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}

	env.sim.RateLimitBusiness(wabaSmall, 10)
	stats, err := mon.SweepOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Errors != 4 || stats.InboxesUpdated != 2 || stats.GraphCalls != 2 {
		t.Errorf("rate-limited sweep: want 4 errors, 2 updated, 2 calls, got %+v", stats)
	}
	for _, in := range env.inboxes[wabaSmall] {
		snap := env.latest(in)
		if snap.OK || snap.ErrorKind != whatsapp.KindRateLimited || snap.Phone == nil || snap.Phone.Status != "CONNECTED" {
			t.Errorf("inbox %s: want a rate_limited error snapshot keeping the last good data, got ok=%v kind=%q phone=%+v",
				in.PhoneNumberID, snap.OK, snap.ErrorKind, snap.Phone)
		}
	}
	if until := mon.RateLimitedUntil(wabaSmall); !until.Equal(monitorStart.Add(10 * time.Minute)) {
		t.Errorf("back-off: want no call before %v (Meta's estimated_time_to_regain_access), got %v", monitorStart.Add(10*time.Minute), until)
	}

	callsBefore := env.listCalls(wabaSmall)
	env.clock.Advance(9 * time.Minute)
	stats, err = mon.SweepOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := env.listCalls(wabaSmall); got != callsBefore {
		t.Errorf("within Meta's wait: want no call for the rate-limited account, got %d more", got-callsBefore)
	}
	if stats.RateLimited != 1 || stats.GraphCalls != 1 || stats.InboxesUpdated != 2 {
		t.Errorf("within Meta's wait: want 1 group skipped and the other fetched, got %+v", stats)
	}

	env.clock.Advance(2 * time.Minute)
	stats, err = mon.SweepOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := env.listCalls(wabaSmall); got != callsBefore+1 {
		t.Errorf("after Meta's wait: want exactly one call for the account, got %d", got-callsBefore)
	}
	if stats.RateLimited != 0 || stats.InboxesUpdated != 6 || stats.Errors != 0 {
		t.Errorf("after Meta's wait: want every inbox updated, got %+v", stats)
	}
}

func TestSweepRecordsATokenFailureForEveryInboxOfTheGroup(t *testing.T) {
	t.Parallel()
	env := newMonitorEnv(t)
	env.addBusiness(wabaSmall, "token-small", 3)
	if err := env.sim.UpdateBusiness(wabaSmall, func(b *graphsim.Business) { b.TokenExpired = true }); err != nil {
		t.Fatal(err)
	}
	stats, err := env.monitor(health.MonitorOptions{}).SweepOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Errors != 3 || stats.GraphCalls != 1 {
		t.Errorf("want 3 error snapshots from 1 call, got %+v", stats)
	}
	for _, in := range env.inboxes[wabaSmall] {
		if snap := env.latest(in); snap.ErrorKind != whatsapp.KindTokenExpired || snap.OverallStatus != whatsapp.OverallTokenExpired {
			t.Errorf("inbox %s: want token_expired, got kind=%q overall=%q", in.PhoneNumberID, snap.ErrorKind, snap.OverallStatus)
		}
	}
}

func TestSweepPrunesOldSnapshotsAtMostHourly(t *testing.T) {
	t.Parallel()
	env := newMonitorEnv(t)
	env.addBusiness(wabaThird, "token-third", 2)
	mon := env.monitor(health.MonitorOptions{})
	ctx := context.Background()
	if stats, err := mon.SweepOnce(ctx); err != nil || stats.Pruned != 0 {
		t.Fatalf("first sweep: want it to prune (nothing old yet), got %+v %v", stats, err)
	}
	// A snapshot older than the retention, as if left from a week ago.
	in := env.inboxes[wabaThird][0]
	if _, err := env.store.AddSnapshot(ctx, db.HealthSnapshot{InboxID: in.ID, OK: true, Source: db.SourceSweep,
		CheckedAt: monitorStart.Add(-health.DefaultSnapshotRetention - time.Hour), Phone: env.latest(in).Phone}); err != nil {
		t.Fatal(err)
	}
	// And a webhook event received before the events' retention, then a recent one.
	for _, at := range []time.Time{monitorStart.Add(-db.WebhookEventRetention - time.Hour), monitorStart} {
		if _, err := env.store.AddWebhookEvent(ctx, db.WebhookEvent{InboxID: &in.ID, WABAID: wabaThird, Field: whatsapp.WebhookFieldQualityUpdate,
			Payload: `{}`, ReceivedAt: at}); err != nil {
			t.Fatal(err)
		}
	}

	env.clock.Advance(30 * time.Minute)
	stats, err := mon.SweepOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Pruned != 0 {
		t.Errorf("30 min after the last pruning: want no pruning (at most hourly), got %d pruned", stats.Pruned)
	}
	env.clock.Advance(31 * time.Minute)
	if stats, err = mon.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if stats.Pruned != 2 {
		t.Errorf("an hour after the last pruning: want the one snapshot older than %v and the one event older than %v pruned, got %d",
			health.DefaultSnapshotRetention, db.WebhookEventRetention, stats.Pruned)
	}
	if n, err := env.store.CountWebhookEvents(ctx); err != nil || n != 1 {
		t.Errorf("want the recent webhook event kept, %d events left (%v)", n, err)
	}
	// Each inbox keeps its three sweep snapshots, all within the retention.
	for _, in := range env.inboxes[wabaThird] {
		if got := env.latest(in); !got.OK || !got.CheckedAt.Equal(env.clock.Now()) {
			t.Errorf("inbox %d: want its newest snapshot from this sweep kept, got %+v", in.ID, got)
		}
	}
}

func TestSweepWithPruningDisabledPrunesNothing(t *testing.T) {
	t.Parallel()
	env := newMonitorEnv(t)
	env.addBusiness(wabaThird, "token-third", 1)
	in := env.inboxes[wabaThird][0]
	ctx := context.Background()
	if _, err := env.store.AddSnapshot(ctx, db.HealthSnapshot{InboxID: in.ID, CheckedAt: monitorStart.Add(-400 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	stats, err := env.monitor(health.MonitorOptions{Retention: -1}).SweepOnce(ctx)
	if err != nil || stats.Pruned != 0 {
		t.Fatalf("Retention -1: want nothing pruned, got %+v %v", stats, err)
	}
}

func TestMonitorRunStopsOnCancelWithoutLeakingGoroutines(t *testing.T) {
	env := newMonitorEnv(t)
	env.addBusiness(wabaSmall, "token-small", 3)
	env.addBusiness(wabaThird, "token-third", 3)
	before := runtime.NumGoroutine()

	swept := make(chan struct{}, 10)
	mon := env.monitor(health.MonitorOptions{Interval: 20 * time.Millisecond, Jitter: -1,
		OnSwept: func(context.Context) { swept <- struct{}{} }})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { mon.Run(ctx); close(stopped) }()
	for range 2 { // the first sweep at once, the second after one interval
		select {
		case <-swept:
		case <-time.After(10 * time.Second):
			t.Fatal("monitor did not sweep")
		}
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}

	env.transport.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		n := runtime.Stack(buf, true)
		t.Fatalf("goroutines: %d before Run, %d after it stopped:\n%s", before, after, buf[:n])
	}
}

// duringFirstList runs once, when the sweep's first BusinessPhoneNumbers call is made:
// with concurrency 1 the other groups have not been read yet.
type duringFirstList struct {
	*whatsapp.Client
	once sync.Once
	hook func()
}

func (g *duringFirstList) BusinessPhoneNumbers(ctx context.Context, token, wabaID string) ([]whatsapp.PhoneNumber, error) {
	g.once.Do(g.hook)
	return g.Client.BusinessPhoneNumbers(ctx, token, wabaID)
}

// The sweep groups the inboxes by their ids and tokens first and reads each group's
// inboxes only when its fetch starts: what changes in between is swept as it is then.
func TestSweepReadsEachGroupsInboxesWhenItsFetchStarts(t *testing.T) {
	t.Parallel()
	env := newMonitorEnv(t)
	ctx := context.Background()
	env.addBusiness(wabaSmall, "token-small", 3)
	env.addBusiness(wabaThird, "token-third", 3)
	env.addBusiness(wabaBig, "token-big", 2)
	deleted, moved := env.inboxes[wabaThird][0], env.inboxes[wabaThird][1]

	// An inbox whose stored token cannot be decrypted (cut short behind the store's
	// back): left out and counted as an error, as it always was.
	unreadable := env.addInbox(wabaSmall, "token-small", "+19995550001", "109999999999991")
	env.inboxes[wabaSmall] = env.inboxes[wabaSmall][:3]
	driver := "sqlite"
	if db.IsPostgresURL(env.dsn) {
		driver = "pgx"
	}
	raw, err := sql.Open(driver, env.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, fmt.Sprintf(`UPDATE inboxes SET access_token_enc = substr(access_token_enc, 1, 5) WHERE id = %d`, unreadable.ID)); err != nil {
		t.Fatal(err)
	}

	var added db.Inbox
	graph := &duringFirstList{Client: env.client, hook: func() {
		// While the first group is fetched: one inbox of a later group is deleted,
		// another moved to a business account of its own, and a new one added.
		if err := env.store.DeleteInbox(ctx, deleted.ID); err != nil {
			t.Error(err)
		}
		if _, err := env.store.UpdateInbox(ctx, moved.ID, db.InboxEdit{Name: moved.Name, PhoneNumber: moved.PhoneNumber,
			PhoneNumberID: moved.PhoneNumberID, WABAID: "209999000000009", MetaCheck: db.MetaCheckPending, StartAfresh: true,
			Change: db.InboxChange{Action: db.ChangeEdited}}); err != nil {
			t.Error(err)
		}
		if err := env.sim.AddNumber(graphsim.Number{PhoneNumber: "+12033330099", PhoneNumberID: "203333000099", WABAID: wabaThird,
			PlatformType: "CLOUD_API", Status: "CONNECTED", QualityRating: "GREEN"}); err != nil {
			t.Error(err)
		}
		added = env.addInbox(wabaThird, "token-third", "+12033330099", "203333000099")
	}}
	mon := health.NewMonitor(env.svc, env.store, graph, health.MonitorOptions{Now: env.clock.Now, Logger: quietLogger(), Concurrency: 1})
	stats, err := mon.SweepOnce(ctx)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	// 3 groups found up front; the deleted and the moved inbox are not written, the
	// one added after the grouping waits for the next sweep.
	want := health.SweepStats{Groups: 3, GraphCalls: 3, InboxesUpdated: 3 + 1 + 2, Errors: 1}
	if stats != want {
		t.Errorf("sweep stats: want %+v, got %+v", want, stats)
	}
	for _, in := range []db.Inbox{unreadable, moved, added} {
		if snap, err := env.store.LatestSnapshot(ctx, in.ID); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("inbox %s: want no snapshot from this sweep, got %+v (%v)", in.PhoneNumberID, snap, err)
		}
	}
	for _, in := range append(env.inboxes[wabaSmall], env.inboxes[wabaThird][2], env.inboxes[wabaBig][0], env.inboxes[wabaBig][1]) {
		if snap := env.latest(in); !snap.OK || snap.Phone == nil || snap.Phone.ID != in.PhoneNumberID {
			t.Errorf("inbox %s: want a good snapshot of its own number, got ok=%v phone=%+v", in.PhoneNumberID, snap.OK, snap.Phone)
		}
	}

	env.clock.Advance(time.Minute)
	if stats, err = mon.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if snap := env.latest(added); !snap.OK || snap.Phone == nil || snap.Phone.ID != added.PhoneNumberID {
		t.Errorf("inbox added during the first sweep: want it swept by the next, got ok=%v phone=%+v", snap.OK, snap.Phone)
	}
	if snap := env.latest(moved); snap.OK || !strings.Contains(snap.ErrorMessage, "209999000000009") {
		t.Errorf("inbox moved to an account Meta does not know: want the next sweep to fetch it with its new account, got ok=%v message=%q", snap.OK, snap.ErrorMessage)
	}
}
