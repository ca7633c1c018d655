package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

func TestLogoutEndsTheSessionEvenForACopiedCookie(t *testing.T) {
	env := newSecEnv(t, secOptions{})
	b := env.loggedIn("admin@acme.test")
	copied := b.sessionCookie()
	b.wantAPIStatus("logged in", env.apiPath(), http.StatusOK)

	resp, _ := b.post("/logout", url.Values{"_csrf": {b.csrf(env.inboxesPath())}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: want 303, got %d", resp.StatusCode)
	}
	thief := env.replay(copied)
	thief.wantLoginPage("the cookie replayed after logout", env.inboxesPath())
	thief.wantAPIStatus("the cookie replayed after logout", env.apiPath(), http.StatusUnauthorized)
}

func TestSignOutEverywhereEndsEveryBrowser(t *testing.T) {
	env := newSecEnv(t, secOptions{})
	here := env.loggedIn("admin@acme.test")
	there := env.loggedIn("admin@acme.test")
	agent := env.loggedIn("agent@acme.test")
	_, doc, _ := here.getDoc("/account")
	if got := doc.Find(`[data-testid="account-page"]`).Text(); !strings.Contains(got, "2 browsers") {
		t.Errorf("account page: want the two open sessions counted, got %q", got)
	}

	resp, _ := here.post("/account/sign_out_everywhere", url.Values{"_csrf": {here.csrf("/account")}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("sign out everywhere: want 303 to /login, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	here.wantLoginPage("this browser after signing out everywhere", env.inboxesPath())
	there.wantLoginPage("another browser after signing out everywhere", env.inboxesPath())
	there.wantAPIStatus("another browser after signing out everywhere", env.apiPath(), http.StatusUnauthorized)
	if resp, _ := agent.do(http.MethodGet, env.inboxesPath(), nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("someone else's session must stay: want 200, got %d", resp.StatusCode)
	}
	_, login, _ := here.getDoc("/login")
	if flash := login.Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "signed out everywhere") {
		t.Errorf("login page after signing out everywhere: want it said, got %q", flash)
	}

	// The API: DELETE /api/v1/profile/sessions does the same with the API token.
	there = env.loggedIn("admin@acme.test")
	req, _ := http.NewRequest(http.MethodDelete, env.srv.URL+"/api/v1/profile/sessions", nil)
	req.Header.Set(headerAPIAccessToken, env.admin.APIAccessToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("API sign out everywhere: want 204, got %d", res.StatusCode)
	}
	there.wantLoginPage("a browser after the API signed out everywhere", env.inboxesPath())
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	env := newSecEnv(t, secOptions{})
	here := env.loggedIn("admin@acme.test")
	there := env.loggedIn("admin@acme.test")
	before := here.sessionCookie()
	const newPassword = "a brand new passphrase"

	for _, bad := range []struct {
		name, current, next, confirm, field string
	}{
		{"wrong current password", "not it at all", newPassword, newPassword, "current_password"},
		{"too short", testPassword, "short", "short", "password"},
		{"confirmation differs", testPassword, newPassword, newPassword + "!", "password_confirm"},
		{"same as before", testPassword, testPassword, testPassword, "password"},
	} {
		resp, doc, _ := here.getDoc("/account")
		token, _ := doc.Find(`form[data-testid="password-form"] input[name="_csrf"]`).Attr("value")
		resp, body := here.post("/account/password", url.Values{"_csrf": {token}, "current_password": {bad.current},
			"password": {bad.next}, "password_confirm": {bad.confirm}}, nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-`+bad.field+`"`) {
			t.Errorf("%s: want 422 with the problem at %s, got %d", bad.name, bad.field, resp.StatusCode)
		}
	}
	there.wantAPIStatus("a refused change ends nothing", env.apiPath(), http.StatusOK)

	resp, _ := here.post("/account/password", url.Values{"_csrf": {here.csrf("/account")}, "current_password": {testPassword},
		"password": {newPassword}, "password_confirm": {newPassword}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("change password: want 303 back to /account, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, doc, _ := here.getDoc("/account")
	if flash := doc.Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "Password changed") {
		t.Errorf("the browser that changed it stays signed in and is told: got flash %q", flash)
	}
	there.wantLoginPage("another browser after a password change", env.inboxesPath())
	there.wantAPIStatus("another browser after a password change", env.apiPath(), http.StatusUnauthorized)
	env.replay(before).wantLoginPage("this browser's cookie from before the change", env.inboxesPath())

	old := env.browser()
	if resp, _ := old.post("/login", url.Values{"_csrf": {old.csrf("/login")}, "email": {"admin@acme.test"}, "password": {testPassword}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old password: want 401, got %d", resp.StatusCode)
	}
	env.browser().login("admin@acme.test", newPassword)
}

func TestAPIPasswordChangeAndTokenRotation(t *testing.T) {
	env := newSecEnv(t, secOptions{})
	browser := env.loggedIn("agent@acme.test")
	call := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, env.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(headerAPIAccessToken, token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if status, out := call(http.MethodGet, "/api/v1/profile", env.agent.APIAccessToken, ""); status != http.StatusOK || out["email"] != "agent@acme.test" || out["sessions"] != 1.0 {
		t.Fatalf("profile: want 200 with the email and 1 session, got %d %v", status, out)
	}
	status, out := call(http.MethodPost, "/api/v1/profile/password", env.agent.APIAccessToken, `{"current_password":"nope nope","password":"another good password"}`)
	if fields, _ := out["error"].(map[string]any)["fields"].(map[string]any); status != http.StatusUnprocessableEntity || fields["current_password"] == nil {
		t.Fatalf("wrong current password: want 422 on current_password, got %d %v", status, out)
	}
	if status, _ := call(http.MethodPost, "/api/v1/profile/password", env.agent.APIAccessToken,
		`{"current_password":"`+testPassword+`","password":"another good password"}`); status != http.StatusNoContent {
		t.Fatalf("change password: want 204, got %d", status)
	}
	browser.wantLoginPage("the browser after an API password change", env.inboxesPath())

	status, out = call(http.MethodPost, "/api/v1/profile/api_token", env.agent.APIAccessToken, "")
	newToken, _ := out["api_access_token"].(string)
	if status != http.StatusCreated || len(newToken) < 32 || newToken == env.agent.APIAccessToken {
		t.Fatalf("rotate token: want 201 with a new token, got %d %v", status, out)
	}
	if status, _ := call(http.MethodGet, env.apiPath(), env.agent.APIAccessToken, ""); status != http.StatusUnauthorized {
		t.Errorf("the old token after rotation: want 401, got %d", status)
	}
	if status, _ := call(http.MethodGet, env.apiPath(), newToken, ""); status != http.StatusOK {
		t.Errorf("the new token: want 200, got %d", status)
	}
}

func TestRotateAPITokenOnThePageShowsItOnce(t *testing.T) {
	env := newSecEnv(t, secOptions{})
	b := env.loggedIn("admin@acme.test")
	resp, body := b.post("/account/api_token", url.Values{"_csrf": {b.csrf("/account")}}, nil)
	doc := b.parse(body)
	token := strings.TrimSpace(doc.Find(`#new-api-token`).Text())
	if resp.StatusCode != http.StatusOK || len(token) < 32 {
		t.Fatalf("rotate on the page: want 200 showing the new token, got %d %q", resp.StatusCode, token)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the page showing a token: want Cache-Control no-store, got %q", cc)
	}
	if _, again, _ := b.getDoc("/account"); again.Find(`#new-api-token`).Length() != 0 {
		t.Error("the token must be shown once only")
	}
	if u, err := env.store.UserByAPIToken(t.Context(), token); err != nil || u.Email != "admin@acme.test" {
		t.Errorf("the shown token must be the user's: %v %v", u, err)
	}
}

func TestSessionLifetimes(t *testing.T) {
	clock := newTestClock()
	env := newSecEnv(t, secOptions{clock: clock})

	b := env.browser()
	resp, _ := b.post("/login", url.Values{"_csrf": {b.csrf("/login")}, "email": {"admin@acme.test"}, "password": {testPassword}}, nil)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionName {
			cookie = c
		}
	}
	if cookie == nil || cookie.MaxAge != int(db.SessionLifetime.Seconds()) {
		t.Fatalf("session cookie at log-in: want Max-Age %d (7 days), got %+v", int(db.SessionLifetime.Seconds()), cookie)
	}

	// Idle: used every 11 hours the session lives on; 12 hours unused ends it.
	for range 3 {
		clock.advance(11 * time.Hour)
		if resp, _ := b.do(http.MethodGet, env.inboxesPath(), nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("used within the idle timeout: want 200, got %d", resp.StatusCode)
		}
	}
	clock.advance(db.SessionIdleTimeout)
	b.wantLoginPage("after 12 hours idle", env.inboxesPath())

	// Absolute: however busy, 7 days after the log-in the session ends; a cookie
	// written on the way carries what is left of the 7 days.
	b = env.browser()
	b.login("admin@acme.test", testPassword)
	for range 12 {
		clock.advance(6 * time.Hour)
		if resp, _ := b.do(http.MethodGet, env.inboxesPath(), nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("in use: want 200, got %d", resp.StatusCode)
		}
	}
	// Opening another account of the user's remembers it in the cookie: it is written again.
	globex, err := env.store.CreateUser(t.Context(), "admin@acme.test", testPassword, "Globex", db.RoleAgent)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = b.do(http.MethodGet, "/accounts/"+itoa(globex.AccountID)+"/inboxes", nil, nil)
	cookie = nil
	for _, c := range resp.Cookies() {
		if c.Name == sessionName {
			cookie = c
		}
	}
	if want := int((4 * 24 * time.Hour).Seconds()); resp.StatusCode != http.StatusOK || cookie == nil || cookie.MaxAge != want {
		t.Fatalf("cookie written 3 days after log-in: want Max-Age %d (the 4 days left), got %d %+v", want, resp.StatusCode, cookie)
	}
	for elapsed := 3 * 24 * time.Hour; elapsed+6*time.Hour < db.SessionLifetime; elapsed += 6 * time.Hour {
		clock.advance(6 * time.Hour)
		if resp, _ := b.do(http.MethodGet, env.inboxesPath(), nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("%v after log-in: want 200, got %d", elapsed+6*time.Hour, resp.StatusCode)
		}
	}
	clock.advance(6 * time.Hour)
	b.wantLoginPage("7 days after log-in", env.inboxesPath())
}

func TestLogInGivesANewCSRFToken(t *testing.T) {
	env := newSecEnv(t, secOptions{})
	b := env.browser()
	before := b.csrf("/login")
	b.login("admin@acme.test", testPassword)
	after := b.csrf(env.inboxesPath())
	if after == before {
		t.Fatal("the CSRF token from before the log-in must not stay valid after it")
	}
	if resp, _ := b.post("/logout", url.Values{"_csrf": {before}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a post with the token from before the log-in: want 403, got %d", resp.StatusCode)
	}
}

// The session cookie holds compact JSON, not gob; a cookie written in gob before the
// upgrade still logs its browser in.
func TestSessionCookieFromBeforeTheUpgradeStillWorks(t *testing.T) {
	env := newSecEnv(t, secOptions{})
	b := env.loggedIn("admin@acme.test")
	b.wantAPIStatus("logged in", env.apiPath(), http.StatusOK)
	cookie := b.sessionCookie()

	gobCodec := securecookie.New(env.cookieKeys[0], env.cookieKeys[1])
	var values map[any]any
	if err := gobCodec.Decode(sessionName, cookie.Value, &values); err == nil {
		t.Fatalf("the session cookie decodes as gob (%v): want the JSON serializer", values)
	}
	jsonCodec := securecookie.New(env.cookieKeys[0], env.cookieKeys[1])
	jsonCodec.SetSerializer(sessionCookieSerializer{})
	if err := jsonCodec.Decode(sessionName, cookie.Value, &values); err != nil {
		t.Fatalf("decode the session cookie: %v", err)
	}
	if token, _ := values[cookieSessionToken].(string); token == "" {
		t.Fatalf("session cookie: want a session token, got %v", values)
	}

	old, err := gobCodec.Encode(sessionName, values)
	if err != nil {
		t.Fatal(err)
	}
	before := env.replay(&http.Cookie{Name: sessionName, Value: old})
	before.wantAPIStatus("a gob cookie from before the upgrade", env.apiPath(), http.StatusOK)
	if resp, _ := before.do(http.MethodGet, env.inboxesPath(), nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("inbox list with a gob cookie from before the upgrade: want 200, got %d", resp.StatusCode)
	}
}
