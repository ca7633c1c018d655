package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// webhookPost posts a body to the inbox's webhook with the given signature header
// ("" for none).
func (e *badinputEnv) webhookPost(phone, body, signature string) badinputResponse {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/webhooks/whatsapp/"+url.PathEscape(phone), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("X-Hub-Signature-256", signature)
	}
	return e.do(e.client, req)
}

func badinputSign(body string) string { return graphsim.Sign([]byte(badinputAppSecret), []byte(body)) }

func TestBadInputWebhooks(t *testing.T) {
	t.Parallel()
	env := newBadinputEnv(t)
	phone := env.inbox.PhoneNumber
	valid := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":%q,"time":1700000000,"changes":[{"field":"phone_number_quality_update","value":{"display_phone_number":%q,"event":"DOWNGRADE","current_limit":"TIER_1K"}}]}]}`,
		env.inbox.WABAID, strings.TrimPrefix(phone, "+"))

	// Unsigned or wrongly signed: 401 before anything is read into the database.
	unsigned := []struct{ name, body, sig string }{
		{"no signature", valid, ""},
		{"empty signature", valid, "sha256="},
		{"wrong secret", valid, graphsim.Sign([]byte("not-the-secret"), []byte(valid))},
		{"signature of another body", valid, badinputSign(valid + " ")},
		{"not hex", valid, "sha256=" + strings.Repeat("z", 64)},
		{"sha1 scheme", valid, "sha1=" + strings.Repeat("0", 40)},
		{"huge signature", valid, "sha256=" + strings.Repeat("a", 100<<10)},
		{"nul in signature", valid, "sha256=\x00"},
		{"unsigned garbage", strings.Repeat("[", 100_000), ""},
	}
	for _, c := range unsigned {
		before := env.rows()
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/webhooks/whatsapp/"+url.PathEscape(phone), strings.NewReader(c.body))
		if c.sig != "" {
			req.Header["X-Hub-Signature-256"] = []string{c.sig}
		}
		resp, err := env.client.Do(req)
		if err != nil {
			if c.name == "nul in signature" {
				continue // net/http refuses to send it; nothing to test
			}
			t.Fatalf("webhook %s: %v", c.name, err)
		}
		resp.Body.Close()
		assertClear4xx(t, "webhook "+c.name, badinputResponse{StatusCode: resp.StatusCode}, http.StatusUnauthorized, http.StatusBadRequest)
		env.assertNothingStored(before, "webhook "+c.name)
	}

	// Signed, but not a webhook payload: 400 (or 413 when too large), nothing stored.
	signedBad := []struct {
		name, body string
		want       []int
	}{
		{"empty", "", []int{400}},
		{"truncated", valid[:len(valid)/2], []int{400}},
		{"not json", "object=whatsapp_business_account", []int{400}},
		{"null", "null", []int{400}},
		{"array", "[]", []int{400}},
		{"deeply nested", strings.Repeat("[", 100_000), []int{400}},
		{"deeply nested object", strings.Repeat(`{"a":`, 50_000), []int{400}},
		{"wrong types", `{"object":5,"entry":"x"}`, []int{400}},
		{"entry not a list", `{"object":"whatsapp_business_account","entry":{"id":"1"}}`, []int{400}},
		{"changes wrong type", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":7}]}`, []int{400}},
		{"trailing garbage", valid + "}}}", []int{400}},
		{"300 KiB", `{"object":"whatsapp_business_account","entry":[],"pad":"` + strings.Repeat("x", 300<<10) + `"}`, []int{413}},
	}
	for _, c := range signedBad {
		before := env.rows()
		resp := env.webhookPost(phone, c.body, badinputSign(c.body))
		assertClear4xx(t, "signed webhook "+c.name, resp, c.want...)
		env.assertNothingStored(before, "signed webhook "+c.name)
	}

	// The verification handshake refuses anything but the right token for a known number.
	handshakes := []string{
		"/webhooks/whatsapp/" + url.PathEscape(phone),
		"/webhooks/whatsapp/" + url.PathEscape(phone) + "?hub.mode=subscribe&hub.challenge=1",
		"/webhooks/whatsapp/" + url.PathEscape(phone) + "?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
		"/webhooks/whatsapp/" + url.PathEscape(phone) + "?hub.mode=unsubscribe&hub.verify_token=" + env.inbox.WebhookVerifyToken + "&hub.challenge=1",
		"/webhooks/whatsapp/" + url.PathEscape(phone) + "?hub.mode=subscribe&hub.verify_token=%27%20OR%201%3D1&hub.challenge=%3Cscript%3E",
		"/webhooks/whatsapp/%2B19999999999?hub.mode=subscribe&hub.verify_token=" + env.inbox.WebhookVerifyToken + "&hub.challenge=1",
		"/webhooks/whatsapp/..%2F..%2Fetc%2Fpasswd?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1",
		"/webhooks/whatsapp/%00?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1",
		"/webhooks/whatsapp/" + strings.Repeat("9", 4000) + "?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1",
	}
	for _, p := range handshakes {
		before := env.rows()
		resp := env.get(env.client, p)
		assertClear4xx(t, "GET "+p[:min(len(p), 80)], resp, http.StatusForbidden, http.StatusNotFound, http.StatusBadRequest)
		env.assertNothingStored(before, "GET "+p[:min(len(p), 80)])
	}
	// The right token still works after all that, and echoes the challenge as text.
	resp := env.get(env.client, "/webhooks/whatsapp/"+url.PathEscape(phone)+"?hub.mode=subscribe&hub.verify_token="+env.inbox.WebhookVerifyToken+"&hub.challenge=1158201444")
	if resp.StatusCode != http.StatusOK || resp.Body != "1158201444" {
		t.Fatalf("handshake with the right token: want 200 \"1158201444\", got %d %q", resp.StatusCode, resp.Body)
	}

	// And a good signed event is still taken: the endpoint was not wedged by the above.
	before := env.rows()
	resp = env.webhookPost(phone, valid, badinputSign(valid))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("valid signed webhook after the bad ones: want 200, got %d %s", resp.StatusCode, resp.Body)
	}
	if after := env.rows(); after["webhook_events"] != before["webhook_events"]+1 {
		t.Fatalf("valid signed webhook: want one event stored, events went %d -> %d", before["webhook_events"], after["webhook_events"])
	}
	env.assertStillServing()
}
