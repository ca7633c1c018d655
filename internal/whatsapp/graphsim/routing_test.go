package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

const (
	padariaWABA  = "209876543210003"
	padariaToken = "EAAsim-demo-token-padaria"
	connectedID  = "109876543210003" // registered on the Cloud API, PIN 424242
)

func mustSetAppCallback(t *testing.T, sim *Server, url string) {
	t.Helper()
	if err := sim.SetAppCallback(context.Background(), url, testVerifyToken, nil); err != nil {
		t.Fatalf("SetAppCallback: %v", err)
	}
}

func subscribePath(waba string) string { return "/v24.0/" + waba + "/subscribed_apps" }

func TestSetAppCallbackVerifiesTheChallenge(t *testing.T) {
	sim, _, _ := newSim(t, "connected")
	good, _ := receiver(t, http.StatusOK)
	echoWrong := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("not-the-challenge"))
	}))
	t.Cleanup(echoWrong.Close)
	cases := []struct {
		name, url, token string
		wantErr          bool
	}{
		{"answers the challenge", good.URL, testVerifyToken, false},
		{"wrong verify token is refused by the receiver", good.URL, "other", true},
		{"wrong answer", echoWrong.URL, testVerifyToken, true},
		{"not a URL", "ftp:/x", testVerifyToken, true},
		{"no verify token", good.URL, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := sim.AppCallback()
			err := sim.SetAppCallback(context.Background(), c.url, c.token, nil)
			after, fields := sim.AppCallback()
			if c.wantErr {
				if err == nil || after != before {
					t.Fatalf("want refused and the callback unchanged (%q), got err %v and %q", before, err, after)
				}
				return
			}
			if err != nil || after != c.url || !slices.Equal(fields, DefaultAppFields) {
				t.Fatalf("want %s with the default fields, got %q %v (err %v)", c.url, after, fields, err)
			}
		})
	}
}

func TestDeliveryRouting(t *testing.T) {
	type setup struct{ wabaOverride, numberOverride bool }
	cases := []struct {
		name  string
		setup setup
		field string
		value any
		want  string // "app", "waba", "number"
	}{
		{"name update ignores a WABA override", setup{wabaOverride: true}, "phone_number_name_update", map[string]string{"decision": "APPROVED"}, "app"},
		{"quality update ignores a number override", setup{true, true}, "phone_number_quality_update", map[string]string{"event": "FLAGGED"}, "app"},
		{"account_update ignores overrides", setup{true, true}, "account_update", map[string]string{"event": "VIOLATION"}, "app"},
		{"messages without overrides", setup{}, "messages", map[string]any{"metadata": map[string]string{"phone_number_id": connectedID}}, "app"},
		{"messages to the WABA override", setup{wabaOverride: true}, "messages", map[string]any{"metadata": map[string]string{"phone_number_id": connectedID}}, "waba"},
		{"messages to the number override first", setup{true, true}, "messages", map[string]any{"metadata": map[string]string{"phone_number_id": connectedID}}, "number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sim, ts, _ := newSim(t, "connected")
			app, _ := receiver(t, http.StatusOK)
			waba, _ := receiver(t, http.StatusOK)
			number, _ := receiver(t, http.StatusOK)
			urls := map[string]string{"app": app.URL + "/app", "waba": waba.URL + "/waba", "number": number.URL + "/number"}
			subscribe(t, sim, ts, padariaWABA, padariaToken, urls["app"])
			if c.setup.wabaOverride {
				wantOK(t, call(t, ts, http.MethodPost, subscribePath(padariaWABA), padariaToken,
					`{"override_callback_uri":"`+urls["waba"]+`","verify_token":"vt"}`))
			}
			if c.setup.numberOverride {
				wantOK(t, call(t, ts, http.MethodPost, "/v24.0/"+connectedID, padariaToken,
					`{"webhook_configuration":{"override_callback_uri":"`+urls["number"]+`","verify_token":"vt"}}`))
			}
			if err := sim.SendWebhook(padariaWABA, c.field, c.value); err != nil {
				t.Fatalf("SendWebhook: %v", err)
			}
			ds := sim.Deliveries()
			if len(ds) != 1 || ds[0].URL != urls[c.want] {
				t.Fatalf("want one delivery to the %s callback %s, got %+v", c.want, urls[c.want], ds)
			}
		})
	}
}

func TestNoDeliveryWithoutSubscriptionOrField(t *testing.T) {
	sim, ts, _ := newSim(t, "connected")
	hook, got := receiver(t, http.StatusOK)
	if err := sim.SetAppCallback(context.Background(), hook.URL, testVerifyToken, []string{"messages"}); err != nil {
		t.Fatal(err)
	}
	if err := sim.SendWebhook(padariaWABA, "messages", map[string]string{}); !errors.Is(err, ErrNoDestination) {
		t.Errorf("app not subscribed to the WABA: want ErrNoDestination, got %v", err)
	}
	wantOK(t, call(t, ts, http.MethodPost, subscribePath(padariaWABA), padariaToken, ""))
	if err := sim.SendWebhook(padariaWABA, "account_update", map[string]string{}); !errors.Is(err, ErrNoDestination) {
		t.Errorf("field not subscribed by the app: want ErrNoDestination, got %v", err)
	}
	if err := sim.SendWebhook(padariaWABA, "messages", map[string]string{}); err != nil {
		t.Errorf("subscribed field: want delivered, got %v", err)
	}
	if n := len(got()); n != 1 {
		t.Errorf("want 1 webhook at the receiver, got %d", n)
	}
}

func TestOverrideRules(t *testing.T) {
	sim, ts, _ := newSim(t, "connected")
	hook, _ := receiver(t, http.StatusOK)
	override := `{"override_callback_uri":"` + hook.URL + `/o","verify_token":"vt"}`

	// Before the app is subscribed to the WABA, Meta refuses the override.
	e := wantError(t, call(t, ts, http.MethodPost, subscribePath(padariaWABA), padariaToken, override), 400, 100, 0)
	if !strings.Contains(str(e["message"]), "your app must be subscribed") {
		t.Errorf("want Meta's 'must be subscribed' message, got %q", e["message"])
	}
	wantError(t, call(t, ts, http.MethodPost, "/v24.0/"+connectedID, padariaToken,
		`{"webhook_configuration":{"override_callback_uri":"`+hook.URL+`/n","verify_token":"vt"}}`), 400, 100, 0)
	if b, _ := sim.Business(padariaWABA); b.Subscription != nil {
		t.Fatalf("a refused override must not subscribe the app, got %+v", b.Subscription)
	}
	reqs := sim.Requests()
	if last := reqs[len(reqs)-2]; last.OverrideCallbackURI != hook.URL+"/o" || last.Status != 400 {
		t.Errorf("want the refused override attempt in the request log, got %+v", last)
	}

	wantOK(t, call(t, ts, http.MethodPost, subscribePath(padariaWABA), padariaToken, ""))
	// A wrong verify token: the receiver does not answer the challenge.
	wantError(t, call(t, ts, http.MethodPost, subscribePath(padariaWABA), padariaToken,
		`{"override_callback_uri":"`+hook.URL+`/o","verify_token":"wrong"}`), 400, 2200, 0)
	if b, _ := sim.Business(padariaWABA); b.Subscription.OverrideCallbackURI != "" {
		t.Fatalf("an unverified override must not be stored, got %+v", b.Subscription)
	}
	wantOK(t, call(t, ts, http.MethodPost, subscribePath(padariaWABA), padariaToken, override))
	a := call(t, ts, http.MethodGet, subscribePath(padariaWABA), padariaToken, "")
	data, _ := a.body["data"].([]any)
	if len(data) != 1 || str(data[0].(map[string]any)["override_callback_uri"]) != hook.URL+"/o" {
		t.Errorf("GET subscribed_apps: want the override shown, got %s", a.raw)
	}
}

func TestWebhookConfigurationField(t *testing.T) {
	sim, ts, _ := newSim(t, "connected")
	hook, _ := receiver(t, http.StatusOK)
	get := func() map[string]any {
		a := call(t, ts, http.MethodGet, "/v24.0/"+connectedID+"?fields=webhook_configuration,is_on_biz_app", padariaToken, "")
		wantOK(t, a)
		if a.body["is_on_biz_app"] != false {
			t.Errorf("want is_on_biz_app false, got %s", a.raw)
		}
		cfg, _ := a.body["webhook_configuration"].(map[string]any)
		return cfg
	}
	if cfg := get(); len(cfg) != 0 {
		t.Errorf("nothing set: want an empty webhook_configuration, got %v", cfg)
	}
	subscribe(t, sim, ts, padariaWABA, padariaToken, hook.URL+"/app")
	wantOK(t, call(t, ts, http.MethodPost, subscribePath(padariaWABA), padariaToken, `{"override_callback_uri":"`+hook.URL+`/waba","verify_token":"vt"}`))
	wantOK(t, call(t, ts, http.MethodPost, "/v24.0/"+connectedID, padariaToken,
		`{"webhook_configuration":{"override_callback_uri":"`+hook.URL+`/number","verify_token":"vt"}}`))
	cfg := get()
	want := map[string]string{"application": hook.URL + "/app", "whatsapp_business_account": hook.URL + "/waba", "phone_number": hook.URL + "/number"}
	for k, v := range want {
		if str(cfg[k]) != v {
			t.Errorf("webhook_configuration.%s: want %s, got %v", k, v, cfg[k])
		}
	}
	if st := mustNumber(t, sim, connectedID); st.OverrideCallbackURI != hook.URL+"/number" {
		t.Errorf("NumberState.OverrideCallbackURI: want %s, got %q", hook.URL+"/number", st.OverrideCallbackURI)
	}
}

func TestRedeliverSendsIdenticalBytes(t *testing.T) {
	sim, ts, _ := newSim(t, "connected")
	hook, got := receiver(t, http.StatusOK)
	subscribe(t, sim, ts, padariaWABA, padariaToken, hook.URL)
	if err := sim.QualityEvent(connectedID, "DOWNGRADE", "TIER_250"); err != nil {
		t.Fatal(err)
	}
	if err := sim.Redeliver(0); err != nil {
		t.Fatal(err)
	}
	r := got()
	if len(r) != 2 || !bytes.Equal(r[0].body, r[1].body) || r[0].signature != r[1].signature {
		t.Fatalf("want the same bytes and signature twice, got %d webhooks", len(r))
	}
	if ds := sim.Deliveries(); len(ds) != 2 || !ds[1].Redelivery || ds[0].Redelivery {
		t.Errorf("want the second delivery marked as a redelivery, got %+v", ds)
	}
	if err := sim.Redeliver(5); err == nil {
		t.Error("want an error redelivering a delivery that does not exist")
	}
}

func TestAppSubscriptionsNeedAnAppToken(t *testing.T) {
	clock := NewFakeClock(t0)
	sim := New(Config{AppSecret: testSecret, Clock: clock, AppID: "777"})
	ts := httptest.NewServer(sim)
	t.Cleanup(func() { ts.Close(); sim.Close() })
	sc, _ := LoadScenario("connected")
	if err := sim.Load(sc); err != nil {
		t.Fatal(err)
	}
	hook, _ := receiver(t, http.StatusOK)
	const path = "/v24.0/777/subscriptions"
	wantError(t, call(t, ts, http.MethodGet, path, "", ""), 400, 104, 0)
	wantError(t, call(t, ts, http.MethodGet, path, padariaToken, ""), 400, 15, 0)
	wantError(t, call(t, ts, http.MethodGet, path, "777|wrong-secret", ""), 401, 190, 0)
	a := call(t, ts, http.MethodGet, path, "777|"+testSecret, "")
	wantOK(t, a)
	if data, _ := a.body["data"].([]any); len(data) != 0 {
		t.Errorf("no callback yet: want no subscriptions, got %s", a.raw)
	}
	if err := sim.SetAppCallback(context.Background(), hook.URL, testVerifyToken, []string{"messages", "account_update"}); err != nil {
		t.Fatal(err)
	}
	a = call(t, ts, http.MethodGet, path, "777|"+testSecret, "")
	var body struct {
		Data []struct {
			Object      string `json:"object"`
			CallbackURL string `json:"callback_url"`
			Active      bool   `json:"active"`
			Fields      []struct{ Name, Version string }
		} `json:"data"`
	}
	if err := json.Unmarshal(a.raw, &body); err != nil || len(body.Data) != 1 {
		t.Fatalf("want one subscription, got %s", a.raw)
	}
	d := body.Data[0]
	if d.Object != "whatsapp_business_account" || d.CallbackURL != hook.URL || !d.Active ||
		len(d.Fields) != 2 || d.Fields[1].Name != "account_update" || d.Fields[1].Version != "v24.0" {
		t.Errorf("want the app callback with its fields, got %s", a.raw)
	}
}

func TestAccountEventsChangeStateAndAreSent(t *testing.T) {
	sim, ts, _ := newSim(t, "connected")
	hook, got := receiver(t, http.StatusOK)
	subscribe(t, sim, ts, padariaWABA, padariaToken, hook.URL)
	cases := []struct {
		name      string
		send      func() error
		field     string
		wantValue map[string]any
		check     func(t *testing.T)
	}{
		{"FLAGGED", func() error { return sim.QualityEvent(connectedID, "FLAGGED", "") }, "phone_number_quality_update",
			map[string]any{"event": "FLAGGED", "display_phone_number": "12125550199"},
			func(t *testing.T) {
				if st := mustNumber(t, sim, connectedID); st.Status != "FLAGGED" || st.QualityRating != "RED" {
					t.Errorf("want FLAGGED/RED, got %s/%s", st.Status, st.QualityRating)
				}
			}},
		{"UPGRADE", func() error { return sim.QualityEvent(connectedID, "UPGRADE", "TIER_10K") }, "phone_number_quality_update",
			map[string]any{"event": "UPGRADE", "max_daily_conversations_per_business": "TIER_10K"},
			func(t *testing.T) {
				if st := mustNumber(t, sim, connectedID); st.BusinessMessagingLimit != "TIER_10K" {
					t.Errorf("want limit TIER_10K, got %s", st.BusinessMessagingLimit)
				}
			}},
		{"RESTRICTION", func() error { return sim.AccountEvent(padariaWABA, "RESTRICTION", nil) }, "account_update",
			map[string]any{"event": "RESTRICTION"},
			func(t *testing.T) {
				b, _ := sim.Business(padariaWABA)
				if b.HealthStatus.CanSendMessage != CanSendLimited {
					t.Errorf("want the WABA LIMITED, got %+v", b.HealthStatus)
				}
			}},
		{"DISABLED_UPDATE", func() error { return sim.AccountEvent(padariaWABA, "DISABLED_UPDATE", nil) }, "account_update",
			map[string]any{"event": "DISABLED_UPDATE"},
			func(t *testing.T) {
				if b, _ := sim.Business(padariaWABA); !b.Locked {
					t.Error("want the account locked")
				}
			}},
		{"OBA alert", func() error {
			return sim.AccountAlert(padariaWABA, "PHONE_NUMBER", connectedID, AlertInfo{Severity: "INFORMATIONAL", Status: "NONE", Type: "OBA_APPROVED", Description: "approved"})
		}, "account_alerts", map[string]any{"entity_type": "PHONE_NUMBER", "entity_id": connectedID},
			func(t *testing.T) {
				if !mustNumber(t, sim, connectedID).IsOfficialBusinessAccount {
					t.Error("want an Official Business Account")
				}
			}},
		{"capability", func() error {
			return sim.BusinessCapabilityEvent(padariaWABA, Capability{MaxDailyConversationsPerBusiness: 2000, MaxPhoneNumbersPerWABA: 2})
		}, "business_capability_update", map[string]any{"max_daily_conversations_per_business": float64(2000)},
			func(t *testing.T) {
				if st := mustNumber(t, sim, "109876543210013"); st.BusinessMessagingLimit != "TIER_2K" {
					t.Errorf("want every number at TIER_2K, got %s", st.BusinessMessagingLimit)
				}
			}},
		{"review", func() error { return sim.AccountReviewEvent(padariaWABA, "REJECTED") }, "account_review_update",
			map[string]any{"decision": "REJECTED"},
			func(t *testing.T) {
				a := call(t, ts, http.MethodGet, "/v24.0/"+padariaWABA+"?fields=account_review_status", padariaToken, "")
				if str(a.body["account_review_status"]) != "REJECTED" {
					t.Errorf("want account_review_status REJECTED, got %s", a.raw)
				}
			}},
		{"PARTNER_REMOVED", func() error { return sim.AccountEvent(padariaWABA, "PARTNER_REMOVED", nil) }, "account_update",
			map[string]any{"event": "PARTNER_REMOVED"},
			func(t *testing.T) {
				if b, _ := sim.Business(padariaWABA); b.Subscription != nil {
					t.Error("want the app unsubscribed after PARTNER_REMOVED")
				}
			}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.send(); err != nil {
				t.Fatal(err)
			}
			r := got()
			if len(r) != i+1 {
				t.Fatalf("want %d webhooks, got %d", i+1, len(r))
			}
			var body nameUpdateBody
			if err := json.Unmarshal(r[i].body, &body); err != nil {
				t.Fatal(err)
			}
			ch := body.Entry[0].Changes[0]
			if ch.Field != c.field || body.Entry[0].ID != padariaWABA {
				t.Fatalf("want field %s for %s, got %s", c.field, padariaWABA, r[i].body)
			}
			for k, v := range c.wantValue {
				var got any
				json.Unmarshal(ch.Value[k], &got)
				if got != v {
					t.Errorf("value.%s: want %v, got %s", k, v, ch.Value[k])
				}
			}
			c.check(t)
		})
	}
	if err := sim.QualityEvent(connectedID, "SIDEWAYS", ""); err == nil {
		t.Error("want an unknown quality event refused")
	}
}
