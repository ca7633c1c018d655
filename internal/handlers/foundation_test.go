package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// foundationEnv is the app's routes over real HTTP with a real store, and a Graph API
// that cannot be reached (nothing listens at its address): enough for log-in, access
// rules and inbox management, where new inboxes are saved as not checked yet.
type foundationEnv struct {
	t      *testing.T
	srv    *httptest.Server
	store  *db.Store
	admin  db.NewUserResult
	agent  db.NewUserResult
	other  db.NewUserResult // administrator of another account
	secure bool
}

const testPassword = "correct horse battery"

func newFoundationEnv(t *testing.T, frontendURL string) *foundationEnv {
	t.Helper()
	cipher, store := newTestStore(t, "handler-tests")
	h := New(Config{FrontendURL: frontendURL, SessionAuthKey: cipher.DeriveKey("a"), SessionEncryptionKey: cipher.DeriveKey("e"),
		Logger: discardLogger()}, unreachableMetaDeps(t, store))
	srv := httptest.NewServer(h.Routes())
	t.Cleanup(srv.Close)
	env := &foundationEnv{t: t, srv: srv, store: store}
	env.admin = createTestUser(t, store, "admin@acme.test", "Acme", db.RoleAdministrator)
	env.agent = createTestUser(t, store, "agent@acme.test", "Acme", db.RoleAgent)
	env.other = createTestUser(t, store, "admin@globex.test", "Globex", db.RoleAdministrator)
	return env
}

func (e *foundationEnv) inbox(accountID int64, phone string) db.Inbox {
	e.t.Helper()
	in, err := e.store.CreateInbox(context.Background(), db.NewInbox{AccountID: accountID, Name: "Inbox " + phone, PhoneNumber: phone,
		PhoneNumberID: strings.TrimPrefix(phone, "+") + "0", WABAID: "2000", AccessToken: "EAAtoken-for-" + phone})
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

// browser is a fresh client of the app, not logged in.
func (e *foundationEnv) browser() *webClient { return newWebClient(e.t, e.srv.URL) }

func TestNoSessionRedirectsToLogin(t *testing.T) {
	env := newFoundationEnv(t, "")
	resp, _ := env.browser().do(http.MethodGet, "/accounts/1/inboxes", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Fatalf("want 303 to /login?next=..., got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestLoginSessionCookieAndLogout(t *testing.T) {
	env := newFoundationEnv(t, "https://health.example.com")
	b := env.browser()
	token := b.csrf("/login")
	resp, _ := b.do(http.MethodPost, "/login", url.Values{"_csrf": {token}, "email": {"admin@acme.test"}, "password": {testPassword}, "next": {"//evil.example"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login with an off-site next: want 303 to /, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionName {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || !session.Secure || session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie: want HttpOnly, Secure (https FRONTEND_URL), SameSite=Lax; got %+v", session)
	}
	// The https-only cookie is not sent back over this plain-http test server, so check
	// the same flow on http for the logged-in part.
	plain := newFoundationEnv(t, "")
	pb := plain.browser()
	pb.login("admin@acme.test", testPassword)
	resp, body := pb.do(http.MethodGet, "/", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "/inboxes") {
		t.Fatalf("home after login: want 303 to the account's inboxes, got %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	tok := pb.csrf(resp.Header.Get("Location"))
	resp, _ = pb.do(http.MethodPost, "/logout", url.Values{"_csrf": {tok}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: want 303, got %d", resp.StatusCode)
	}
	resp, _ = pb.do(http.MethodGet, "/accounts/1/inboxes", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("after logout: want a redirect to login, got %d", resp.StatusCode)
	}
}

func TestFailedLoginsAreSlowedDown(t *testing.T) {
	env := newFoundationEnv(t, "")
	b := env.browser()
	token := b.csrf("/login")
	bad := url.Values{"_csrf": {token}, "email": {"admin@acme.test"}, "password": {"wrong password"}}
	for i := range int(throttlePair.burst) {
		if resp, _ := b.do(http.MethodPost, "/login", bad, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failed login %d: want 401, got %d", i+1, resp.StatusCode)
		}
	}
	good := url.Values{"_csrf": {token}, "email": {"admin@acme.test"}, "password": {testPassword}}
	resp, body := b.do(http.MethodPost, "/login", good, nil)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed log-ins") {
		t.Fatalf("after %d failures even the right password must wait: want 429 with a message, got %d", int(throttlePair.burst), resp.StatusCode)
	}
}

func TestCSRF(t *testing.T) {
	env := newFoundationEnv(t, "")
	b := env.browser()
	b.login("admin@acme.test", testPassword)
	form := url.Values{"name": {"Support"}, "phone_number": {"+15550100001"}, "phone_number_id": {"1001"}, "waba_id": {"2001"}, "access_token": {"EAAexample-token-000001"}}
	path := "/accounts/" + itoa(env.admin.AccountID) + "/inboxes"
	if resp, _ := b.do(http.MethodPost, path, form, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST without a CSRF token: want 403, got %d", resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodPost, path, form, map[string]string{"Sec-Fetch-Site": "cross-site"}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: want 403, got %d", resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodPost, path, form, map[string]string{"Sec-Fetch-Site": "same-origin"}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin POST (Sec-Fetch-Site path): want 303, got %d", resp.StatusCode)
	}
	form.Set("phone_number", "+15550100002")
	form.Set("phone_number_id", "1002")
	form.Set("_csrf", b.csrf(path+"/new"))
	if resp, _ := b.do(http.MethodPost, path, form, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST with the form's token (token path): want 303, got %d", resp.StatusCode)
	}
	inboxes, _ := env.store.AllInboxes(context.Background())
	if len(inboxes) != 2 {
		t.Fatalf("want exactly the 2 accepted inboxes stored, got %d", len(inboxes))
	}
}

func TestRolesAndAccountIsolation(t *testing.T) {
	env := newFoundationEnv(t, "")
	mine := env.inbox(env.admin.AccountID, "+15550100001")
	notMine := env.inbox(env.admin.AccountID, "+15550100002")
	theirs := env.inbox(env.other.AccountID, "+15550100003")
	if err := env.store.AddInboxMember(context.Background(), mine.ID, env.agent.UserID); err != nil {
		t.Fatal(err)
	}
	acct := "/accounts/" + itoa(env.admin.AccountID)

	agent := env.browser()
	agent.login("agent@acme.test", testPassword)
	for path, want := range map[string]int{
		acct + "/inboxes":                                     http.StatusOK,
		acct + "/inboxes/" + itoa(mine.ID):                    http.StatusOK,
		acct + "/inboxes/" + itoa(notMine.ID):                 http.StatusNotFound,
		acct + "/inboxes/" + itoa(theirs.ID):                  http.StatusNotFound,
		acct + "/inboxes/new":                                 http.StatusForbidden,
		"/accounts/" + itoa(env.other.AccountID) + "/inboxes": http.StatusNotFound,
	} {
		if resp, _ := agent.do(http.MethodGet, path, nil, nil); resp.StatusCode != want {
			t.Errorf("agent GET %s: want %d, got %d", path, want, resp.StatusCode)
		}
	}
	_, list := agent.do(http.MethodGet, acct+"/inboxes", nil, nil)
	if !strings.Contains(list, mine.Name) || strings.Contains(list, notMine.Name) {
		t.Errorf("agent's inbox list: want only %q, got:\n%s", mine.Name, list)
	}
	if strings.Contains(list, `data-testid="add-inbox"`) {
		t.Error("agents must not see the Add inbox button")
	}
	if resp, _ := agent.do(http.MethodPost, acct+"/inboxes", url.Values{"name": {"x"}}, map[string]string{"Sec-Fetch-Site": "same-origin"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent POST inbox: want 403, got %d", resp.StatusCode)
	}

	admin := env.browser()
	admin.login("admin@acme.test", testPassword)
	if resp, _ := admin.do(http.MethodGet, acct+"/inboxes/"+itoa(theirs.ID), nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("administrator GET another account's inbox: want 404, got %d", resp.StatusCode)
	}
	if resp, _ := admin.do(http.MethodGet, acct+"/inboxes/"+itoa(notMine.ID), nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("administrator GET any inbox of the account: want 200, got %d", resp.StatusCode)
	}
}

func TestAPITokenAuthAndInboxCreation(t *testing.T) {
	env := newFoundationEnv(t, "")
	env.inbox(env.other.AccountID, "+15550100009")
	api := env.browser()
	path := "/api/v1/accounts/" + itoa(env.admin.AccountID) + "/inboxes"
	call := func(method, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, env.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("api_access_token", token)
		}
		resp, err := api.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if status, out := call(http.MethodGet, "", ""); status != http.StatusUnauthorized || out["error"] == nil {
		t.Fatalf("no token: want 401 with an error object, got %d %v", status, out)
	}
	if status, _ := call(http.MethodGet, "wrong-token", ""); status != http.StatusUnauthorized {
		t.Fatalf("wrong token: want 401, got %d", status)
	}
	if status, _ := call(http.MethodGet, env.other.APIAccessToken, ""); status != http.StatusNotFound {
		t.Fatalf("token of another account: want 404, got %d", status)
	}
	status, out := call(http.MethodPost, env.admin.APIAccessToken, `{"name":"","phone_number":"12","phone_number_id":"abc","waba_id":"","access_token":"short"}`)
	fields, _ := out["error"].(map[string]any)["fields"].(map[string]any)
	if status != http.StatusUnprocessableEntity || len(fields) != 5 {
		t.Fatalf("invalid create: want 422 naming 5 bad fields, got %d %v", status, out)
	}
	status, out = call(http.MethodPost, env.admin.APIAccessToken,
		`{"name":"\u202eSupport","phone_number":"+15550100001","phone_number_id":"1001","waba_id":"2001","access_token":"EAAGsecret-token-value-123456"}`)
	if fields, _ := out["error"].(map[string]any)["fields"].(map[string]any); status != http.StatusUnprocessableEntity || fields["name"] == nil {
		t.Fatalf("a name with a right-to-left override: want 422 on name, got %d %v", status, out)
	}
	const token = "EAAGsecret-token-value-123456"
	status, out = call(http.MethodPost, env.admin.APIAccessToken,
		`{"name":"Support","phone_number":"+1 (555) 010-0001","phone_number_id":"1001","waba_id":"2001","business_id":"3001","access_token":"`+token+`"}`)
	if status != http.StatusCreated || out["id"] == nil || out["phone_number"] != "+15550100001" {
		t.Fatalf("create: want 201 with id and normalised phone, got %d %v", status, out)
	}
	if out["meta_check"] != "not_checked_yet" {
		t.Errorf("created while Meta cannot be reached: want meta_check not_checked_yet, got %v", out["meta_check"])
	}
	raw, _ := json.Marshal(out)
	if strings.Contains(string(raw), token) {
		t.Fatal("the API must never echo the access token")
	}
	if status, _ := call(http.MethodPost, env.agent.APIAccessToken, `{}`); status != http.StatusForbidden {
		t.Fatalf("agent create: want 403, got %d", status)
	}
	status, out = call(http.MethodGet, env.admin.APIAccessToken, "")
	if list, _ := out["payload"].([]any); status != http.StatusOK || len(list) != 1 {
		t.Fatalf("list: want the 1 inbox of this account, got %d %v", status, out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestAccountSwitcherAndNotFoundPage(t *testing.T) {
	env := newFoundationEnv(t, "")
	// The Acme administrator is also an agent of Globex.
	if _, err := env.store.CreateUser(context.Background(), "admin@acme.test", testPassword, "Globex", db.RoleAgent); err != nil {
		t.Fatal(err)
	}
	b := env.browser()
	b.login("admin@acme.test", testPassword)
	_, doc, _ := b.getDoc("/accounts/" + itoa(env.other.AccountID) + "/inboxes")
	switcher := doc.Find(`[data-testid="account-switcher"]`)
	if switcher.Length() != 1 || switcher.Find("a").Length() != 2 || !strings.Contains(switcher.Find("summary").Text(), "Globex") {
		t.Fatalf("account switcher: want both accounts with Globex current, got %q", switcher.Text())
	}
	if doc.Find(`[data-testid="add-inbox"]`).Length() != 0 {
		t.Error("in Globex this user is an agent: no Add inbox button")
	}
	resp, body := b.do(http.MethodGet, "/no/such/page", nil, nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `data-testid="error-page"`) {
		t.Fatalf("unknown page: want the 404 page, got %d", resp.StatusCode)
	}
	resp, body = b.do(http.MethodGet, "/api/v1/nothing", nil, nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"type":"not_found"`) {
		t.Fatalf("unknown API path: want a JSON 404, got %d %s", resp.StatusCode, body)
	}
}
