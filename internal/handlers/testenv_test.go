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
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/inboxhealth/inboxhealth/internal/db"
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

const healthTestAppSecret = "health-test-app-secret"

func newHealthEnv(t testing.TB, scenarios ...string) *healthEnv {
	t.Helper()
	ctx := context.Background()
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
	client := whatsapp.NewClient(simSrv.URL+sim.Prefix(), nil, whatsapp.WithRetry(1, 0, 0))

	cipher, err := db.NewCipher("health-handler-tests")
	if err != nil {
		t.Fatal(err)
	}
	store, err := db.Open(ctx, filepath.Join(t.TempDir(), "app.db"), cipher)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := health.NewService(store, client, health.Options{Logger: discardLogger()})
	t.Cleanup(svc.Close)

	env := &healthEnv{t: t, store: store, cipher: cipher, sim: sim, svc: svc, inboxes: map[string]db.Inbox{}}
	env.routes = env.handler(healthTestAppSecret)
	env.srv = httptest.NewServer(env.routes)
	t.Cleanup(env.srv.Close)
	env.admin = env.user("admin@health.test", "Health Co", db.RoleAdministrator)
	env.agent = env.user("agent@health.test", "Health Co", db.RoleAgent)
	env.other = env.user("admin@elsewhere.test", "Elsewhere", db.RoleAdministrator)
	for _, name := range scenarios {
		sc, _ := graphsim.LoadScenario(name)
		env.seed(sc)
	}
	return env
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// handler builds the routes over the env's store and service with an app secret.
func (e *healthEnv) handler(appSecret string) http.Handler {
	h := New(Config{FrontendURL: "http://health.test", WhatsAppAppSecret: appSecret,
		SessionAuthKey: e.cipher.DeriveKey("a"), SessionEncryptionKey: e.cipher.DeriveKey("e"), Logger: discardLogger()},
		Deps{Store: e.store, Health: e.svc})
	return h.Routes()
}

func (e *healthEnv) user(email, account, role string) db.NewUserResult {
	e.t.Helper()
	res, err := e.store.CreateUser(context.Background(), email, testPassword, account, role)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *healthEnv) seed(sc *graphsim.Scenario) {
	e.t.Helper()
	businesses := map[string]graphsim.Business{}
	for _, b := range sc.Businesses {
		businesses[b.WABAID] = b
	}
	for _, n := range sc.Numbers {
		b := businesses[n.WABAID]
		in, err := e.store.CreateInbox(context.Background(), db.NewInbox{AccountID: e.admin.AccountID, Name: n.InboxName,
			PhoneNumber: n.PhoneNumber, PhoneNumberID: n.PhoneNumberID, WABAID: n.WABAID, BusinessID: b.BusinessID,
			AccessToken: b.AccessToken})
		if err != nil {
			e.t.Fatal(err)
		}
		e.inboxes[n.InboxName] = in
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
	req := httptest.NewRequest(http.MethodPost, "/webhooks/whatsapp/"+url.PathEscape(phone), bytes.NewReader(body))
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

// session is a logged-in browser: a cookie jar that does not follow redirects.
type session struct {
	t      testing.TB
	base   string
	client *http.Client
}

func (e *healthEnv) login(email string) *session {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	s := &session{t: e.t, base: e.srv.URL, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, _ := s.post("/login", url.Values{"_csrf": {s.csrf("/login")}, "email": {email}, "password": {testPassword}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("log in as %s: want 303, got %d", email, resp.StatusCode)
	}
	return s
}

func (s *session) do(method, path string, form url.Values, header map[string]string) (*http.Response, string) {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp, string(text)
}

func (s *session) get(path string) (*http.Response, *goquery.Document) {
	s.t.Helper()
	resp, body := s.do(http.MethodGet, path, nil, nil)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	return resp, doc
}

func (s *session) post(path string, form url.Values, header map[string]string) (*http.Response, string) {
	return s.do(http.MethodPost, path, form, header)
}

// csrf reads the hidden CSRF field of a page.
func (s *session) csrf(path string) string {
	s.t.Helper()
	resp, doc := s.get(path)
	token, ok := doc.Find(`input[name="_csrf"]`).First().Attr("value")
	if resp.StatusCode != http.StatusOK || !ok || token == "" {
		s.t.Fatalf("GET %s: want 200 with a CSRF field, got %d", path, resp.StatusCode)
	}
	return token
}
