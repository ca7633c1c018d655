package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// peopleEnv is the routes over real HTTP with a real store, a movable clock shared by
// the handlers and the store, and the log captured (to prove no password is logged).
type peopleEnv struct {
	*foundationEnv
	clock *testClock
	logs  *syncBuffer
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newPeopleEnv(t *testing.T) *peopleEnv {
	t.Helper()
	cipher, store := newTestStore(t, "people-tests")
	clock := &testClock{t: time.Now()}
	store.SetClock(clock.now)
	logs := &syncBuffer{}
	h := New(Config{SessionAuthKey: cipher.DeriveKey("a"), SessionEncryptionKey: cipher.DeriveKey("e"),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Now: clock.now},
		Deps{Store: store})
	srv := httptest.NewServer(h.Routes())
	t.Cleanup(srv.Close)
	env := &foundationEnv{t: t, srv: srv, store: store}
	env.admin = createTestUser(t, store, "admin@acme.test", "Acme", db.RoleAdministrator)
	env.agent = createTestUser(t, store, "agent@acme.test", "Acme", db.RoleAgent)
	env.other = createTestUser(t, store, "admin@globex.test", "Globex", db.RoleAdministrator)
	return &peopleEnv{foundationEnv: env, clock: clock, logs: logs}
}

func peoplePath(accountID int64) string { return "/accounts/" + itoa(accountID) + "/people" }

func membersPath(accountID int64) string { return "/api/v1/accounts/" + itoa(accountID) + "/members" }

// api calls the members API with an api_access_token and returns the status and the
// decoded body (nil when empty).
func (e *peopleEnv) api(method, path, token, body string) (int, map[string]any, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(headerAPIAccessToken, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, raw)
		}
	}
	return resp.StatusCode, out, resp.Header
}

func errorFields(out map[string]any) map[string]any {
	e, _ := out["error"].(map[string]any)
	f, _ := e["fields"].(map[string]any)
	return f
}

func apiErrorType(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["type"].(string)
	return s
}

// addPersonInBrowser adds a person through the People form and returns the page shown.
func addPersonInBrowser(t *testing.T, admin *webClient, accountID int64, form url.Values) (*http.Response, *goquery.Document) {
	t.Helper()
	form.Set("_csrf", admin.csrf(peoplePath(accountID)+"/new"))
	resp, body := admin.post(peoplePath(accountID), form, nil)
	return resp, admin.parse(body)
}

// An administrator adds an agent with one inbox; the one-time password is shown once
// and logged nowhere; the agent signs in with it, must choose a password before
// anything else, and then sees only that inbox.
func TestPeopleAddAgentWhoSignsInWithTheOneTimePassword(t *testing.T) {
	env := newPeopleEnv(t)
	assigned := env.inbox(env.admin.AccountID, "+15550100001")
	other := env.inbox(env.admin.AccountID, "+15550100002")
	acct := env.admin.AccountID

	admin := env.browser()
	admin.login("admin@acme.test", testPassword)
	_, doc, _ := admin.getDoc("/accounts/" + itoa(acct) + "/inboxes")
	if href, _ := doc.Find(`[data-testid="nav-people"]`).Attr("href"); href != peoplePath(acct) {
		t.Errorf("administrator's navigation: want a People link to %s, got %q", peoplePath(acct), href)
	}

	resp, page := addPersonInBrowser(t, admin, acct, url.Values{"email": {" sam@acme.test "}, "role": {"agent"},
		"inbox_ids": {itoa(assigned.ID)}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add person: want 201 with the one-time password page, got %d: %s", resp.StatusCode, page.Text())
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("the page showing a one-time password must not be cached: Cache-Control %q", cc)
	}
	password := strings.TrimSpace(page.Find(`[data-testid="one-time-password"]`).Text())
	if len(password) < 20 {
		t.Fatalf("want a one-time password of at least 20 characters on the page, got %q", password)
	}
	if strings.Contains(env.logs.String(), password) {
		t.Fatal("the one-time password must never be logged")
	}
	_, list, listBody := admin.getDoc(peoplePath(acct))
	if strings.Contains(listBody, password) {
		t.Fatal("the one-time password must be shown once, not on the People list")
	}
	row := list.Find(`[data-testid="person-row"][data-email="sam@acme.test"]`)
	if row.Length() != 1 || row.Find(`[data-testid="person-role"]`).Text() != "agent" ||
		!strings.Contains(row.Find(`[data-testid="person-inboxes"]`).Text(), assigned.Name) ||
		!strings.Contains(row.Find(`[data-testid="person-last-sign-in"]`).Text(), "never") {
		t.Fatalf("People list: want sam as an agent with %q who never signed in, got %q", assigned.Name, row.Text())
	}

	sam := env.browser()
	resp, _ = sam.post("/login", url.Values{"_csrf": {sam.csrf("/login")}, "email": {"sam@acme.test"}, "password": {password}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != choosePasswordPath {
		t.Fatalf("log in with the one-time password: want 303 to %s, got %d %q", choosePasswordPath, resp.StatusCode, resp.Header.Get("Location"))
	}
	inboxesPath := "/accounts/" + itoa(acct) + "/inboxes"
	if resp, _ := sam.do(http.MethodGet, inboxesPath, nil, nil); resp.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(resp.Header.Get("Location"), choosePasswordPath) {
		t.Fatalf("any page before choosing a password: want 303 to the choose-password form, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := sam.do(http.MethodGet, "/api/v1/accounts/"+itoa(acct)+"/inboxes", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the API through a one-time-password session: want 403, got %d", resp.StatusCode)
	}
	csrf := sam.csrf(choosePasswordPath)
	for _, bad := range []struct{ password, again, field string }{
		{"short", "short", "password"},
		{password, password, "password"}, // the one-time password cannot become the real one
		{"my own long password", "my own long passwort", "password_again"},
	} {
		resp, body := sam.post(choosePasswordPath, url.Values{"_csrf": {csrf}, "password": {bad.password}, "password_again": {bad.again}}, nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || sam.parse(body).Find(`[data-testid="error-`+bad.field+`"]`).Length() != 1 {
			t.Errorf("choose password %q/%q: want 422 with an error on %s, got %d", bad.password, bad.again, bad.field, resp.StatusCode)
		}
	}
	resp, _ = sam.post(choosePasswordPath, url.Values{"_csrf": {csrf}, "password": {"my own long password"}, "password_again": {"my own long password"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("choose a good password: want 303, got %d", resp.StatusCode)
	}
	resp, body := sam.do(http.MethodGet, inboxesPath, nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, assigned.Name) || strings.Contains(body, other.Name) {
		t.Fatalf("sam's inbox list: want 200 with only %q, got %d:\n%s", assigned.Name, resp.StatusCode, body)
	}
	if resp, _ := sam.do(http.MethodGet, inboxesPath+"/"+itoa(other.ID), nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an inbox not assigned to sam: want 404, got %d", resp.StatusCode)
	}
	if resp, _ := sam.do(http.MethodGet, peoplePath(acct), nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an agent on the People page: want 403, got %d", resp.StatusCode)
	}
	if strings.Contains(body, `data-testid="nav-people"`) {
		t.Error("agents must not get a People link")
	}

	// The one-time password is spent; the chosen one works.
	if _, err := env.store.Authenticate(context.Background(), "sam@acme.test", password); err == nil {
		t.Error("the one-time password must stop working once a password is chosen")
	}
	fresh := env.browser()
	fresh.login("sam@acme.test", "my own long password")
	_, list, _ = admin.getDoc(peoplePath(acct))
	if got := list.Find(`[data-testid="person-row"][data-email="sam@acme.test"] [data-testid="person-last-sign-in"]`).Text(); !strings.Contains(got, "just now") || strings.Contains(got, "one-time") {
		t.Errorf("after sam signed in and chose a password: want last sign-in just now and no one-time badge, got %q", got)
	}
	if strings.Contains(env.logs.String(), "my own long password") {
		t.Fatal("a chosen password must never be logged")
	}
}

// Someone who already has a login on this server is just added, keeping their
// password: no one-time password on the page or in the API.
func TestPeopleAddExistingUserKeepsTheirPassword(t *testing.T) {
	env := newPeopleEnv(t)
	admin := env.browser()
	admin.login("admin@acme.test", testPassword)
	resp, page := addPersonInBrowser(t, admin, env.admin.AccountID, url.Values{"email": {"ADMIN@globex.test"}, "role": {"administrator"}})
	if resp.StatusCode != http.StatusCreated || page.Find(`[data-testid="one-time-password"]`).Length() != 0 ||
		page.Find(`[data-testid="existing-user"]`).Length() != 1 {
		t.Fatalf("add an existing user: want 201 saying they keep their password and no one-time password, got %d: %s", resp.StatusCode, page.Text())
	}
	other := env.browser()
	other.login("admin@globex.test", testPassword)
	if resp, _ := other.do(http.MethodGet, peoplePath(env.admin.AccountID), nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("the added administrator on Acme's People page: want 200, got %d", resp.StatusCode)
	}

	status, out, _ := env.api(http.MethodPost, membersPath(env.admin.AccountID), env.admin.APIAccessToken, `{"email":"admin@globex.test","role":"agent"}`)
	if status != http.StatusConflict || errorFields(out)["email"] == nil {
		t.Fatalf("add someone already a member: want 409 naming email, got %d %v", status, out)
	}
	resp, page = addPersonInBrowser(t, admin, env.admin.AccountID, url.Values{"email": {"agent@acme.test"}, "role": {"agent"}})
	if resp.StatusCode != http.StatusConflict || page.Find(`[data-testid="error-email"]`).Length() != 1 {
		t.Fatalf("add someone already a member in the browser: want 409 with an error on email, got %d", resp.StatusCode)
	}
}

func TestPeopleFormKeepsInputAndNamesBadFields(t *testing.T) {
	env := newPeopleEnv(t)
	theirs := env.inbox(env.other.AccountID, "+15550100003")
	admin := env.browser()
	admin.login("admin@acme.test", testPassword)
	resp, page := addPersonInBrowser(t, admin, env.admin.AccountID, url.Values{"email": {"Sam <sam@acme.test>"}, "role": {"owner"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || page.Find(`[data-testid="error-email"]`).Length() != 1 ||
		page.Find(`[data-testid="error-role"]`).Length() != 1 {
		t.Fatalf("bad email and role: want 422 naming both, got %d", resp.StatusCode)
	}
	if v, _ := page.Find(`#person-email`).Attr("value"); v != "Sam <sam@acme.test>" {
		t.Errorf("the form must keep what was typed, got %q", v)
	}
	resp, page = addPersonInBrowser(t, admin, env.admin.AccountID, url.Values{"email": {"sam@acme.test"}, "role": {"agent"}, "inbox_ids": {itoa(theirs.ID)}})
	if resp.StatusCode != http.StatusUnprocessableEntity || page.Find(`[data-testid="error-inbox_ids"]`).Length() != 1 {
		t.Fatalf("an inbox of another account: want 422 on the inboxes, got %d", resp.StatusCode)
	}
	if _, err := env.store.UserByEmail(context.Background(), "sam@acme.test"); err == nil {
		t.Fatal("a refused add must create nobody")
	}
	if resp, _ := admin.post(peoplePath(env.admin.AccountID), url.Values{"email": {"x@acme.test"}, "role": {"agent"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("add person without the CSRF token: want 403, got %d", resp.StatusCode)
	}
}

// The last administrator can be neither made an agent nor removed, in the browser or
// the API; with a second administrator, both work.
func TestPeopleLastAdministratorStays(t *testing.T) {
	env := newPeopleEnv(t)
	acct := env.admin.AccountID
	admin := env.browser()
	admin.login("admin@acme.test", testPassword)
	me := peoplePath(acct) + "/" + itoa(env.admin.UserID)
	csrf := admin.csrf(me)

	resp, body := admin.post(me, url.Values{"_csrf": {csrf}, "role": {"agent"}}, nil)
	if doc := admin.parse(body); resp.StatusCode != http.StatusConflict || !strings.Contains(doc.Find(`[data-testid="form-error"]`).Text(), "last administrator") {
		t.Fatalf("demote the last administrator: want 409 saying why, got %d", resp.StatusCode)
	}
	resp, body = admin.post(me+"/remove", url.Values{"_csrf": {csrf}, "confirm_remove": {"1"}}, nil)
	if doc := admin.parse(body); resp.StatusCode != http.StatusConflict || !strings.Contains(doc.Find(`[data-testid="remove-error"]`).Text(), "last administrator") {
		t.Fatalf("remove the last administrator: want 409 saying why, got %d", resp.StatusCode)
	}
	path := membersPath(acct) + "/" + itoa(env.admin.UserID)
	if status, out, _ := env.api(http.MethodPatch, path, env.admin.APIAccessToken, `{"role":"agent"}`); status != http.StatusConflict || apiErrorType(out) != "last_administrator" {
		t.Fatalf("API demote the last administrator: want 409 last_administrator, got %d %v", status, out)
	}
	if status, out, _ := env.api(http.MethodDelete, path, env.admin.APIAccessToken, ""); status != http.StatusConflict || apiErrorType(out) != "last_administrator" {
		t.Fatalf("API remove the last administrator: want 409 last_administrator, got %d %v", status, out)
	}
	if m, err := env.store.Membership(context.Background(), env.admin.UserID, acct); err != nil || !m.IsAdministrator() {
		t.Fatalf("the refused changes must change nothing, got %+v %v", m, err)
	}

	if status, out, _ := env.api(http.MethodPatch, membersPath(acct)+"/"+itoa(env.agent.UserID), env.admin.APIAccessToken, `{"role":"administrator"}`); status != http.StatusOK || out["role"] != "administrator" {
		t.Fatalf("promote the agent: want 200 administrator, got %d %v", status, out)
	}
	resp, _ = admin.post(me, url.Values{"_csrf": {csrf}, "role": {"agent"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts/"+itoa(acct)+"/inboxes" {
		t.Fatalf("demote yourself with another administrator left: want 303 to the inboxes, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := admin.do(http.MethodGet, peoplePath(acct), nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the demoted administrator's very next request to People: want 403, got %d", resp.StatusCode)
	}
}

// Removal, demotion and unassignment take effect on the person's very next request.
func TestPeopleChangesApplyOnTheNextRequest(t *testing.T) {
	env := newPeopleEnv(t)
	acct := env.admin.AccountID
	in := env.inbox(acct, "+15550100001")
	agentInbox := "/accounts/" + itoa(acct) + "/inboxes/" + itoa(in.ID)
	memberPath := membersPath(acct) + "/" + itoa(env.agent.UserID)
	if status, out, _ := env.api(http.MethodPatch, memberPath, env.admin.APIAccessToken, `{"inbox_ids":[`+itoa(in.ID)+`]}`); status != http.StatusOK {
		t.Fatalf("assign the inbox: want 200, got %d %v", status, out)
	}
	agent := env.browser()
	agent.login("agent@acme.test", testPassword)
	if resp, _ := agent.do(http.MethodGet, agentInbox, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("assigned inbox: want 200, got %d", resp.StatusCode)
	}
	if status, out, _ := env.api(http.MethodPatch, memberPath, env.admin.APIAccessToken, `{"inbox_ids":[]}`); status != http.StatusOK {
		t.Fatalf("unassign: want 200, got %d %v", status, out)
	}
	if resp, _ := agent.do(http.MethodGet, agentInbox, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the very next request after unassignment: want 404, got %d", resp.StatusCode)
	}

	// An administrator who is also in Globex loses Acme, and only Acme, at once.
	both := createTestUser(t, env.store, "both@acme.test", "Globex", db.RoleAgent)
	if _, err := env.store.CreateUser(context.Background(), "both@acme.test", testPassword, "Acme", db.RoleAdministrator); err != nil {
		t.Fatal(err)
	}
	b := env.browser()
	b.login("both@acme.test", testPassword)
	if resp, _ := b.do(http.MethodGet, peoplePath(acct), nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("second administrator on People: want 200, got %d", resp.StatusCode)
	}
	if status, _, _ := env.api(http.MethodPatch, membersPath(acct)+"/"+itoa(both.UserID), env.admin.APIAccessToken, `{"role":"agent"}`); status != http.StatusOK {
		t.Fatalf("demote: want 200, got %d", status)
	}
	if resp, _ := b.do(http.MethodGet, peoplePath(acct), nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the very next request after demotion: want 403, got %d", resp.StatusCode)
	}
	if status, _, _ := env.api(http.MethodDelete, membersPath(acct)+"/"+itoa(both.UserID), env.admin.APIAccessToken, ""); status != http.StatusNoContent {
		t.Fatalf("remove: want 204, got %d", status)
	}
	if resp, _ := b.do(http.MethodGet, "/accounts/"+itoa(acct)+"/inboxes", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the very next request to the account they were removed from: want 404, got %d", resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodGet, "/accounts/"+itoa(both.AccountID)+"/inboxes", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("their other account stays: want 200, got %d", resp.StatusCode)
	}

	// Removed from their only account, a person's login goes: the open session falls
	// to the log-in page, and the API token stops working.
	admin := env.browser()
	admin.login("admin@acme.test", testPassword)
	resp, body := admin.post(peoplePath(acct)+"/"+itoa(env.agent.UserID)+"/remove", url.Values{"_csrf": {admin.csrf(peoplePath(acct) + "/" + itoa(env.agent.UserID))}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "agent@acme.test") {
		t.Fatalf("remove without ticking the confirmation: want 422 naming the person, got %d", resp.StatusCode)
	}
	resp, _ = admin.post(peoplePath(acct)+"/"+itoa(env.agent.UserID)+"/remove",
		url.Values{"_csrf": {admin.csrf(peoplePath(acct))}, "confirm_remove": {"1"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove the agent: want 303, got %d", resp.StatusCode)
	}
	resp, _ = agent.do(http.MethodGet, "/accounts/"+itoa(acct)+"/inboxes", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("the removed agent's next click: want 303 to the log-in page, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = agent.do(http.MethodGet, "/accounts/"+itoa(acct)+"/inboxes", nil, map[string]string{"HX-Request": "true"})
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("HX-Redirect"), "/login") {
		t.Fatalf("the removed agent's next htmx click: want 401 with HX-Redirect to log in, got %d %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
	if status, _, _ := env.api(http.MethodGet, "/api/v1/accounts/"+itoa(acct)+"/inboxes", env.agent.APIAccessToken, ""); status != http.StatusUnauthorized {
		t.Fatalf("the removed agent's API token: want 401, got %d", status)
	}
}

func TestMembersAPI(t *testing.T) {
	env := newPeopleEnv(t)
	acct := env.admin.AccountID
	in1 := env.inbox(acct, "+15550100001")
	in2 := env.inbox(acct, "+15550100002")
	theirs := env.inbox(env.other.AccountID, "+15550100003")
	token := env.admin.APIAccessToken

	status, out, _ := env.api(http.MethodGet, membersPath(acct), token, "")
	list, _ := out["payload"].([]any)
	if status != http.StatusOK || len(list) != 2 {
		t.Fatalf("list: want the 2 members of Acme, got %d %v", status, out)
	}
	first, _ := list[0].(map[string]any)
	if first["email"] != "admin@acme.test" || first["role"] != "administrator" || first["inbox_ids"] != nil || first["password_chosen"] != true {
		t.Errorf("list, first member: want the administrator without inbox_ids, got %v", first)
	}
	raw, _ := json.Marshal(out)
	if strings.Contains(string(raw), "$2a$") || strings.Contains(string(raw), "hash") {
		t.Fatalf("the list must carry no password hash: %s", raw)
	}

	for _, bad := range []struct {
		body, field string
	}{
		{`{"email":"not an email","role":"agent"}`, "email"},
		{`{"email":"","role":"agent"}`, "email"},
		{`{"email":"x\u200b@acme.test","role":"agent"}`, "email"},
		{`{"email":"x@acme.test","role":"owner"}`, "role"},
		{`{"email":"x@acme.test","role":"administrator","inbox_ids":[` + itoa(in1.ID) + `]}`, "inbox_ids"},
		{`{"email":"x@acme.test","role":"agent","inbox_ids":[` + itoa(theirs.ID) + `]}`, "inbox_ids"},
		{`{"email":"x@acme.test","role":"agent","inbox_ids":[999999]}`, "inbox_ids"},
		{`{"email":"x@acme.test","role":"agent","inbox_ids":[-1]}`, "inbox_ids"},
	} {
		status, out, _ := env.api(http.MethodPost, membersPath(acct), token, bad.body)
		if status != http.StatusUnprocessableEntity || errorFields(out)[bad.field] == nil {
			t.Errorf("POST %s: want 422 naming %s, got %d %v", bad.body, bad.field, status, out)
		}
	}
	if status, _, _ := env.api(http.MethodPost, membersPath(acct), token, `{"email":"x@acme.test","role":"agent","password":"mine"}`); status != http.StatusBadRequest {
		t.Errorf("POST with an unknown field: want 400, got %d", status)
	}
	if _, err := env.store.UserByEmail(context.Background(), "x@acme.test"); err == nil {
		t.Fatal("refused creates must create nobody")
	}

	status, out, header := env.api(http.MethodPost, membersPath(acct), token, `{"email":"new@acme.test","role":"agent","inbox_ids":[`+itoa(in2.ID)+`,`+itoa(in1.ID)+`]}`)
	password, _ := out["password"].(string)
	if status != http.StatusCreated || out["user_id"] == nil || out["email"] != "new@acme.test" || out["role"] != "agent" || len(password) < 20 {
		t.Fatalf("create: want 201 with user_id, email, role and a one-time password, got %d %v", status, out)
	}
	if ids, _ := out["inbox_ids"].([]any); len(ids) != 2 || out["password_chosen"] != false || out["password_expires_at"] == nil {
		t.Errorf("create: want both inboxes, password_chosen false and when the password expires, got %v", out)
	}
	if !strings.Contains(header.Get("Cache-Control"), "no-store") {
		t.Errorf("an answer carrying a password must not be cached: Cache-Control %q", header.Get("Cache-Control"))
	}
	if strings.Contains(env.logs.String(), password) {
		t.Fatal("the one-time password must never be logged")
	}
	newID := int64(out["user_id"].(float64))
	if u, err := env.store.Authenticate(context.Background(), "new@acme.test", password); err != nil || !u.HasOneTimePassword() {
		t.Fatalf("the one-time password must sign the new person in (to choose their own), got %+v %v", u, err)
	}
	status, out, _ = env.api(http.MethodPost, membersPath(env.other.AccountID), env.other.APIAccessToken, `{"email":"new@acme.test","role":"administrator"}`)
	if status != http.StatusCreated || out["password"] != nil {
		t.Fatalf("add an existing user to another account: want 201 without a password, got %d %v", status, out)
	}

	memberPath := membersPath(acct) + "/" + itoa(newID)
	for _, bad := range []struct{ body, field string }{
		{`{}`, "role"},
		{`{"role":"owner"}`, "role"},
		{`{"role":"administrator","inbox_ids":[` + itoa(in1.ID) + `]}`, "inbox_ids"},
		{`{"inbox_ids":[` + itoa(theirs.ID) + `]}`, "inbox_ids"},
	} {
		status, out, _ := env.api(http.MethodPatch, memberPath, token, bad.body)
		if status != http.StatusUnprocessableEntity || errorFields(out)[bad.field] == nil {
			t.Errorf("PATCH %s: want 422 naming %s, got %d %v", bad.body, bad.field, status, out)
		}
	}
	status, out, _ = env.api(http.MethodPatch, membersPath(acct)+"/"+itoa(env.admin.UserID), token, `{"inbox_ids":[`+itoa(in1.ID)+`]}`)
	if status != http.StatusUnprocessableEntity || errorFields(out)["inbox_ids"] == nil {
		t.Errorf("PATCH inboxes of an administrator: want 422 on inbox_ids, got %d %v", status, out)
	}
	status, out, _ = env.api(http.MethodPatch, memberPath, token, `{"inbox_ids":[`+itoa(in1.ID)+`]}`)
	if ids, _ := out["inbox_ids"].([]any); status != http.StatusOK || len(ids) != 1 || ids[0] != float64(in1.ID) {
		t.Fatalf("PATCH inbox_ids: want 200 with only inbox %d, got %d %v", in1.ID, status, out)
	}
	status, out, _ = env.api(http.MethodPatch, memberPath, token, `{"role":"administrator"}`)
	if status != http.StatusOK || out["role"] != "administrator" || out["inbox_ids"] != nil {
		t.Fatalf("PATCH role: want 200 administrator without inbox_ids, got %d %v", status, out)
	}
	status, out, _ = env.api(http.MethodPatch, memberPath, token, `{"role":"agent"}`)
	if ids, ok := out["inbox_ids"].([]any); status != http.StatusOK || !ok || len(ids) != 0 {
		t.Fatalf("PATCH back to agent: want 200 with no inboxes (old access does not come back), got %d %v", status, out)
	}

	// Other accounts' people are not found, and agents and other accounts are kept out.
	if status, _, _ := env.api(http.MethodPatch, membersPath(acct)+"/"+itoa(env.other.UserID), token, `{"role":"agent"}`); status != http.StatusNotFound {
		t.Errorf("PATCH a user of another account: want 404, got %d", status)
	}
	if status, _, _ := env.api(http.MethodDelete, membersPath(acct)+"/abc", token, ""); status != http.StatusNotFound {
		t.Errorf("DELETE a malformed user id: want 404, got %d", status)
	}
	if status, _, _ := env.api(http.MethodGet, membersPath(acct), env.agent.APIAccessToken, ""); status != http.StatusForbidden {
		t.Errorf("agent lists members: want 403, got %d", status)
	}
	if status, _, _ := env.api(http.MethodPost, membersPath(acct), env.agent.APIAccessToken, `{"email":"y@acme.test","role":"agent"}`); status != http.StatusForbidden {
		t.Errorf("agent adds a member: want 403, got %d", status)
	}
	if status, _, _ := env.api(http.MethodGet, membersPath(acct), env.other.APIAccessToken, ""); status != http.StatusNotFound {
		t.Errorf("another account's administrator lists members: want 404, got %d", status)
	}

	if status, _, _ := env.api(http.MethodDelete, memberPath, token, ""); status != http.StatusNoContent {
		t.Fatalf("DELETE: want 204, got %d", status)
	}
	if status, _, _ := env.api(http.MethodDelete, memberPath, token, ""); status != http.StatusNotFound {
		t.Fatalf("DELETE again: want 404, got %d", status)
	}
	if _, err := env.store.UserByEmail(context.Background(), "new@acme.test"); err != nil {
		t.Fatalf("a person still in another account keeps their login: %v", err)
	}
}

// A one-time password works for OneTimePasswordTTL; after that the log-in says so,
// and an administrator can make a new one, but not for someone who chose their own.
func TestPeopleOneTimePasswordExpires(t *testing.T) {
	env := newPeopleEnv(t)
	acct := env.admin.AccountID
	status, out, _ := env.api(http.MethodPost, membersPath(acct), env.admin.APIAccessToken, `{"email":"late@acme.test","role":"agent"}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, out)
	}
	first := out["password"].(string)
	userID := int64(out["user_id"].(float64))

	early := env.browser()
	if resp, _ := early.post("/login", url.Values{"_csrf": {early.csrf("/login")}, "email": {"late@acme.test"}, "password": {first}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("log in with the fresh one-time password: want 303, got %d", resp.StatusCode)
	}
	env.clock.advance(db.OneTimePasswordTTL + time.Minute)
	if resp, _ := early.do(http.MethodGet, choosePasswordPath, nil, nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("a one-time-password session after the password expired: want 303 to log in, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	late := env.browser()
	resp, body := late.post("/login", url.Values{"_csrf": {late.csrf("/login")}, "email": {"late@acme.test"}, "password": {first}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(late.parse(body).Find(`[data-testid="login-error"]`).Text(), "expired") {
		t.Fatalf("log in with an expired one-time password: want 401 saying it expired, got %d", resp.StatusCode)
	}

	admin := env.browser()
	admin.login("admin@acme.test", testPassword)
	person := peoplePath(acct) + "/" + itoa(userID)
	_, doc, _ := admin.getDoc(person)
	if !strings.Contains(doc.Find(`[data-testid="new-one-time-password"]`).Text(), "expired") {
		t.Fatalf("the person's page must say the one-time password expired, got %q", doc.Find(`[data-testid="new-one-time-password"]`).Text())
	}
	resp, body = admin.post(person+"/password", url.Values{"_csrf": {admin.csrf(person)}}, nil)
	second := strings.TrimSpace(admin.parse(body).Find(`[data-testid="one-time-password"]`).Text())
	if resp.StatusCode != http.StatusOK || len(second) < 20 || second == first || !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
		t.Fatalf("new one-time password: want 200 showing a different one, not cached, got %d %q", resp.StatusCode, second)
	}
	if _, err := env.store.Authenticate(context.Background(), "late@acme.test", second); err != nil {
		t.Fatalf("the new one-time password must work: %v", err)
	}
	if strings.Contains(env.logs.String(), second) {
		t.Fatal("the one-time password must never be logged")
	}
	agentPage := peoplePath(acct) + "/" + itoa(env.agent.UserID)
	resp, body = admin.post(agentPage+"/password", url.Values{"_csrf": {admin.csrf(agentPage)}}, nil)
	if resp.StatusCode != http.StatusConflict || admin.parse(body).Find(`[data-testid="one-time-password"]`).Length() != 0 {
		t.Fatalf("a new one-time password for someone who chose their own: want 409 and none shown, got %d", resp.StatusCode)
	}
	if _, err := env.store.Authenticate(context.Background(), "agent@acme.test", testPassword); err != nil {
		t.Fatalf("the refused reset must keep the agent's password: %v", err)
	}
}

func TestPeoplePagesAreForThisAccountsAdministrators(t *testing.T) {
	env := newPeopleEnv(t)
	acct := env.admin.AccountID
	agent := env.browser()
	agent.login("agent@acme.test", testPassword)
	other := env.browser()
	other.login("admin@globex.test", testPassword)
	admin := env.browser()
	admin.login("admin@acme.test", testPassword)
	for _, path := range []string{peoplePath(acct), peoplePath(acct) + "/new", peoplePath(acct) + "/" + itoa(env.admin.UserID)} {
		if resp, _ := agent.do(http.MethodGet, path, nil, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("agent GET %s: want 403, got %d", path, resp.StatusCode)
		}
		if resp, _ := other.do(http.MethodGet, path, nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("another account's administrator GET %s: want 404, got %d", path, resp.StatusCode)
		}
	}
	if resp, _ := agent.post(peoplePath(acct)+"/"+itoa(env.admin.UserID)+"/remove", url.Values{"_csrf": {agent.csrf("/accounts/" + itoa(acct) + "/inboxes")}, "confirm_remove": {"1"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent removes the administrator: want 403, got %d", resp.StatusCode)
	}
	if resp, _ := admin.do(http.MethodGet, peoplePath(acct)+"/"+itoa(env.other.UserID), nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("administrator opens a user of another account: want 404, got %d", resp.StatusCode)
	}
	_, doc, _ := admin.getDoc(peoplePath(acct) + "/" + itoa(env.agent.UserID))
	if label := doc.Find(`[data-testid="remove-person-form"] label`).Text(); !strings.Contains(label, "agent@acme.test") || !strings.Contains(label, "Acme") {
		t.Errorf("the removal confirmation must name the person and the account, got %q", label)
	}
}
