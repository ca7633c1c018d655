package handlers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// issueNewToken makes Meta (the simulator) accept a new token for the inbox's business
// account, as a new system-user token would be; the expired one stops working.
func issueNewToken(t *testing.T, sim *graphsim.Server, wabaID, token string) {
	t.Helper()
	if err := sim.UpdateBusiness(wabaID, func(b *graphsim.Business) { b.AccessToken, b.TokenExpired = token, false }); err != nil {
		t.Fatal(err)
	}
}

func TestReconnectReplacesTheTokenOnlyWhenMetaAcceptsIt(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "token_expired")
	in := e.inbox(inboxTokenGone)
	e.refresh(in)
	oldToken := func() string {
		s, err := e.store.Secrets(context.Background(), in.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s.AccessToken
	}
	before := oldToken()

	admin := e.login("admin@reg.test")
	_, doc, _ := admin.getDoc(regPath(in, ""))
	if doc.Find(`[data-testid="reconnect-form"]`).Length() != 1 {
		t.Fatal("administrator: want the reconnect form on the Settings tab")
	}
	if href, _ := doc.Find(`[data-testid="banner-reconnect"]`).Attr("href"); !strings.HasSuffix(href, "#reconnect") {
		t.Errorf("token expired: the banner must link to the reconnect form, got %q", href)
	}
	agent := e.login("agent@reg.test")
	if _, doc, _ := agent.getDoc(regPath(in, "")); doc.Find(`[data-testid="reconnect-form"]`).Length() != 0 {
		t.Error("agents must not see the reconnect form")
	}
	if resp, _ := agent.post(regPath(in, "/reconnect"), url.Values{"_csrf": {agent.csrf(regPath(in, ""))}, "access_token": {"EAAnew-token-0123456789"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent posting a token: want 403, got %d", resp.StatusCode)
	}

	csrf := admin.csrf(regPath(in, ""))
	for name, token := range map[string]string{"malformed": "short", "unknown to Meta": "EAAwrong-token-0123456789"} {
		resp, body := admin.post(regPath(in, "/reconnect"), url.Values{"_csrf": {csrf}, "access_token": {token}}, nil)
		doc := admin.parse(body)
		if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="reconnect-error"]`).Length() != 1 {
			t.Errorf("%s token: want 422 with the problem next to the field, got %d", name, resp.StatusCode)
		}
		if strings.Contains(body, token) {
			t.Errorf("%s token: the token must never be rendered", name)
		}
	}
	if oldToken() != before {
		t.Fatal("a refused token must leave the old one in place")
	}

	const newToken = "EAAnew-system-user-token-0123456789"
	issueNewToken(t, e.sim, in.WABAID, newToken)
	resp, _ := admin.post(regPath(in, "/reconnect"), url.Values{"_csrf": {csrf}, "access_token": {newToken}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != regPath(in, "") {
		t.Fatalf("good token: want 303 back to the Settings tab, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if oldToken() != newToken {
		t.Error("good token: want it stored")
	}
	got := decodeObject(t, e.apiGetHealth(in))
	if got["stale"] != false || got["error"] != nil {
		t.Errorf("after reconnecting: want fresh health without an error, got stale=%v error=%v", got["stale"], got["error"])
	}
	_, doc, body := admin.getDoc(regPath(in, ""))
	if doc.Find(`[data-testid="banner-reconnect"]`).Length() != 0 || strings.Contains(body, newToken) {
		t.Error("after reconnecting: no reconnect prompt, and the token never shown")
	}
}

func TestReconnectAPI(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "token_expired")
	in := e.inbox(inboxTokenGone)
	path := "/api/v1/accounts/" + itoa(e.admin.AccountID) + "/inboxes/" + itoa(in.ID)
	patch := func(token, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPatch, e.srv.URL+path, strings.NewReader(body))
		req.Header.Set(headerAPIAccessToken, token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := patch(e.agent.APIAccessToken, `{"access_token":"EAAnew-token-0123456789"}`); code != http.StatusForbidden {
		t.Errorf("agent: want 403, got %d", code)
	}
	if code, body := patch(e.admin.APIAccessToken, `{"access_token":"EAAwrong-token-0123456789"}`); code != http.StatusUnprocessableEntity || !strings.Contains(body, "token_refused") {
		t.Errorf("a token Meta refuses: want 422 token_refused, got %d %s", code, body)
	}
	const newToken = "EAAnew-system-user-token-0123456789"
	issueNewToken(t, e.sim, in.WABAID, newToken)
	code, body := patch(e.admin.APIAccessToken, `{"access_token":"`+newToken+`"}`)
	var answer registrationAnswer
	if err := json.Unmarshal([]byte(body), &answer); err != nil || code != http.StatusOK || answer.Health == nil || answer.Health.Stale {
		t.Fatalf("good token: want 200 with fresh health, got %d %s", code, body)
	}
	if strings.Contains(body, newToken) {
		t.Error("the token must never be echoed")
	}
}

func TestRemoveInboxNeedsTheConfirmationAndNeverTouchesMeta(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "connected")
	in := e.inbox(inboxConnected)
	admin := e.login("admin@reg.test")
	csrf := admin.csrf(regPath(in, ""))
	agent := e.login("agent@reg.test")
	if resp, _ := agent.post(regPath(in, "/remove"), url.Values{"_csrf": {agent.csrf(regPath(in, ""))}, "confirm_remove": {"1"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent: want 403, got %d", resp.StatusCode)
	}
	if resp, _ := admin.post(regPath(in, "/remove"), url.Values{"_csrf": {csrf}}, nil); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("without the confirmation: want 422 and the inbox kept, got %d", resp.StatusCode)
	}
	if _, err := e.store.InboxByID(context.Background(), in.ID); err != nil {
		t.Fatalf("without the confirmation the inbox must stay: %v", err)
	}
	before := len(e.sim.Requests())
	resp, _ := admin.post(regPath(in, "/remove"), url.Values{"_csrf": {csrf}, "confirm_remove": {"1"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "/inboxes") {
		t.Fatalf("confirmed: want 303 to the inbox list, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := admin.do(http.MethodGet, regPath(in, ""), nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after removal: want the inbox page 404, got %d", resp.StatusCode)
	}
	if n := len(e.sim.Requests()) - before; n != 0 {
		t.Errorf("removing must never call Meta, got %d requests", n)
	}
}

func TestDeleteInboxAPI(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "connected")
	in := e.inbox(inboxConnected)
	del := func(token string, accountID int64) int {
		req, _ := http.NewRequest(http.MethodDelete, e.srv.URL+"/api/v1/accounts/"+itoa(accountID)+"/inboxes/"+itoa(in.ID), nil)
		req.Header.Set(headerAPIAccessToken, token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := del(e.agent.APIAccessToken, e.admin.AccountID); code != http.StatusForbidden {
		t.Errorf("agent: want 403, got %d", code)
	}
	if code := del(e.other.APIAccessToken, e.other.AccountID); code != http.StatusNotFound {
		t.Errorf("another account: want 404, got %d", code)
	}
	if code := del(e.admin.APIAccessToken, e.admin.AccountID); code != http.StatusNoContent {
		t.Fatalf("administrator: want 204, got %d", code)
	}
	if code := del(e.admin.APIAccessToken, e.admin.AccountID); code != http.StatusNotFound {
		t.Errorf("again: want 404, got %d", code)
	}
}
