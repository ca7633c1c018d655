package graphsim

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

type received struct {
	body        []byte
	signature   string
	contentType string
}

// testVerifyToken is the verify token test receivers expect in Meta's challenge.
const testVerifyToken = "vt"

// receiver is a webhook endpoint: it answers Meta's verification GET when the verify
// token is testVerifyToken (403 otherwise), and records every POST, answering status.
func receiver(t *testing.T, status int) (*httptest.Server, func() []received) {
	t.Helper()
	var mu sync.Mutex
	var got []received
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			q := r.URL.Query()
			if q.Get("hub.mode") != "subscribe" || q.Get("hub.verify_token") != testVerifyToken {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, q.Get("hub.challenge"))
			return
		}
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{body: body, signature: r.Header.Get("X-Hub-Signature-256"), contentType: r.Header.Get("Content-Type")})
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(ts.Close)
	return ts, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

// subscribe sets the app's callback (Meta verifies it) and subscribes the app to the
// WABA without an override, as the product does.
func subscribe(t *testing.T, sim *Server, ts *httptest.Server, wabaID, token, callback string) {
	t.Helper()
	if err := sim.SetAppCallback(context.Background(), callback, testVerifyToken, nil); err != nil {
		t.Fatalf("SetAppCallback(%s): %v", callback, err)
	}
	wantOK(t, call(t, ts, http.MethodPost, "/v24.0/"+wabaID+"/subscribed_apps", token, ""))
}

// validSignature checks the header the way the product's receiver must.
func validSignature(secret string, body []byte, header string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(header))
}

type nameUpdateBody struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"`
		Time    int64  `json:"time"`
		Changes []struct {
			Field string                     `json:"field"`
			Value map[string]json.RawMessage `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

func TestNameReviewAfterDelaySendsSignedWebhook(t *testing.T) {
	sim, ts, clock := newSim(t, "name_in_review")
	hook, got := receiver(t, http.StatusOK)
	subscribe(t, sim, ts, "209876543210001", acmeToken, hook.URL+"/webhooks/whatsapp/+14155550118")

	clock.Advance(89 * time.Second)
	sim.Tick()
	if st := mustNumber(t, sim, inReviewID); st.NameStatus != "PENDING_REVIEW" {
		t.Fatalf("want PENDING_REVIEW before the delay, got %s", st.NameStatus)
	}
	clock.Advance(time.Second)
	// Any request completes due reviews lazily.
	a := call(t, ts, http.MethodGet, "/v24.0/"+inReviewID+"?fields=name_status,health_status", acmeToken, "")
	if str(a.body["name_status"]) != "APPROVED" {
		t.Fatalf("want APPROVED after the delay, got %s", a.raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ds, err := sim.WaitDeliveries(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Status != 200 || ds[0].Err != "" || ds[0].Field != "phone_number_name_update" {
		t.Fatalf("want one successful name-update delivery, got %+v", ds)
	}
	r := got()
	if len(r) != 1 {
		t.Fatalf("want 1 webhook at the receiver, got %d", len(r))
	}
	if !validSignature(testSecret, r[0].body, r[0].signature) {
		t.Errorf("want X-Hub-Signature-256 = HMAC-SHA256(app secret, body), got %q for %s", r[0].signature, r[0].body)
	}
	if validSignature("other-secret", r[0].body, r[0].signature) {
		t.Error("want the signature to depend on the secret")
	}
	if r[0].contentType != "application/json" {
		t.Errorf("want Content-Type application/json, got %q", r[0].contentType)
	}
	var body nameUpdateBody
	if err := json.Unmarshal(r[0].body, &body); err != nil {
		t.Fatalf("webhook body: %v", err)
	}
	if body.Object != "whatsapp_business_account" || len(body.Entry) != 1 || body.Entry[0].ID != "209876543210001" ||
		body.Entry[0].Time != t0.Add(90*time.Second).Unix() || len(body.Entry[0].Changes) != 1 {
		t.Fatalf("want one entry for WABA 209876543210001 at the clock's time, got %s", r[0].body)
	}
	ch := body.Entry[0].Changes[0]
	want := map[string]string{
		"display_phone_number":    `"14155550118"`,
		"decision":                `"APPROVED"`,
		"requested_verified_name": `"Blue Harbor Travel"`,
		"rejection_reason":        `null`,
	}
	for k, v := range want {
		if string(ch.Value[k]) != v {
			t.Errorf("want value.%s %s, got %s", k, v, ch.Value[k])
		}
	}
	hs, _ := a.body["health_status"].(map[string]any)
	phone := hs["entities"].([]any)[0].(map[string]any)
	if phone["additional_info"] != nil {
		t.Errorf("want the 'name not approved' note gone after approval, got %v", phone)
	}
	wantOK(t, register(t, ts, inReviewID, acmeToken, "123456"))

	// The review completes once: no second webhook.
	clock.Advance(time.Hour)
	sim.Tick()
	if n := len(sim.Deliveries()); n != 1 {
		t.Errorf("want still 1 delivery, got %d", n)
	}
}

func TestDeclineNameSendsRejectedWebhook(t *testing.T) {
	sim, ts, _ := newSim(t, "name_in_review")
	hook, got := receiver(t, http.StatusOK)
	subscribe(t, sim, ts, "209876543210001", acmeToken, hook.URL)
	if err := sim.DeclineName(inReviewID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := sim.WaitDeliveries(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var body nameUpdateBody
	json.Unmarshal(got()[0].body, &body)
	v := body.Entry[0].Changes[0].Value
	if string(v["decision"]) != `"REJECTED"` || string(v["rejection_reason"]) == "null" {
		t.Errorf("want decision REJECTED with a reason, got %v", v)
	}
	if st := mustNumber(t, sim, inReviewID); st.NameStatus != "DECLINED" || !st.NameReviewDue.IsZero() {
		t.Errorf("want DECLINED and no review scheduled, got %s due %v", st.NameStatus, st.NameReviewDue)
	}
	wantError(t, register(t, ts, inReviewID, acmeToken, "123456"), 400, 100, 2388001)
	if err := sim.ApproveName("nope"); err == nil {
		t.Error("want an error approving an unknown number, got none")
	}
}

func TestReviewWithoutSubscriptionSendsNothing(t *testing.T) {
	sim, _, clock := newSim(t, "name_in_review")
	clock.Advance(2 * time.Minute)
	sim.Tick()
	sim.Close() // waits for delivery goroutines
	if st := mustNumber(t, sim, inReviewID); st.NameStatus != "APPROVED" {
		t.Errorf("want APPROVED, got %s", st.NameStatus)
	}
	if n := len(sim.Deliveries()); n != 0 {
		t.Errorf("want no delivery without a callback, got %d", n)
	}
}

func TestSendWebhookSignsArbitraryEvents(t *testing.T) {
	sim, ts, _ := newSim(t, "connected")
	hook, got := receiver(t, http.StatusOK)
	if err := sim.SendWebhook("209876543210003", "phone_number_quality_update", map[string]string{"event": "DOWNGRADE"}); err == nil {
		t.Error("want an error without a subscription, got none")
	}
	subscribe(t, sim, ts, "209876543210003", "EAAsim-demo-token-padaria", hook.URL)
	err := sim.SendWebhook("209876543210003", "phone_number_quality_update", map[string]string{
		"display_phone_number": "12125550199", "event": "DOWNGRADE", "current_limit": "TIER_250"})
	if err != nil {
		t.Fatalf("SendWebhook: %v", err)
	}
	r := got()
	if len(r) != 1 || !validSignature(testSecret, r[0].body, r[0].signature) {
		t.Fatalf("want one correctly signed webhook, got %d", len(r))
	}
	var body nameUpdateBody
	json.Unmarshal(r[0].body, &body)
	if body.Entry[0].Changes[0].Field != "phone_number_quality_update" || string(body.Entry[0].Changes[0].Value["event"]) != `"DOWNGRADE"` {
		t.Errorf("want the quality update as given, got %s", r[0].body)
	}

	failing, _ := receiver(t, http.StatusInternalServerError)
	subscribe(t, sim, ts, "209876543210003", "EAAsim-demo-token-padaria", failing.URL)
	if err := sim.SendWebhook("209876543210003", "account_update", map[string]string{}); err == nil {
		t.Error("want an error when the receiver answers 500, got none")
	}
	ds := sim.Deliveries()
	if last := ds[len(ds)-1]; last.Status != 500 || last.Err == "" {
		t.Errorf("want the failed delivery recorded with status 500, got %+v", last)
	}
}
