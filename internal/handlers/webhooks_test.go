package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
)

const inboxConnectedOrders = "Padaria Central — Orders"

func TestAppWebhookHandshakeUsesTheVerifyToken(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "connected")
	handshake := func(routes http.Handler, path, token string) *httptest.ResponseRecorder {
		q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {token}, "hub.challenge": {"907531"}}
		rec := httptest.NewRecorder()
		routes.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil))
		return rec
	}
	rec := handshake(env.routes, "/webhooks/whatsapp", healthTestVerifyToken)
	if rec.Code != http.StatusOK || rec.Body.String() != "907531" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Errorf("app callback, right token: want 200 text/plain challenge, got %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	if rec := handshake(env.routes, "/webhooks/whatsapp", "wrong"); rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "907531") {
		t.Errorf("app callback, wrong token: want 403 without the challenge, got %d %q", rec.Code, rec.Body)
	}
	noToken := New(Config{WhatsAppAppSecret: healthTestAppSecret, SessionAuthKey: env.cipher.DeriveKey("a"),
		SessionEncryptionKey: env.cipher.DeriveKey("e"), Logger: discardLogger()}, Deps{Store: env.store, Health: env.svc}).Routes()
	if rec := handshake(noToken, "/webhooks/whatsapp", ""); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "WHATSAPP_VERIFY_TOKEN") {
		t.Errorf("no WHATSAPP_VERIFY_TOKEN configured: want 403 naming it, got %d %q", rec.Code, rec.Body)
	}
	// A per-number callback accepts the "+" percent-encoded as well as literal, and the
	// server-wide verify token as well as the inbox's own.
	in := env.inbox(inboxConnected)
	for _, path := range []string{"/webhooks/whatsapp/%2B" + strings.TrimPrefix(in.PhoneNumber, "+"), "/webhooks/whatsapp/" + in.PhoneNumber} {
		for _, token := range []string{in.WebhookVerifyToken, healthTestVerifyToken} {
			if rec := handshake(env.routes, path, token); rec.Code != http.StatusOK || rec.Body.String() != "907531" {
				t.Errorf("%s: want the challenge, got %d %q", path, rec.Code, rec.Body)
			}
		}
	}
}

func webhookBody(wabaID, field string, value map[string]any) []byte {
	v, _ := json.Marshal(value)
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"` + wabaID + `","time":1767225600,"changes":[` +
		`{"field":"` + field + `","value":` + string(v) + `}]}]}`)
}

func decodeWebhookResult(t *testing.T, rec *httptest.ResponseRecorder) webhookResult {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("webhook: want 200, got %d: %s", rec.Code, rec.Body)
	}
	var res webhookResult
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatalf("webhook answer %q: %v", rec.Body, err)
	}
	return res
}

func TestAppWebhookRoutesByBusinessAccountAndNumber(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "connected")
	support, orders := env.inbox(inboxConnected), env.inbox(inboxConnectedOrders)
	env.refresh(support)
	env.refresh(orders)
	post := func(body []byte) webhookResult {
		return decodeWebhookResult(t, env.postWebhookTo(env.routes, "/webhooks/whatsapp", body, signature(healthTestAppSecret, body)))
	}

	// A number-level change names its number: only that inbox changes.
	res := post(webhookBody(support.WABAID, "phone_number_quality_update", map[string]any{
		"display_phone_number": strings.TrimPrefix(support.PhoneNumber, "+"), "event": "FLAGGED", "current_limit": "TIER_250"}))
	if res.Received != 1 || res.Applied != 1 {
		t.Errorf("quality change for one number: want 1 received, 1 applied, got %+v", res)
	}
	if got := env.latestSnapshotOf(support); got.Phone.Status != "FLAGGED" {
		t.Errorf("named number: want FLAGGED, got %q", got.Phone.Status)
	}
	if got := env.latestSnapshotOf(orders); got.Phone.Status == "FLAGGED" {
		t.Errorf("the other number of the business account must not change")
	}

	// A business-account-level change names no number: every inbox of the WABA hears it.
	res = post(webhookBody(support.WABAID, "account_update", map[string]any{"event": "ACCOUNT_RESTRICTION",
		"restriction_info": []map[string]any{{"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION", "expiration": 1767225600}}}))
	if res.Received != 1 || res.Applied != 2 {
		t.Errorf("account-level change: want it applied to both inboxes of the WABA, got %+v", res)
	}
	for _, in := range []db.Inbox{support, orders} {
		if got := env.latestSnapshotOf(in); got.Phone.Status != "RESTRICTED" {
			t.Errorf("%s after ACCOUNT_RESTRICTION: want RESTRICTED, got %q", in.Name, got.Phone.Status)
		}
	}

	// Both show on the Account Health tab in plain words.
	_, doc, _ := env.login("admin@health.test").getDoc(views.InboxHealthURL(env.admin.AccountID, support.ID))
	events := doc.Find(`[data-testid="meta-event"]`)
	if events.Length() != 2 || !strings.Contains(events.Text(), "restricted") || !strings.Contains(events.Text(), "flagged") {
		t.Errorf("Events from Meta: want the restriction and the flag in plain words, got %d rows: %q", events.Length(), events.Text())
	}

	// Another business account's event concerns none of ours: stored, answered 200.
	before := env.webhookEvents()
	res = post(webhookBody("209999999999999", "account_update", map[string]any{"event": "ACCOUNT_RESTRICTION"}))
	if res.Received != 1 || res.Applied != 0 || env.webhookEvents() != before+1 {
		t.Errorf("unknown business account: want stored and not applied, got %+v", res)
	}
}

func TestRepeatedWebhookDeliveryIsStoredButActedOnOnce(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "connected")
	in := env.inbox(inboxConnected)
	env.refresh(in)
	body := qualityWebhook(in.WABAID, strings.TrimPrefix(in.PhoneNumber, "+"))
	first := decodeWebhookResult(t, env.postWebhookTo(env.routes, "/webhooks/whatsapp", body, signature(healthTestAppSecret, body)))
	afterFirst := env.latestID(in)
	// Meta's retry of the same event, re-encoded with its keys in another order.
	again := []byte(`{"entry":[{"changes":[{"value":{"current_limit":"TIER_250","event":"FLAGGED","display_phone_number":"` +
		strings.TrimPrefix(in.PhoneNumber, "+") + `"},"field":"phone_number_quality_update"}],"time":1767225600,"id":"` + in.WABAID + `"}],"object":"whatsapp_business_account"}`)
	second := decodeWebhookResult(t, env.postWebhookTo(env.routes, "/webhooks/whatsapp", again, signature(healthTestAppSecret, again)))
	if first.Applied != 1 || first.Duplicates != 0 || second.Duplicates != 1 || second.Applied != 0 {
		t.Errorf("want the first delivery applied and the second marked duplicate, got %+v then %+v", first, second)
	}
	if n := env.webhookEvents(); n != 2 {
		t.Errorf("want both deliveries stored, got %d", n)
	}
	if env.latestID(in) != afterFirst {
		t.Errorf("the duplicate delivery changed the inbox's health")
	}
}
