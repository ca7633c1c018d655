package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

const (
	inboxConnected = "Padaria Central — Support"
	inboxBlocked   = "Quick Loans Desk"
	inboxTokenGone = "Lumen Optics"
)

func TestHealthAPIShape(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "connected")
	in := env.inbox(inboxConnected)
	rec := env.apiGet(env.admin.APIAccessToken, healthAPIPath(env.admin.AccountID, in))
	if rec.Code != http.StatusOK {
		t.Fatalf("want 200, got %d: %s", rec.Code, rec.Body)
	}
	got := decodeObject(t, rec)
	for _, key := range []string{"display_phone_number", "verified_name", "name_status", "quality_rating",
		"messaging_limit_tier", "account_mode", "code_verification_status", "throughput", "last_onboarded_time",
		"platform_type", "business_id", "status", "can_send_message", "health_status", "overall", "registration",
		"checked_at", "stale", "error", "links"} {
		if _, ok := got[key]; !ok {
			t.Errorf("key %q missing from the health API answer", key)
		}
	}
	want := map[string]any{
		"display_phone_number": "+1 212-555-0199", "verified_name": "Padaria Central", "name_status": "APPROVED",
		"quality_rating": "GREEN", "messaging_limit_tier": "TIER_2K", "account_mode": "LIVE",
		"code_verification_status": "VERIFIED", "last_onboarded_time": "2025-03-02T08:00:01+0000",
		"platform_type": "CLOUD_API", "business_id": "309876543210003", "status": "CONNECTED",
		"can_send_message": "AVAILABLE", "stale": false, "error": nil,
	}
	for key, value := range want {
		if got[key] != value {
			t.Errorf("%s: want %v, got %v", key, value, got[key])
		}
	}
	if level := got["throughput"].(map[string]any)["level"]; level != "STANDARD" {
		t.Errorf("throughput.level: want STANDARD, got %v", level)
	}
	if code := got["overall"].(map[string]any)["code"]; code != whatsapp.OverallConnected {
		t.Errorf("overall.code: want connected, got %v", code)
	}
	reg := got["registration"].(map[string]any)
	for _, key := range []string{"state", "can_complete", "reason", "last_attempt", "next_retry_at", "attempts_left"} {
		if _, ok := reg[key]; !ok {
			t.Errorf("registration.%s missing", key)
		}
	}
	if reg["state"] != "registered" || reg["can_complete"] != false {
		t.Errorf("registration: want registered and nothing to complete, got %v", reg)
	}
	entities := got["health_status"].(map[string]any)["entities"].([]any)
	if len(entities) == 0 {
		t.Errorf("health_status.entities: want Meta's entities, got none")
	}
	manager := got["links"].(map[string]any)["whatsapp_manager"]
	if manager != whatsapp.ManagerPhoneNumbersURL("309876543210003", "209876543210003") {
		t.Errorf("links.whatsapp_manager: want the portfolio + WABA link, got %v", manager)
	}
	if checked, _ := got["checked_at"].(string); checked == "" {
		t.Errorf("checked_at: want the time of the first fetch, got %v", got["checked_at"])
	}
	if body := rec.Body.String(); strings.Contains(body, "EAAsim-demo-token-padaria") {
		t.Errorf("the access token must never be in the answer: %s", body)
	}
}

func TestHealthAPIBlockedNumberListsMetasReasons(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "flagged_blocked")
	rec := env.apiGet(env.admin.APIAccessToken, healthAPIPath(env.admin.AccountID, env.inbox(inboxBlocked)))
	got := decodeObject(t, rec)
	if got["can_send_message"] != "BLOCKED" || got["overall"].(map[string]any)["code"] != whatsapp.OverallBlocked {
		t.Errorf("want can_send_message BLOCKED and overall blocked, got %v / %v", got["can_send_message"], got["overall"])
	}
	if !strings.Contains(rec.Body.String(), "There is an error with the payment method.") ||
		!strings.Contains(rec.Body.String(), "possible_solution") {
		t.Errorf("want the WABA entity's error and possible solution, got %s", rec.Body)
	}
}

func TestHealthAPIAccessRules(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "connected")
	in := env.inbox(inboxConnected)
	path := healthAPIPath(env.admin.AccountID, in)
	cases := []struct {
		name, token, path string
		want              int
	}{
		{"no credentials", "", path, http.StatusUnauthorized},
		{"unknown token", "not-a-token", path, http.StatusUnauthorized},
		{"agent who is no member of the inbox", env.agent.APIAccessToken, path, http.StatusNotFound},
		{"administrator of another account, this account", env.other.APIAccessToken, path, http.StatusNotFound},
		{"administrator of another account, own account", env.other.APIAccessToken, healthAPIPath(env.other.AccountID, in), http.StatusNotFound},
		{"unknown inbox", env.admin.APIAccessToken, "/api/v1/accounts/" + itoa(env.admin.AccountID) + "/inboxes/999999/health", http.StatusNotFound},
		{"administrator", env.admin.APIAccessToken, path, http.StatusOK},
	}
	for _, tc := range cases {
		rec := env.apiGet(tc.token, tc.path)
		if rec.Code != tc.want {
			t.Errorf("%s: want %d, got %d: %s", tc.name, tc.want, rec.Code, rec.Body)
			continue
		}
		if tc.want != http.StatusOK {
			errObj, ok := decodeObject(t, rec)["error"].(map[string]any)
			if !ok || errObj["type"] == "" || errObj["message"] == "" {
				t.Errorf("%s: want a JSON error with type and message, got %s", tc.name, rec.Body)
			}
		}
	}
	if err := env.store.AddInboxMember(context.Background(), in.ID, env.agent.UserID); err != nil {
		t.Fatal(err)
	}
	if rec := env.apiGet(env.agent.APIAccessToken, path); rec.Code != http.StatusOK {
		t.Errorf("agent who is a member: want 200, got %d", rec.Code)
	}
}

func TestHealthAPIStaleDataKeepsTheLastGoodValuesAndSaysWhy(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "connected", "token_expired")
	in := env.inbox(inboxConnected)
	env.refresh(in)
	env.sim.FailNext(http.MethodGet, "/"+in.PhoneNumberID, http.StatusServiceUnavailable,
		graphsim.GraphError{Code: 2, Message: "Service temporarily unavailable"})
	env.refresh(in)
	got := decodeObject(t, env.apiGet(env.admin.APIAccessToken, healthAPIPath(env.admin.AccountID, in)))
	errObj, _ := got["error"].(map[string]any)
	if got["stale"] != true || errObj == nil || errObj["kind"] != string(whatsapp.KindTransient) || errObj["code"] != float64(2) {
		t.Errorf("failed refresh: want stale with a transient error (code 2), got stale=%v error=%v", got["stale"], got["error"])
	}
	if got["display_phone_number"] != "+1 212-555-0199" || got["status"] != "CONNECTED" {
		t.Errorf("failed refresh: want the last good data kept, got %v / %v", got["display_phone_number"], got["status"])
	}
	if errObj != nil && (errObj["title"] == "" || errObj["remedy"] == "") {
		t.Errorf("error: want a plain-words title and remedy, got %v", errObj)
	}

	got = decodeObject(t, env.apiGet(env.admin.APIAccessToken, healthAPIPath(env.admin.AccountID, env.inbox(inboxTokenGone))))
	errObj, _ = got["error"].(map[string]any)
	if got["stale"] != true || errObj == nil || errObj["kind"] != string(whatsapp.KindTokenExpired) || errObj["code"] != float64(190) ||
		got["overall"].(map[string]any)["code"] != whatsapp.OverallTokenExpired {
		t.Errorf("expired token: want stale, error token_expired (190), overall token_expired; got %v", got)
	}
	if got["display_phone_number"] != nil {
		t.Errorf("never fetched successfully: want null fields, got %v", got["display_phone_number"])
	}
}

func TestHealthTabShowsBadgesReasonsAndHistory(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "flagged_blocked")
	in := env.inbox(inboxBlocked)
	env.refresh(in)
	if err := env.sim.UpdateNumber(in.PhoneNumberID, func(n *graphsim.Number) { n.QualityRating = "YELLOW" }); err != nil {
		t.Fatal(err)
	}
	env.refresh(in)
	s := env.login("admin@health.test")
	resp, doc, _ := s.getDoc(views.InboxHealthURL(env.admin.AccountID, in.ID))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health tab: want 200, got %d", resp.StatusCode)
	}
	wantBadges := map[string][2]string{
		"status":           {"amber", "Flagged"},
		"can_send_message": {"red", "Blocked"},
		"quality_rating":   {"amber", "Yellow"},
		"platform_type":    {"green", "Cloud API"},
	}
	for field, want := range wantBadges {
		badge := doc.Find(`#health-panel [data-testid="badge-` + field + `"]`)
		if tone, _ := badge.Attr("data-tone"); tone != want[0] || strings.TrimSpace(badge.Text()) != want[1] {
			t.Errorf("badge %s: want %s %q, got %s %q", field, want[0], want[1], tone, strings.TrimSpace(badge.Text()))
		}
	}
	reasons := doc.Find(`[data-testid="health-entity"]`).Text()
	if !strings.Contains(reasons, "There is an error with the payment method.") || !strings.Contains(reasons, "Add a valid payment method") {
		t.Errorf("entities: want Meta's reason and possible solution, got %q", reasons)
	}
	if doc.Find(`[data-testid="stale-warning"]`).Length() != 0 {
		t.Errorf("a good fetch must not show a stale warning")
	}
	if title, _ := doc.Find(`[data-testid="checked-at"]`).Attr("title"); !strings.HasSuffix(title, "UTC") {
		t.Errorf("checked-at: want the exact time in the title, got %q", title)
	}
	history := doc.Find(`[data-testid="health-history"]`).Text()
	if !strings.Contains(history, "Quality") || !strings.Contains(history, "Red") || !strings.Contains(history, "Yellow") {
		t.Errorf("history: want the quality change from Red to Yellow, got %q", history)
	}
	if href, _ := doc.Find(`#health-panel [data-testid="manager-link"]`).Attr("href"); !strings.Contains(href, "asset_id=209876543210004") {
		t.Errorf("manager link: want the WABA as asset_id, got %q", href)
	}
	if tab, _ := doc.Find(`[data-testid="tab-health"]`).Attr("class"); !strings.Contains(tab, "active") {
		t.Errorf("the Account Health tab must be the active one")
	}
}

func TestHealthTabShowsTheFailureInPlainWords(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "token_expired")
	in := env.inbox(inboxTokenGone)
	s := env.login("admin@health.test")
	_, doc, _ := s.getDoc(views.InboxHealthURL(env.admin.AccountID, in.ID))
	warning := doc.Find(`[data-testid="stale-warning"]`)
	if warning.Length() == 0 || !strings.Contains(warning.Text(), whatsapp.KindTokenExpired.Explain().Title) {
		t.Fatalf("want a stale warning explaining the expired token, got %q", warning.Text())
	}
	if doc.Find(`[data-testid="refresh-health"]`).Length() != 1 {
		t.Errorf("the Refresh button must be there when the check failed")
	}
	if strings.Contains(doc.Text(), "EAAsim-demo-token-lumen") {
		t.Errorf("the access token must never be rendered")
	}
}

func TestHealthTabNeverCheckedStillRenders(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "connected")
	in := env.inbox(inboxConnected)
	env.sim.SetFaults(graphsim.Faults{ServerErrorRate: 1})
	s := env.login("admin@health.test")
	resp, doc, _ := s.getDoc(views.InboxHealthURL(env.admin.AccountID, in.ID))
	if resp.StatusCode != http.StatusOK || doc.Find(`#health-panel`).Length() != 1 {
		t.Fatalf("want the panel even when Meta fails, got %d", resp.StatusCode)
	}
	if doc.Find(`[data-testid="stale-warning"]`).Length() == 0 || doc.Find(`[data-testid="refresh-health"]`).Length() != 1 {
		t.Errorf("want the failure and a Refresh button, got %q", doc.Find(`#health-panel`).Text())
	}
}

func TestHealthRefresh(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "connected")
	in := env.inbox(inboxConnected)
	first := env.refresh(in)
	path := views.InboxHealthRefreshURL(env.admin.AccountID, in.ID)
	tab := views.InboxHealthURL(env.admin.AccountID, in.ID)
	s := env.login("admin@health.test")
	token := s.csrf(tab)

	calls := env.sim.CountRequests(http.MethodGet, "/"+in.PhoneNumberID)
	resp, body := s.post(path, url.Values{"_csrf": {token}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tab {
		t.Errorf("plain form: want 303 back to the tab, got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := env.sim.CountRequests(http.MethodGet, "/"+in.PhoneNumberID); got != calls+1 {
		t.Errorf("refresh: want one Graph call, got %d", got-calls)
	}

	// Within the cooldown the htmx refresh answers with that fetch: no second call.
	resp, body = s.post(path, nil, map[string]string{"HX-Request": "true", "X-CSRF-Token": token})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("htmx: want 200, got %d: %s", resp.StatusCode, body)
	}
	if got := env.sim.CountRequests(http.MethodGet, "/"+in.PhoneNumberID); got != calls+1 {
		t.Errorf("htmx refresh within the cooldown: want no further Graph call, got %d in all", got-calls)
	}
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(body))
	if doc.Find(`#health-panel`).Length() != 1 || doc.Find(`[data-testid="inbox-name"]`).Length() != 0 {
		t.Errorf("htmx: want only the panel fragment, got %s", body)
	}
	if oob, _ := doc.Find(`#inbox-status`).Attr("hx-swap-oob"); oob != "true" {
		t.Errorf("htmx: want the header status swapped out of band")
	}
	if checked, _ := doc.Find(`[data-testid="checked-at"]`).Attr("data-checked-at"); checked == "" || checked == first.CheckedAt.Format("2006-01-02T15:04:05.999999999Z07:00") {
		t.Errorf("htmx: want a new checked time, got %q (first was %v)", checked, first.CheckedAt)
	}
	if vary := resp.Header.Values("Vary"); !strings.Contains(strings.Join(vary, ","), "HX-Request") {
		t.Errorf("want Vary: HX-Request, got %v", vary)
	}

	if resp, _ := s.post(path, url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without the CSRF token: want 403, got %d", resp.StatusCode)
	}
	if err := env.store.AddInboxMember(context.Background(), in.ID, env.agent.UserID); err != nil {
		t.Fatal(err)
	}
	agent := env.login("agent@health.test")
	if resp, _ := agent.post(path, url.Values{"_csrf": {agent.csrf(tab)}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("agent member: may refresh (read-only in effect), want 303, got %d", resp.StatusCode)
	}
	other := env.login("admin@elsewhere.test")
	if resp, _ := other.do(http.MethodGet, tab, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another account's administrator: want 404, got %d", resp.StatusCode)
	}
}

func TestInboxListFiltersToInboxesNeedingAttention(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "connected", "flagged_blocked")
	for _, in := range env.inboxes {
		env.refresh(in)
	}
	s := env.login("admin@health.test")
	_, doc, _ := s.getDoc(views.InboxesURL(env.admin.AccountID))
	if n := doc.Find(`[data-testid="inbox-row"]`).Length(); n != 3 {
		t.Fatalf("all inboxes: want 3 rows, got %d", n)
	}
	blocked := doc.Find(`[data-testid="inbox-row"][data-inbox-id="` + itoa(env.inbox(inboxBlocked).ID) + `"] [data-testid="overall-status"]`)
	if status, _ := blocked.Attr("data-status"); status != whatsapp.OverallBlocked {
		t.Errorf("list: want the blocked inbox's badge to say blocked, got %q", status)
	}
	_, doc, _ = s.getDoc(views.InboxesURL(env.admin.AccountID) + "?status=attention")
	rows := doc.Find(`[data-testid="inbox-row"]`)
	if rows.Length() != 2 {
		t.Errorf("needs attention: want the blocked number and the YELLOW-quality one, got %d rows: %q", rows.Length(), rows.Text())
	}
	if strings.Contains(rows.Text(), inboxConnected) {
		t.Errorf("needs attention: the healthy inbox must not be listed")
	}
}

func TestWebhookVerificationHandshake(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "connected")
	in := env.inbox(inboxConnected)
	handshake := func(phone, mode, token string) *httptest.ResponseRecorder {
		q := url.Values{"hub.mode": {mode}, "hub.verify_token": {token}, "hub.challenge": {"1158201444"}}
		return env.serve(httptest.NewRequest(http.MethodGet, "/webhooks/whatsapp/"+url.PathEscape(phone)+"?"+q.Encode(), nil))
	}
	rec := handshake(in.PhoneNumber, "subscribe", in.WebhookVerifyToken)
	if rec.Code != http.StatusOK || rec.Body.String() != "1158201444" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Errorf("right token: want 200 text/plain with the challenge, got %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	if rec := handshake(strings.TrimPrefix(in.PhoneNumber, "+"), "subscribe", in.WebhookVerifyToken); rec.Code != http.StatusOK {
		t.Errorf("number without +: want 200, got %d", rec.Code)
	}
	for name, rec := range map[string]*httptest.ResponseRecorder{
		"wrong token":    handshake(in.PhoneNumber, "subscribe", "wrong"),
		"empty token":    handshake(in.PhoneNumber, "subscribe", ""),
		"wrong mode":     handshake(in.PhoneNumber, "unsubscribe", in.WebhookVerifyToken),
		"unknown number": handshake("+15550000000", "subscribe", in.WebhookVerifyToken),
		"not a number":   handshake("abc", "subscribe", in.WebhookVerifyToken),
	} {
		if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "1158201444") {
			t.Errorf("%s: want 403 without the challenge, got %d %q", name, rec.Code, rec.Body)
		}
	}
}

func qualityWebhook(wabaID, digits string) []byte {
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"` + wabaID + `","time":1767225600,"changes":[` +
		`{"field":"phone_number_quality_update","value":{"display_phone_number":"` + digits + `","event":"FLAGGED","current_limit":"TIER_250"}}]}]}`)
}

func TestWebhookSignedChangeIsStoredAndUpdatesHealth(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "connected")
	in := env.inbox(inboxConnected)
	env.refresh(in)
	body := qualityWebhook(in.WABAID, strings.TrimPrefix(in.PhoneNumber, "+"))
	rec := env.postWebhook(env.routes, strings.TrimPrefix(in.PhoneNumber, "+"), body, signature(healthTestAppSecret, body))
	if rec.Code != http.StatusOK {
		t.Fatalf("signed webhook: want 200, got %d: %s", rec.Code, rec.Body)
	}
	if n := env.webhookEvents(); n != 1 {
		t.Errorf("want the change stored, got %d events", n)
	}
	snap, err := env.store.LatestSnapshot(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Source != "webhook" || snap.Phone.Status != "FLAGGED" || snap.Phone.LimitTier() != "TIER_250" {
		t.Errorf("want health updated at once from the webhook, got source=%q status=%q tier=%q", snap.Source, snap.Phone.Status, snap.Phone.LimitTier())
	}
	got := decodeObject(t, env.apiGet(env.admin.APIAccessToken, healthAPIPath(env.admin.AccountID, in)))
	if got["status"] != "FLAGGED" || got["messaging_limit_tier"] != "TIER_250" {
		t.Errorf("API after the webhook: want FLAGGED / TIER_250, got %v / %v", got["status"], got["messaging_limit_tier"])
	}

	unknown := qualityWebhook("209999999999999", "15550000000")
	if rec := env.postWebhook(env.routes, "+15550000000", unknown, signature(healthTestAppSecret, unknown)); rec.Code != http.StatusOK {
		t.Errorf("signed webhook for an unknown number: want 200 (Meta retries anything else), got %d", rec.Code)
	}
}

func TestWebhookRefusesUnsignedMalformedAndOversizedBodies(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "connected")
	in := env.inbox(inboxConnected)
	env.refresh(in)
	body := qualityWebhook(in.WABAID, strings.TrimPrefix(in.PhoneNumber, "+"))
	malformed := []byte(`{"object":"whatsapp_business_account","entry":{}}`)
	oversized := append([]byte(`{"object":"whatsapp_business_account","entry":[],"pad":"`), []byte(strings.Repeat("x", maxWebhookBody))...)
	oversized = append(oversized, []byte(`"}`)...)
	noSecret := env.handler("")
	cases := []struct {
		name   string
		routes http.Handler
		body   []byte
		sig    string
		want   int
		says   string
	}{
		{"missing signature", env.routes, body, "", http.StatusUnauthorized, "X-Hub-Signature-256"},
		{"wrong secret", env.routes, body, signature("another-secret", body), http.StatusUnauthorized, "X-Hub-Signature-256"},
		{"signature of another body", env.routes, body, signature(healthTestAppSecret, malformed), http.StatusUnauthorized, "X-Hub-Signature-256"},
		{"garbage signature", env.routes, body, "sha256=zz", http.StatusUnauthorized, "X-Hub-Signature-256"},
		{"no app secret configured", noSecret, body, signature(healthTestAppSecret, body), http.StatusUnauthorized, "WHATSAPP_APP_SECRET"},
		{"signed but malformed", env.routes, malformed, signature(healthTestAppSecret, malformed), http.StatusBadRequest, "entry"},
		{"signed but not JSON", env.routes, []byte("not json"), signature(healthTestAppSecret, []byte("not json")), http.StatusBadRequest, ""},
		{"over 256 KiB", env.routes, oversized, signature(healthTestAppSecret, oversized), http.StatusRequestEntityTooLarge, ""},
	}
	before := env.latestID(in)
	for _, tc := range cases {
		rec := env.postWebhook(tc.routes, in.PhoneNumber, tc.body, tc.sig)
		if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.says) {
			t.Errorf("%s: want %d mentioning %q, got %d: %s", tc.name, tc.want, tc.says, rec.Code, rec.Body)
		}
	}
	if n := env.webhookEvents(); n != 0 {
		t.Errorf("refused webhooks must store nothing, got %d events", n)
	}
	if after := env.latestID(in); after != before {
		t.Errorf("refused webhooks must not change health: snapshot %d became %d", before, after)
	}
}

func (e *healthEnv) latestID(in db.Inbox) int64 {
	e.t.Helper()
	snap, err := e.store.LatestSnapshot(context.Background(), in.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return snap.ID
}
