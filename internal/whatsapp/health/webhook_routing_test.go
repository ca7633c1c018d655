package health

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// appCallback sets the simulated app's callback (App Dashboard) to a receiver that
// answers Meta's verification challenge, subscribing fields (nil: the default list).
func (e *regEnv) appCallback(fields []string) string {
	e.t.Helper()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.URL.Query().Get("hub.challenge")))
	}))
	e.t.Cleanup(receiver.Close)
	url := receiver.URL + "/webhooks/whatsapp"
	if err := e.sim.SetAppCallback(context.Background(), url, "verify-me", fields); err != nil {
		e.t.Fatalf("SetAppCallback: %v", err)
	}
	return url
}

func (e *regEnv) route(reg *Registrar, in db.Inbox) WebhookRoute {
	e.t.Helper()
	in = e.reload(in)
	var snap *db.HealthSnapshot
	if s, err := e.store.LatestSnapshot(context.Background(), in.ID); err == nil {
		snap = &s
	}
	w, err := reg.WebhookRoute(context.Background(), in, snap)
	if err != nil {
		e.t.Fatalf("WebhookRoute: %v", err)
	}
	return w
}

func TestWebhookRouteReportsWhatMetaAndTheAppSaid(t *testing.T) {
	allButNameUpdates := slices.DeleteFunc(slices.Clone(graphsim.DefaultAppFields), func(f string) bool {
		return f == whatsapp.WebhookFieldNameUpdate || f == whatsapp.WebhookFieldAccountAlerts
	})
	for _, tc := range []struct {
		name        string
		fields      []string // the app's subscribed fields; nil: Meta's default list
		appID       string
		appSecret   string
		wantMissing []string
		wantFields  bool // an app-level field check is reported
		wantSubbed  bool
	}{
		{name: "app known, every field subscribed", appID: graphsim.AppID, appSecret: simAppSecret,
			wantFields: true, wantSubbed: true},
		{name: "app known, fewer fields", fields: allButNameUpdates, appID: graphsim.AppID, appSecret: simAppSecret,
			wantMissing: []string{whatsapp.WebhookFieldNameUpdate, whatsapp.WebhookFieldAccountAlerts}, wantFields: true, wantSubbed: true},
		// This app is not the one subscribed, and Meta will not list another app's fields.
		{name: "another app subscribed", appID: "409876543219999", appSecret: simAppSecret, wantSubbed: false, wantFields: true},
		{name: "no app id or secret", fields: allButNameUpdates, wantSubbed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRegEnv(t, "connected")
			in := e.inbox(connectedID)
			callback := e.appCallback(tc.fields)
			reg := e.registrarWith(e.client, RegistrarOptions{AppID: tc.appID, AppSecret: tc.appSecret})

			// Before anything was checked: nothing claimed.
			w := e.route(reg, in)
			if w.Reported || w.Subscribed != nil || w.LastAccountEventAt != nil || w.Fields != nil {
				t.Errorf("before any check: want nothing reported, got %+v", w)
			}
			if want := regFrontendURL + "/webhooks/whatsapp"; w.ExpectedCallback != want {
				t.Errorf("expected callback: want %q, got %q", want, w.ExpectedCallback)
			}

			if ok, problem := reg.SubscribeWebhook(context.Background(), in); !ok {
				t.Fatalf("SubscribeWebhook: %s", problem)
			}
			e.refresh(in)
			reg.CheckAppSubscriptions(context.Background())
			eventAt := e.clock.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
			for field, at := range map[string]time.Time{
				whatsapp.WebhookFieldQualityUpdate: eventAt,
				"messages":                         e.clock.Now().UTC(), // message fields are not account events
			} {
				if _, err := e.store.AddWebhookEvent(context.Background(), db.WebhookEvent{WABAID: in.WABAID, Field: field,
					Payload: "{}", ReceivedAt: at}); err != nil {
					t.Fatal(err)
				}
			}

			w = e.route(reg, in)
			if !w.Reported || w.AppCallback != callback {
				t.Errorf("app callback: want Meta's webhook_configuration.application %q, got %q (reported %v)", callback, w.AppCallback, w.Reported)
			}
			if w.WABAOverride != "" || w.NumberOverride != "" {
				t.Errorf("overrides: want none, got WABA %q, number %q", w.WABAOverride, w.NumberOverride)
			}
			if w.Subscribed == nil || *w.Subscribed != tc.wantSubbed {
				t.Errorf("subscribed: want %v, got %v (apps %+v)", tc.wantSubbed, w.Subscribed, w.Apps)
			}
			if len(w.Apps) != 1 || w.Apps[0].ID != graphsim.AppID || w.AppsAt == nil {
				t.Errorf("apps: want the simulator's app %s, checked, got %+v at %v", graphsim.AppID, w.Apps, w.AppsAt)
			}
			if w.LastAccountEventAt == nil || !w.LastAccountEventAt.Equal(eventAt) {
				t.Errorf("last account event: want %s (the quality update, not the message), got %v", eventAt, w.LastAccountEventAt)
			}
			switch {
			case !tc.wantFields:
				if w.Fields != nil {
					t.Errorf("without app id and secret: want no field check, got %+v", w.Fields)
				}
			case w.Fields == nil:
				t.Errorf("with app id and secret: want a field check, got nil")
			case tc.appID != graphsim.AppID:
				if w.Fields.Problem == "" {
					t.Errorf("another app's id: want the check's problem told, got %+v", w.Fields)
				}
			default:
				if w.Fields.Problem != "" || !slices.Equal(w.Fields.Missing, tc.wantMissing) || w.Fields.CallbackURL != callback {
					t.Errorf("field check: want missing %v at %q, got missing %v at %q (problem %q)",
						tc.wantMissing, callback, w.Fields.Missing, w.Fields.CallbackURL, w.Fields.Problem)
				}
			}
		})
	}
}

// A Graph version that retired webhook_configuration leaves the route unreported, and
// the rest of the health intact.
func TestWebhookRouteWhenMetaRetiredTheField(t *testing.T) {
	e := newRegEnv(t, "connected")
	in := e.inbox(connectedID)
	e.appCallback(nil)
	if err := e.sim.RetireField("webhook_configuration"); err != nil {
		t.Fatal(err)
	}
	if snap := e.refresh(in); !snap.OK || snap.RegistrationState != string(whatsapp.StateRegistered) {
		t.Fatalf("health with a retired field: want a good registered snapshot, got ok=%v %s (%s)", snap.OK, snap.RegistrationState, snap.ErrorMessage)
	}
	if w := e.route(e.reg, in); w.Reported || w.AppCallback != "" || w.CallbackMatches() {
		t.Errorf("without webhook_configuration: want the route unreported, got %+v", w)
	}
}
