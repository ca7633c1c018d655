package handlers

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// newTestClock is a testClock (people_test.go) at a fixed time.
func newTestClock() *testClock { return &testClock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)} }

// secOptions set up a secEnv; zero values take the defaults of New.
type secOptions struct {
	frontendURL string
	clock       *testClock
	throttle    LoginThrottle
	trusted     []*net.IPNet
	logger      *slog.Logger
	sleep       func(ctx context.Context, d time.Duration) error
}

// secEnv is the real router over real HTTP with a real store (no Graph API), built
// with the options the security tests need: a movable clock, a throttle to look into,
// trusted proxies, a logger to read.
type secEnv struct {
	t     *testing.T
	srv   *httptest.Server
	store *db.Store
	admin db.NewUserResult
	agent db.NewUserResult
	// cookieKeys are the session cookie's signing and encryption keys.
	cookieKeys [2][]byte
}

func newSecEnv(t *testing.T, o secOptions) *secEnv {
	t.Helper()
	cipher, store := newTestStore(t, "security-tests")
	cfg := Config{FrontendURL: o.frontendURL, SessionAuthKey: cipher.DeriveKey("a"), SessionEncryptionKey: cipher.DeriveKey("e"),
		LoginThrottle: o.throttle, TrustedProxies: o.trusted, Logger: o.logger, Sleep: o.sleep}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	if o.clock != nil {
		store.SetClock(o.clock.now)
		cfg.Now = o.clock.now
	}
	// The Graph API simulator with no numbers: the registrar is wired as the server
	// wires it, and nothing these tests do reaches Meta.
	_, client := newSimClient(t, "security-test-app-secret")
	svc := health.NewService(store, client, health.Options{Logger: cfg.Logger, Now: cfg.Now})
	t.Cleanup(svc.Close)
	frontend := o.frontendURL
	if frontend == "" {
		frontend = "http://security.test"
	}
	reg := health.NewRegistrar(store, client, svc, health.RegistrarOptions{FrontendURL: frontend, Logger: cfg.Logger})
	t.Cleanup(reg.Close)
	srv := httptest.NewServer(New(cfg, Deps{Store: store, Health: svc, Registrar: reg}).Routes())
	t.Cleanup(srv.Close)
	env := &secEnv{t: t, srv: srv, store: store, cookieKeys: [2][]byte{cfg.SessionAuthKey, cfg.SessionEncryptionKey}}
	env.admin = createTestUser(t, store, "admin@acme.test", "Acme", db.RoleAdministrator)
	env.agent = createTestUser(t, store, "agent@acme.test", "Acme", db.RoleAgent)
	return env
}

func (e *secEnv) browser() *webClient { return newWebClient(e.t, e.srv.URL) }

// loggedIn is a browser logged in as email with testPassword.
func (e *secEnv) loggedIn(email string) *webClient { return loggedInClient(e.t, e.srv.URL, email) }

// sessionCookie is the browser's session cookie as sent back to the server.
func (c *webClient) sessionCookie() *http.Cookie {
	c.t.Helper()
	u, _ := url.Parse(c.base)
	for _, ck := range c.client.Jar.Cookies(u) {
		if ck.Name == sessionName {
			return ck
		}
	}
	c.t.Fatal("the browser has no session cookie")
	return nil
}

// replay is a new browser holding only a copy of cookie: what an attacker who copied
// it has.
func (e *secEnv) replay(cookie *http.Cookie) *webClient {
	b := e.browser()
	u, _ := url.Parse(e.srv.URL)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: cookie.Name, Value: cookie.Value, Path: "/"}})
	return b
}

// inboxesPath is the Acme inbox list.
func (e *secEnv) inboxesPath() string { return "/accounts/" + itoa(e.admin.AccountID) + "/inboxes" }

// apiPath is the Acme inbox list in the API.
func (e *secEnv) apiPath() string { return "/api/v1/accounts/" + itoa(e.admin.AccountID) + "/inboxes" }

// wantLoginPage fails unless the browser is sent to the login page for path.
func (c *webClient) wantLoginPage(what, path string) {
	c.t.Helper()
	resp, _ := c.do(http.MethodGet, path, nil, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		c.t.Errorf("%s: GET %s: want 303 to the login page, got %d %q", what, path, resp.StatusCode, resp.Header.Get("Location"))
	}
}

// wantAPIStatus fails unless GET path (with the browser's cookies) answers want.
func (c *webClient) wantAPIStatus(what, path string, want int) {
	c.t.Helper()
	resp, body := c.do(http.MethodGet, path, nil, nil)
	if resp.StatusCode != want {
		c.t.Errorf("%s: API GET %s: want %d, got %d: %s", what, path, want, resp.StatusCode, body)
	}
}
