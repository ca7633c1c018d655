package handlers

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// regEnv is the routes with the registrar wired as cmd/web wires it, over a real store
// and the Graph API simulator: an administrator and an agent (member of every inbox) of
// one account, an administrator of another, and one inbox per simulated number.
type regEnv struct {
	t       *testing.T
	store   *db.Store
	sim     *graphsim.Server
	reg     *health.Registrar
	srv     *httptest.Server
	logs    *regLogBuffer
	admin   db.NewUserResult
	agent   db.NewUserResult
	other   db.NewUserResult
	inboxes map[string]db.Inbox
}

// regLogBuffer collects every log line of the app, to check no secret is logged.
type regLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *regLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *regLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newRegEnv(t *testing.T, scenarios ...string) *regEnv {
	t.Helper()
	ctx := context.Background()
	sim := graphsim.New(graphsim.Config{AppSecret: "reg-test-secret"})
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

	cipher, err := db.NewCipher("registration-handler-tests")
	if err != nil {
		t.Fatal(err)
	}
	store, err := db.Open(ctx, filepath.Join(t.TempDir(), "app.db"), cipher)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logs := &regLogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := health.NewService(store, client, health.Options{Logger: logger})
	t.Cleanup(svc.Close)
	reg := health.NewRegistrar(store, client, svc, health.RegistrarOptions{FrontendURL: "http://reg.test", Logger: logger})
	t.Cleanup(reg.Close)
	h := New(Config{FrontendURL: "http://reg.test", SessionAuthKey: cipher.DeriveKey("a"),
		SessionEncryptionKey: cipher.DeriveKey("e"), Logger: logger},
		Deps{Store: store, Health: svc, Registrar: reg})
	srv := httptest.NewServer(h.Routes())
	t.Cleanup(srv.Close)

	e := &regEnv{t: t, store: store, sim: sim, reg: reg, srv: srv, logs: logs, inboxes: map[string]db.Inbox{}}
	e.admin = e.user("admin@reg.test", "Reg Co", db.RoleAdministrator)
	e.agent = e.user("agent@reg.test", "Reg Co", db.RoleAgent)
	e.other = e.user("admin@other.test", "Other Co", db.RoleAdministrator)
	for _, name := range scenarios {
		sc, _ := graphsim.LoadScenario(name)
		e.seed(sc)
	}
	return e
}

func (e *regEnv) user(email, account, role string) db.NewUserResult {
	e.t.Helper()
	res, err := e.store.CreateUser(context.Background(), email, testPassword, account, role)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *regEnv) seed(sc *graphsim.Scenario) {
	e.t.Helper()
	ctx := context.Background()
	businesses := map[string]graphsim.Business{}
	for _, b := range sc.Businesses {
		businesses[b.WABAID] = b
	}
	for _, n := range sc.Numbers {
		b := businesses[n.WABAID]
		in, err := e.store.CreateInbox(ctx, db.NewInbox{AccountID: e.admin.AccountID, Name: n.InboxName,
			PhoneNumber: n.PhoneNumber, PhoneNumberID: n.PhoneNumberID, WABAID: n.WABAID, BusinessID: b.BusinessID,
			AccessToken: b.AccessToken})
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.store.AddInboxMember(ctx, in.ID, e.agent.UserID); err != nil {
			e.t.Fatal(err)
		}
		e.inboxes[n.InboxName] = in
	}
}

func (e *regEnv) inbox(name string) db.Inbox {
	e.t.Helper()
	in, ok := e.inboxes[name]
	if !ok {
		e.t.Fatalf("no inbox named %q", name)
	}
	return in
}

func (e *regEnv) registerCalls(in db.Inbox) int {
	return e.sim.CountRequests(http.MethodPost, "/"+in.PhoneNumberID+"/register")
}

func (e *regEnv) pin(in db.Inbox) string {
	e.t.Helper()
	s, err := e.store.Secrets(context.Background(), in.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return s.PIN
}

func regPath(in db.Inbox, suffix string) string {
	return "/accounts/" + itoa(in.AccountID) + "/inboxes/" + itoa(in.ID) + suffix
}

func regAPIPath(accountID int64, in db.Inbox) string {
	return "/api/v1/accounts/" + itoa(accountID) + "/inboxes/" + itoa(in.ID) + "/registration"
}

// apiPost calls the registration API with a token and an optional JSON body.
func (e *regEnv) apiPost(token, path, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(http.MethodPost, path, rd)
	req.Header.Set(headerAPIAccessToken, token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	return rec
}

// regBrowser is a logged-in browser that does not follow redirects.
type regBrowser struct {
	t      *testing.T
	base   string
	client *http.Client
}

func (e *regEnv) login(email string) *regBrowser {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &regBrowser{t: e.t, base: e.srv.URL, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, _ := b.post("/login", url.Values{"_csrf": {b.csrf("/login")}, "email": {email}, "password": {testPassword}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("log in as %s: want 303, got %d", email, resp.StatusCode)
	}
	return b
}

func (b *regBrowser) do(method, path string, form url.Values, header map[string]string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp, string(text)
}

func (b *regBrowser) get(path string) (*http.Response, *goquery.Document, string) {
	b.t.Helper()
	resp, body := b.do(http.MethodGet, path, nil, nil)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, doc, body
}

func (b *regBrowser) post(path string, form url.Values, header map[string]string) (*http.Response, string) {
	return b.do(http.MethodPost, path, form, header)
}

// htmxPost posts a form as htmx does: HX-Request and the CSRF header.
func (b *regBrowser) htmxPost(path string, form url.Values, csrf string) (*http.Response, *goquery.Document, string) {
	b.t.Helper()
	resp, body := b.post(path, form, map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf})
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, doc, body
}

func (b *regBrowser) csrf(path string) string {
	b.t.Helper()
	resp, doc, _ := b.get(path)
	token, ok := doc.Find(`input[name="_csrf"]`).First().Attr("value")
	if resp.StatusCode != http.StatusOK || !ok || token == "" {
		b.t.Fatalf("GET %s: want 200 with a CSRF field, got %d", path, resp.StatusCode)
	}
	return token
}
