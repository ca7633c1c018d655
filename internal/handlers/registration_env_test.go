package handlers

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

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
	client  *whatsapp.Client
	reg     *health.Registrar
	svc     *health.Service
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

const (
	regTestAppSecret   = "reg-test-secret"
	regTestVerifyToken = "reg-test-verify-token"
)

func newRegEnv(t *testing.T, scenarios ...string) *regEnv {
	t.Helper()
	sim, client := newSimClient(t, regTestAppSecret, scenarios...)
	cipher, store := newTestStore(t, "registration-handler-tests")
	logs := &regLogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := health.NewService(store, client, health.Options{Logger: logger})
	t.Cleanup(svc.Close)
	// The server's own address is its public URL, so the simulated Meta app's callback
	// can point at it (the simulator verifies a callback before accepting it).
	srv := httptest.NewUnstartedServer(nil)
	frontendURL := "http://" + srv.Listener.Addr().String()
	reg := health.NewRegistrar(store, client, svc, health.RegistrarOptions{FrontendURL: frontendURL, Logger: logger,
		AppID: graphsim.AppID, AppSecret: regTestAppSecret})
	t.Cleanup(reg.Close)
	h := New(Config{FrontendURL: frontendURL, WhatsAppAppSecret: regTestAppSecret, WhatsAppVerifyToken: regTestVerifyToken,
		SessionAuthKey: cipher.DeriveKey("a"), SessionEncryptionKey: cipher.DeriveKey("e"), Logger: logger},
		Deps{Store: store, Health: svc, Registrar: reg})
	srv.Config.Handler = h.Routes()
	srv.Start()
	t.Cleanup(srv.Close)

	e := &regEnv{t: t, store: store, sim: sim, client: client, reg: reg, svc: svc, srv: srv, logs: logs, inboxes: map[string]db.Inbox{}}
	e.admin = createTestUser(t, store, "admin@reg.test", "Reg Co", db.RoleAdministrator)
	e.agent = createTestUser(t, store, "agent@reg.test", "Reg Co", db.RoleAgent)
	e.other = createTestUser(t, store, "admin@other.test", "Other Co", db.RoleAdministrator)
	seedScenarios(t, store, e.admin.AccountID, scenarios, e.inboxes, e.agent.UserID)
	return e
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

// refresh fetches the inbox's health from the simulator now.
func (e *regEnv) refresh(in db.Inbox) {
	e.t.Helper()
	if _, err := e.svc.Refresh(context.Background(), in, db.SourceFetch); err != nil {
		e.t.Fatal(err)
	}
}

// apiGetHealth reads the health API as the administrator.
func (e *regEnv) apiGetHealth(in db.Inbox) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, healthAPIPath(e.admin.AccountID, in), nil)
	req.Header.Set(headerAPIAccessToken, e.admin.APIAccessToken)
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	return rec
}

// login returns a browser logged in as email.
func (e *regEnv) login(email string) *webClient {
	return loggedInClient(e.t, e.srv.URL, email)
}
