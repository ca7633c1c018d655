package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/alerts"
	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/metrics"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

const testMetricsToken = "metrics-test-token-0123456789"

// alertsEnv is the routes wired as the server wires them for alerts and metrics: the
// health service and monitor over the simulator behind the measured client, the alert
// engine observing the service, the dispatcher, and /metrics behind its token.
type alertsEnv struct {
	*healthEnv
	dbDir      string
	engine     *alerts.Engine
	dispatcher *alerts.Dispatcher
	monitor    *health.Monitor
	metrics    *metrics.Metrics
}

func newAlertsEnv(t *testing.T, metricsToken string, scenarios ...string) *alertsEnv {
	t.Helper()
	sim := graphsim.New(graphsim.Config{AppSecret: healthTestAppSecret})
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
	dir := t.TempDir()
	cipher, err := db.NewCipher("alerts-handler-tests")
	if err != nil {
		t.Fatal(err)
	}
	store, err := db.Open(context.Background(), filepath.Join(dir, "app.db"), cipher)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })

	m := metrics.New(metrics.StoreStatusCounts(store), discardLogger())
	store.SetWriteObserver(m.DBWrite)
	client := m.Graph(whatsapp.NewClient(simSrv.URL+sim.Prefix(), nil, whatsapp.WithRetry(1, 0, 0)))
	svc := health.NewService(store, client, health.Options{Logger: discardLogger(), OnRateLimitHoldOff: m.RateLimitHoldOff})
	t.Cleanup(svc.Close)
	policy := alerts.URLPolicy{AllowLoopback: true}
	dispatcher := alerts.NewDispatcher(store, alerts.DispatcherOptions{Logger: discardLogger(), FrontendURL: "http://health.test",
		Policy: policy, OnDelivery: m.AlertDelivery})
	engine := alerts.NewEngine(store, alerts.EngineOptions{Logger: discardLogger(), Queued: dispatcher.Wake})
	svc.SetObserver(engine)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go engine.Run(ctx)

	env := &alertsEnv{healthEnv: &healthEnv{t: t, store: store, cipher: cipher, sim: sim, svc: svc, inboxes: map[string]db.Inbox{}},
		dbDir: dir, engine: engine, dispatcher: dispatcher, metrics: m,
		monitor: health.NewMonitor(svc, store, client, health.MonitorOptions{Logger: discardLogger(), OnSweepDone: m.SweepDone})}
	h := New(Config{FrontendURL: "http://health.test", WhatsAppAppSecret: healthTestAppSecret, WhatsAppVerifyToken: healthTestVerifyToken,
		SessionAuthKey: cipher.DeriveKey("a"), SessionEncryptionKey: cipher.DeriveKey("e"), Logger: discardLogger(),
		MetricsToken: metricsToken, AlertPolicy: policy},
		Deps{Store: store, Health: svc, Alerts: dispatcher, Metrics: m})
	env.routes = h.Routes()
	env.srv = httptest.NewServer(env.routes)
	t.Cleanup(env.srv.Close)
	env.admin = createTestUser(t, store, "admin@health.test", "Health Co", db.RoleAdministrator)
	env.agent = createTestUser(t, store, "agent@health.test", "Health Co", db.RoleAgent)
	env.other = createTestUser(t, store, "admin@elsewhere.test", "Elsewhere", db.RoleAdministrator)
	seedScenarios(t, store, env.admin.AccountID, scenarios, env.inboxes)
	return env
}

func (e *alertsEnv) api(method, token, path string, body any) *httptest.ResponseRecorder {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set(headerAPIAccessToken, token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.serve(req)
}

func destinationsPath(accountID int64) string {
	return "/api/v1/accounts/" + itoa(accountID) + "/alert_destinations"
}

// receiver is an httptest server that records the alert payloads it accepts.
type receiver struct {
	mu     sync.Mutex
	bodies []alerts.Payload
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var p alerts.Payload
		_ = json.NewDecoder(req.Body).Decode(&p)
		r.mu.Lock()
		r.bodies = append(r.bodies, p)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received() []alerts.Payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]alerts.Payload(nil), r.bodies...)
}

func TestAlertDestinationsAPI(t *testing.T) {
	env := newAlertsEnv(t, "", "connected")
	admin, path := env.admin.APIAccessToken, destinationsPath(env.admin.AccountID)
	const secretPath = "/hooks/very-secret-path-4711"
	const signingSecret = "a-signing-secret-never-shown"

	rec := env.api(http.MethodPost, admin, path, map[string]any{"kind": "webhook", "url": "http://127.0.0.1:9" + secretPath,
		"secret": signingSecret, "events": []string{"status", "quality"}})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create webhook destination: %d %s", rec.Code, rec.Body)
	}
	created := decodeObject(t, rec)
	if created["label"] != "http://127.0.0.1:9" || created["kind"] != "webhook" {
		t.Errorf("created = %v", created)
	}
	if strings.Contains(rec.Body.String(), secretPath) || strings.Contains(rec.Body.String(), signingSecret) {
		t.Errorf("the answer shows the URL path or the secret: %s", rec.Body)
	}
	rec = env.api(http.MethodPost, admin, path, map[string]any{"kind": "email", "to": []string{"ops@example.test"}})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create email destination: %d %s", rec.Code, rec.Body)
	}
	if got := decodeObject(t, rec)["events"].([]any); len(got) != len(alerts.AllKinds) {
		t.Errorf("events omitted: got %v, want every kind", got)
	}

	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"kind": "webhook", "url": "http://hooks.example.com/x", "secret": signingSecret}, "url"},
		{map[string]any{"kind": "webhook", "url": "https://169.254.169.254/latest", "secret": signingSecret}, "url"},
		{map[string]any{"kind": "webhook", "url": "https://hooks.example.com/x", "secret": "short"}, "secret"},
		{map[string]any{"kind": "slack", "url": "https://hooks.example.com/x", "events": []string{"everything"}}, "events"},
		{map[string]any{"kind": "email", "to": []string{"not an address"}}, "to"},
		{map[string]any{"kind": "pager"}, "kind"},
	} {
		rec := env.api(http.MethodPost, admin, path, bad.body)
		fields, _ := decodeObject(t, rec)["error"].(map[string]any)["fields"].(map[string]any)
		if rec.Code != http.StatusUnprocessableEntity || fields[bad.field] == nil {
			t.Errorf("POST %v: %d %s, want 422 naming %q", bad.body, rec.Code, rec.Body, bad.field)
		}
	}
	if rec := env.api(http.MethodPost, env.agent.APIAccessToken, path, map[string]any{"kind": "email", "to": []string{"a@b.test"}}); rec.Code != http.StatusForbidden {
		t.Errorf("an agent added a destination: %d", rec.Code)
	}

	rec = env.api(http.MethodGet, admin, path, nil)
	var list struct {
		Payload []map[string]any `json:"payload"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list.Payload) != 2 {
		t.Fatalf("list: %v %s", err, rec.Body)
	}
	if strings.Contains(rec.Body.String(), secretPath) || strings.Contains(rec.Body.String(), signingSecret) {
		t.Errorf("the list shows a URL path or secret: %s", rec.Body)
	}

	// Encrypted at rest: neither the URL's path nor the secret is in the database files.
	env.store.Close()
	for _, name := range []string{"app.db", "app.db-wal"} {
		raw, err := os.ReadFile(filepath.Join(env.dbDir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(secretPath)) || bytes.Contains(raw, []byte(signingSecret)) {
			t.Errorf("%s holds the destination URL or secret in clear", name)
		}
	}
}

func TestAlertDestinationOfAnotherAccountIs404(t *testing.T) {
	env := newAlertsEnv(t, "", "connected")
	rec := env.api(http.MethodPost, env.admin.APIAccessToken, destinationsPath(env.admin.AccountID),
		map[string]any{"kind": "email", "to": []string{"ops@example.test"}})
	id := itoa(int64(decodeObject(t, rec)["id"].(float64)))
	if rec := env.api(http.MethodDelete, env.other.APIAccessToken, destinationsPath(env.other.AccountID)+"/"+id, nil); rec.Code != http.StatusNotFound {
		t.Errorf("another account's administrator deleting it: %d, want 404", rec.Code)
	}
	if rec := env.api(http.MethodDelete, env.admin.APIAccessToken, destinationsPath(env.admin.AccountID)+"/"+id, nil); rec.Code != http.StatusNoContent {
		t.Errorf("delete: %d, want 204", rec.Code)
	}
	if rec := env.api(http.MethodDelete, env.admin.APIAccessToken, destinationsPath(env.admin.AccountID)+"/"+id, nil); rec.Code != http.StatusNotFound {
		t.Errorf("delete again: %d, want 404", rec.Code)
	}
}

func TestAlertsAPIShowsAlertsWithTheirDeliveries(t *testing.T) {
	env := newAlertsEnv(t, "", "connected")
	recv := newReceiver(t)
	rec := env.api(http.MethodPost, env.admin.APIAccessToken, destinationsPath(env.admin.AccountID),
		map[string]any{"kind": "webhook", "url": recv.srv.URL, "secret": "receiver-secret-0123456789"})
	if rec.Code != http.StatusCreated {
		t.Fatal(rec.Body)
	}
	in := env.inbox("Padaria Central — Support")
	env.refresh(in)
	if err := env.sim.UpdateNumber(in.PhoneNumberID, func(n *graphsim.Number) { n.Status = "FLAGGED" }); err != nil {
		t.Fatal(err)
	}
	env.refresh(in)
	env.engine.Idle()
	if _, err := env.dispatcher.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := recv.received(); len(got) != 1 || got[0].Type != "status.problem" {
		t.Fatalf("receiver got %+v", got)
	}
	rec = env.api(http.MethodGet, env.admin.APIAccessToken, "/api/v1/accounts/"+itoa(env.admin.AccountID)+"/alerts", nil)
	var out struct {
		Payload []struct {
			Type       string
			From, To   string
			Inbox      struct{ Name string }
			Deliveries []struct {
				State      string
				Attempts   int
				LastDetail string `json:"last_detail"`
			}
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Payload) != 1 {
		t.Fatalf("alerts: %s", rec.Body)
	}
	a := out.Payload[0]
	if a.Type != "status.problem" || a.From != "CONNECTED" || a.To != "FLAGGED" || a.Inbox.Name != in.Name ||
		len(a.Deliveries) != 1 || a.Deliveries[0].State != "delivered" || a.Deliveries[0].LastDetail != "HTTP 200" {
		t.Errorf("alert = %+v", a)
	}
	if rec := env.api(http.MethodGet, env.other.APIAccessToken, "/api/v1/accounts/"+itoa(env.other.AccountID)+"/alerts", nil); strings.Contains(rec.Body.String(), in.Name) {
		t.Errorf("another account sees the alert: %s", rec.Body)
	}
}

func TestAlertsPageAddsADestinationAndSendsATestAlert(t *testing.T) {
	env := newAlertsEnv(t, "", "connected")
	recv := newReceiver(t)
	browser := env.login("admin@health.test")
	page := "/accounts/" + itoa(env.admin.AccountID) + "/alerts"
	csrf := browser.csrf(page)

	// A bad URL re-renders the form with the problem, keeping what was typed.
	resp, body := browser.post(page+"/destinations", url.Values{"_csrf": {csrf}, "kind": {"webhook"},
		"url": {"http://hooks.example.com/x"}, "secret": {"receiver-secret-0123456789"}, "events": {"status"}}, nil)
	doc := browser.parse(body)
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="error-url"]`).Length() != 1 ||
		doc.Find(`input[name="url"]`).AttrOr("value", "") != "http://hooks.example.com/x" {
		t.Fatalf("bad URL: %d %s", resp.StatusCode, doc.Find(`[data-testid="destination-form"]`).Text())
	}

	resp, _ = browser.post(page+"/destinations", url.Values{"_csrf": {csrf}, "kind": {"webhook"}, "url": {recv.srv.URL + "/in"},
		"secret": {"receiver-secret-0123456789"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add destination: %d", resp.StatusCode)
	}
	_, doc, body = browser.getDoc(page)
	dest := doc.Find(`[data-testid^="destination-"]`).First()
	if dest.Length() == 0 || strings.Contains(body, "/in\"") || strings.Contains(body, "receiver-secret") {
		t.Fatalf("destination not listed, or its URL path or secret shown")
	}
	testPath, _ := dest.Find(`form[action$="/test"]`).Attr("action")
	if resp, _ := browser.post(testPath, url.Values{"_csrf": {csrf}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send test alert: %d", resp.StatusCode)
	}
	if _, err := env.dispatcher.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := recv.received(); len(got) != 1 || got[0].Type != "test" {
		t.Fatalf("receiver got %+v, want the test alert", got)
	}
	logPath, _ := dest.Find(`[data-testid="delivery-log"]`).Attr("hx-get")
	_, logDoc, _ := browser.getDoc(logPath)
	if got := logDoc.Find(`[data-testid="delivery-outcome"]`).First().Text(); got != "Delivered" {
		t.Errorf("delivery log outcome %q, want Delivered", got)
	}
	if got := logDoc.Find(`[data-testid="delivery-detail"]`).First().Text(); got != "HTTP 200" {
		t.Errorf("delivery log answer %q, want HTTP 200", got)
	}

	agent := env.login("agent@health.test")
	if resp, _ := agent.do(http.MethodGet, page, nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an agent opened the Alerts page: %d", resp.StatusCode)
	}
}

func TestMetricsRouteIsAbsentWithoutAToken(t *testing.T) {
	env := newAlertsEnv(t, "", "connected")
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer anything")
	if rec := env.serve(req); rec.Code != http.StatusNotFound {
		t.Fatalf("/metrics without METRICS_TOKEN: %d, want 404", rec.Code)
	}
}

// metricValue finds one sample in Prometheus text; ok is false when it is absent.
func metricValue(text, series string) (string, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return "", false
	}
	return m[1], true
}

func TestMetricsAfterASweep(t *testing.T) {
	env := newAlertsEnv(t, testMetricsToken, "connected", "token_expired")
	recv := newReceiver(t)
	env.api(http.MethodPost, env.admin.APIAccessToken, destinationsPath(env.admin.AccountID),
		map[string]any{"kind": "webhook", "url": recv.srv.URL, "secret": "receiver-secret-0123456789"})
	if _, err := env.monitor.SweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	in := env.inbox("Padaria Central — Support")
	if err := env.sim.UpdateNumber(in.PhoneNumberID, func(n *graphsim.Number) { n.Status = "FLAGGED" }); err != nil {
		t.Fatal(err)
	}
	if _, err := env.monitor.SweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	env.engine.Idle()
	if _, err := env.dispatcher.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A quality webhook from Meta, then Meta's retry of it.
	orders := env.inbox("Padaria Central — Orders")
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"` + orders.WABAID + `","time":1764000000,"changes":[` +
		`{"field":"phone_number_quality_update","value":{"display_phone_number":"` + strings.TrimPrefix(orders.PhoneNumber, "+") +
		`","event":"FLAGGED","current_limit":"TIER_250"}}]}]}`)
	for range 2 {
		if rec := env.postWebhookTo(env.routes, "/webhooks/whatsapp", body, signature(healthTestAppSecret, body)); rec.Code != http.StatusOK {
			t.Fatalf("webhook: %d %s", rec.Code, rec.Body)
		}
	}
	// Meta rate-limits the connected business account: the third sweep holds off.
	env.sim.RateLimitBusiness(in.WABAID, 5)
	if _, err := env.monitor.SweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}

	for _, auth := range []string{"", "Bearer wrong-token-0000000000", "Basic " + testMetricsToken, testMetricsToken} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if rec := env.serve(req); rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "inboxhealth_") {
			t.Errorf("Authorization %q: %d, want 401 and no metrics", auth, rec.Code)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testMetricsToken)
	rec := env.serve(req)
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics with the token: %d", rec.Code)
	}
	text := rec.Body.String()
	account := itoa(env.admin.AccountID)
	for series, want := range map[string]string{
		`inboxhealth_sweeps_total{outcome="ok"}`: "3",
		// connected and token_expired are two business accounts: one listing each per
		// sweep; the third found the connected one rate limited.
		`inboxhealth_graph_calls_total{endpoint="business_phone_numbers",outcome="ok"}`:             "2",
		`inboxhealth_graph_calls_total{endpoint="business_phone_numbers",outcome="rate_limited"}`:   "1",
		`inboxhealth_graph_calls_total{endpoint="business_phone_numbers",outcome="token_expired"}`:  "3",
		`inboxhealth_rate_limit_holdoffs_total`:                                                     "1",
		`inboxhealth_inboxes{account_id="` + account + `",status="restricted"}`:                     "2",
		`inboxhealth_inboxes{account_id="` + account + `",status="token_expired"}`:                  "1",
		`inboxhealth_webhook_events_total{field="phone_number_quality_update",outcome="applied"}`:   "1",
		`inboxhealth_webhook_events_total{field="phone_number_quality_update",outcome="duplicate"}`: "1",
		`inboxhealth_alert_deliveries_total{channel="webhook",outcome="delivered"}`:                 "1",
		`inboxhealth_sweep_duration_seconds_count`:                                                  "3",
	} {
		if got, ok := metricValue(text, series); !ok || got != want {
			t.Errorf("%s = %q (present %v), want %s", series, got, ok, want)
		}
	}
	if v, ok := metricValue(text, "inboxhealth_sweep_last_success_timestamp_seconds"); !ok || v == "0" {
		t.Errorf("last success time %q, want set", v)
	}
	if v, ok := metricValue(text, `inboxhealth_sqlite_write_duration_seconds_count{op="snapshot"}`); !ok || v == "0" {
		t.Errorf("SQLite write latency of snapshots: %q, want observations", v)
	}
}
