package alerts_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/alerts"
	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/pgtest"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// testClock is the clock the engine and the dispatcher share, moved by the test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// alertEnv is the health service and monitor over the Graph API simulator, with the
// alert engine watching what they record and the dispatcher delivering, on one clock.
type alertEnv struct {
	t          *testing.T
	dbPath     string
	cipher     *db.Cipher
	store      *db.Store
	sim        *graphsim.Server
	svc        *health.Service
	monitor    *health.Monitor
	engine     *alerts.Engine
	dispatcher *alerts.Dispatcher
	clock      *testClock
	accountID  int64
	inboxes    map[string]db.Inbox
	smtp       *alerts.SMTPConfig
	cancel     context.CancelFunc
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newAlertEnv(t *testing.T, scenarios ...string) *alertEnv {
	t.Helper()
	sim := graphsim.New(graphsim.Config{AppSecret: "alerts-test-secret"})
	t.Cleanup(sim.Close)
	for _, name := range scenarios {
		sc, err := graphsim.LoadScenario(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.Load(sc); err != nil {
			t.Fatal(err)
		}
	}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	client := whatsapp.NewClient(simSrv.URL+sim.Prefix(), nil, whatsapp.WithRetry(1, 0, 0))

	cipher, err := db.NewCipher("alerts-test-key")
	if err != nil {
		t.Fatal(err)
	}
	e := &alertEnv{t: t, dbPath: pgtest.Database(t, filepath.Join(t.TempDir(), "app.db")), cipher: cipher, sim: sim,
		clock: &testClock{t: time.Now().UTC()}, inboxes: map[string]db.Inbox{}}
	e.store = e.openStore()
	e.svc = health.NewService(e.store, client, health.Options{Logger: discard(), Now: e.clock.Now})
	t.Cleanup(e.svc.Close)
	e.monitor = health.NewMonitor(e.svc, e.store, client, health.MonitorOptions{Logger: discard(), Retention: -1})

	user, err := e.store.CreateUser(context.Background(), "admin@alerts.test", "a-long-test-password", "Alerts Co", db.RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	e.accountID = user.AccountID
	for _, name := range scenarios {
		sc, _ := graphsim.LoadScenario(name)
		tokens := map[string]string{}
		for _, b := range sc.Businesses {
			tokens[b.WABAID] = b.AccessToken
		}
		for _, n := range sc.Numbers {
			in, err := e.store.CreateInbox(context.Background(), db.NewInbox{AccountID: e.accountID, Name: n.InboxName,
				PhoneNumber: n.PhoneNumber, PhoneNumberID: n.PhoneNumberID, WABAID: n.WABAID, AccessToken: tokens[n.WABAID]})
			if err != nil {
				t.Fatal(err)
			}
			e.inboxes[n.InboxName] = in
		}
	}
	e.startAlerts()
	return e
}

func (e *alertEnv) openStore() *db.Store {
	e.t.Helper()
	store, err := db.Open(context.Background(), e.dbPath, e.cipher)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { store.Close() })
	store.SetClock(e.clock.Now) // one clock for what is stored and what is compared with it
	return store
}

// startAlerts builds the engine and the dispatcher over the env's store (again after
// a restart) and starts the engine's queue.
func (e *alertEnv) startAlerts() {
	if e.cancel != nil {
		e.cancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.t.Cleanup(cancel)
	e.dispatcher = alerts.NewDispatcher(e.store, alerts.DispatcherOptions{Now: e.clock.Now, Logger: discard(),
		FrontendURL: "https://health.example.test", SMTP: e.smtp, Policy: alerts.URLPolicy{AllowLoopback: true},
		DigestHour: alerts.DefaultDigestHour})
	e.engine = alerts.NewEngine(e.store, alerts.EngineOptions{Now: e.clock.Now, Logger: discard()})
	e.svc.SetObserver(e.engine)
	go e.engine.Run(ctx)
}

func (e *alertEnv) inbox(name string) db.Inbox {
	e.t.Helper()
	in, ok := e.inboxes[name]
	if !ok {
		e.t.Fatalf("no inbox %q", name)
	}
	return in
}

// sweep runs one monitor sweep and waits until the engine has looked at it.
func (e *alertEnv) sweep() {
	e.t.Helper()
	if _, err := e.monitor.SweepOnce(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.engine.Idle()
}

// deliver makes one delivery pass and returns how many attempts it made.
func (e *alertEnv) deliver() int {
	e.t.Helper()
	n, err := e.dispatcher.DeliverDue(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *alertEnv) setNumber(name string, fn func(*graphsim.Number)) {
	e.t.Helper()
	if err := e.sim.UpdateNumber(e.inbox(name).PhoneNumberID, fn); err != nil {
		e.t.Fatal(err)
	}
}

func (e *alertEnv) addDestination(n db.NewAlertDestination) db.AlertDestination {
	e.t.Helper()
	n.AccountID = e.accountID
	if n.Label == "" {
		n.Label = n.Channel
	}
	if n.Kinds == nil {
		n.Kinds, _ = alerts.ParseKinds(nil)
	}
	d, err := e.store.CreateAlertDestination(context.Background(), n)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *alertEnv) alerts() []db.AlertWithDeliveries {
	e.t.Helper()
	list, err := e.store.RecentAlerts(context.Background(), e.accountID, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// alertsOfKind lists the account's alerts of one kind, oldest first.
func (e *alertEnv) alertsOfKind(kind alerts.Kind) []db.AlertWithDeliveries {
	var out []db.AlertWithDeliveries
	list := e.alerts()
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Kind == string(kind) {
			out = append(out, list[i])
		}
	}
	return out
}
