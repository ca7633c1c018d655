package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/pgtest"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// healthEnv is the routes with a real store, the Graph API simulator behind the real
// client, and the health service: users of two accounts, and one inbox per number of
// the loaded scenarios in the first account.
type healthEnv struct {
	t       testing.TB
	store   *db.Store
	cipher  *db.Cipher
	sim     *graphsim.Server
	svc     *health.Service
	routes  http.Handler
	srv     *httptest.Server
	admin   db.NewUserResult
	agent   db.NewUserResult // agent of the first account, member of no inbox
	other   db.NewUserResult // administrator of another account
	inboxes map[string]db.Inbox
}

const (
	healthTestAppSecret   = "health-test-app-secret"
	healthTestVerifyToken = "health-test-verify-token"
)

func newHealthEnv(t testing.TB, scenarios ...string) *healthEnv {
	t.Helper()
	sim, client := newSimClient(t, healthTestAppSecret, scenarios...)
	cipher, store := newTestStore(t, "health-handler-tests")
	svc := health.NewService(store, client, health.Options{Logger: discardLogger()})
	t.Cleanup(svc.Close)

	env := &healthEnv{t: t, store: store, cipher: cipher, sim: sim, svc: svc, inboxes: map[string]db.Inbox{}}
	env.routes = env.handler(healthTestAppSecret)
	env.srv = httptest.NewServer(env.routes)
	t.Cleanup(env.srv.Close)
	env.admin = createTestUser(t, store, "admin@health.test", "Health Co", db.RoleAdministrator)
	env.agent = createTestUser(t, store, "agent@health.test", "Health Co", db.RoleAgent)
	env.other = createTestUser(t, store, "admin@elsewhere.test", "Elsewhere", db.RoleAdministrator)
	seedScenarios(t, store, env.admin.AccountID, scenarios, env.inboxes)
	return env
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// handler builds the routes over the env's store and service with an app secret.
func (e *healthEnv) handler(appSecret string) http.Handler {
	h := New(Config{FrontendURL: "http://health.test", WhatsAppAppSecret: appSecret, WhatsAppVerifyToken: healthTestVerifyToken,
		SessionAuthKey: e.cipher.DeriveKey("a"), SessionEncryptionKey: e.cipher.DeriveKey("e"), Logger: discardLogger()},
		Deps{Store: e.store, Health: e.svc})
	return h.Routes()
}

// newSimClient starts the Graph API simulator with the scenarios loaded, and the real
// client pointed at it (one attempt, no retries).
func newSimClient(t testing.TB, appSecret string, scenarios ...string) (*graphsim.Server, *whatsapp.Client) {
	t.Helper()
	sim := graphsim.New(graphsim.Config{AppSecret: appSecret})
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
	return sim, whatsapp.NewClient(simSrv.URL+sim.Prefix(), nil, whatsapp.WithRetry(1, 0, 0))
}

// newTestStore opens a fresh store in a temporary folder, encrypted with a cipher of secret.
func newTestStore(t testing.TB, secret string) (*db.Cipher, *db.Store) {
	t.Helper()
	cipher, err := db.NewCipher(secret)
	if err != nil {
		t.Fatal(err)
	}
	store, err := db.Open(context.Background(), pgtest.Database(t, filepath.Join(t.TempDir(), "app.db")), cipher)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	// Every log-in of a test hashes a password: the cheapest cost keeps the suite fast
	// (under -race a default-cost hash takes about a second).
	if err := store.SetPasswordCost(bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	return cipher, store
}

// createTestUser creates a user with testPassword in account (created if new).
func createTestUser(t testing.TB, store *db.Store, email, account, role string) db.NewUserResult {
	t.Helper()
	res, err := store.CreateUser(context.Background(), email, testPassword, account, role)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// seedScenarios creates one inbox of the account per number of the named scenarios,
// keyed by inbox name in inboxes, and adds the members to each.
func seedScenarios(t testing.TB, store *db.Store, accountID int64, scenarios []string, inboxes map[string]db.Inbox, members ...int64) {
	t.Helper()
	for _, name := range scenarios {
		sc, err := graphsim.LoadScenario(name)
		if err != nil {
			t.Fatal(err)
		}
		seedScenario(t, store, accountID, sc, inboxes, members...)
	}
}

func seedScenario(t testing.TB, store *db.Store, accountID int64, sc *graphsim.Scenario, inboxes map[string]db.Inbox, members ...int64) {
	t.Helper()
	ctx := context.Background()
	businesses := map[string]graphsim.Business{}
	for _, b := range sc.Businesses {
		businesses[b.WABAID] = b
	}
	for _, n := range sc.Numbers {
		if n.InboxName == "" {
			continue // at Meta only: an import finds it
		}
		b := businesses[n.WABAID]
		in, err := store.CreateInbox(ctx, db.NewInbox{AccountID: accountID, Name: n.InboxName,
			PhoneNumber: n.PhoneNumber, PhoneNumberID: n.PhoneNumberID, WABAID: n.WABAID, BusinessID: b.BusinessID,
			AccessToken: b.AccessToken})
		if err != nil {
			t.Fatal(err)
		}
		for _, userID := range members {
			if err := store.AddInboxMember(ctx, in.ID, userID); err != nil {
				t.Fatal(err)
			}
		}
		inboxes[n.InboxName] = in
	}
}

func (e *healthEnv) inbox(name string) db.Inbox {
	e.t.Helper()
	in, ok := e.inboxes[name]
	if !ok {
		e.t.Fatalf("no inbox named %q in the loaded scenarios", name)
	}
	return in
}

// refresh stores a fresh snapshot of the inbox, as the monitor would.
func (e *healthEnv) refresh(in db.Inbox) db.HealthSnapshot {
	e.t.Helper()
	snap, err := e.svc.Refresh(context.Background(), in, db.SourceFetch)
	if err != nil {
		e.t.Fatal(err)
	}
	return snap
}

func (e *healthEnv) latestSnapshotOf(in db.Inbox) db.HealthSnapshot {
	e.t.Helper()
	snap, err := e.store.LatestSnapshot(context.Background(), in.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return snap
}

// serve sends one request through the router.
func (e *healthEnv) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.routes.ServeHTTP(rec, req)
	return rec
}

// apiGet calls the JSON API with an api_access_token ("" sends none).
func (e *healthEnv) apiGet(token, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set(headerAPIAccessToken, token)
	}
	return e.serve(req)
}

func healthAPIPath(accountID int64, in db.Inbox) string {
	return "/api/v1/accounts/" + itoa(accountID) + "/inboxes/" + itoa(in.ID) + "/health"
}

func decodeObject(t testing.TB, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response is not a JSON object (%v): %s", err, rec.Body.String())
	}
	return out
}

// signature is Meta's X-Hub-Signature-256 of body.
func signature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// postWebhook posts body to the phone number's webhook with the given signature
// header ("" sends none).
func (e *healthEnv) postWebhook(routes http.Handler, phone string, body []byte, sig string) *httptest.ResponseRecorder {
	return e.postWebhookTo(routes, "/webhooks/whatsapp/"+url.PathEscape(phone), body, sig)
}

// postWebhookTo posts body to a webhook path with the given signature header ("" sends none).
func (e *healthEnv) postWebhookTo(routes http.Handler, path string, body []byte, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	rec := httptest.NewRecorder()
	routes.ServeHTTP(rec, req)
	return rec
}

func (e *healthEnv) webhookEvents() int {
	e.t.Helper()
	n, err := e.store.CountWebhookEvents(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// login returns a browser logged in as email.
func (e *healthEnv) login(email string) *webClient {
	return loggedInClient(e.t, e.srv.URL, email)
}
