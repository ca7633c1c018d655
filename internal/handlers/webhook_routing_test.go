package handlers

import (
	"context"
	"strings"
	"testing"
)

func TestSettingsTabAndHealthAPIShowWhereWebhooksGo(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "connected")
	ctx := context.Background()
	in := e.inbox(inboxConnected)
	if ok, problem := e.reg.SubscribeWebhook(ctx, in); !ok {
		t.Fatalf("subscribe the app: %s", problem)
	}
	want := e.srv.URL + "/webhooks/whatsapp"

	// Before the Meta app's callback is set in the App Dashboard, Meta reports none:
	// administrators see what to set, agents do not.
	e.refresh(in)
	admin := e.login("admin@reg.test")
	_, doc, _ := admin.getDoc(regPath(in, ""))
	warning := doc.Find(`[data-testid="webhook-setup-warning"]`)
	if warning.Length() != 1 || !strings.Contains(warning.Text(), want) || !strings.Contains(warning.Text(), "phone_number_name_update") {
		t.Fatalf("administrator, callback not set: want the setup warning naming %s and the fields, got %q", want, warning.Text())
	}
	if strings.Contains(doc.Text(), regTestVerifyToken) {
		t.Errorf("the verify token must never be rendered")
	}
	if got := doc.Find(`[data-testid="webhook-subscription"]`).Text(); !strings.Contains(got, "Yes") {
		t.Errorf("subscribed apps: want Yes (this app is subscribed), got %q", got)
	}
	if got := doc.Find(`[data-testid="webhook-fields"]`).Text(); !strings.Contains(got, "Not checked") {
		t.Errorf("fields before the first check: want Not checked, got %q", got)
	}
	agent := e.login("agent@reg.test")
	if _, doc, _ := agent.getDoc(regPath(in, "")); doc.Find(`[data-testid="webhook-setup-warning"]`).Length() != 0 {
		t.Errorf("agents must not get the App Dashboard instructions")
	}

	// The operator sets the callback (Meta verifies it against this server), and the
	// app's fields are checked after a sweep.
	if err := e.sim.SetAppCallback(ctx, want, regTestVerifyToken, nil); err != nil {
		t.Fatalf("set the Meta app's callback to this server: %v", err)
	}
	e.reg.CheckAppSubscriptions(ctx)
	e.refresh(in)
	_, doc, _ = admin.getDoc(regPath(in, ""))
	if doc.Find(`[data-testid="webhook-setup-warning"]`).Length() != 0 {
		t.Errorf("callback set to this app: the warning must go, got %q", doc.Find(`[data-testid="webhook-setup-warning"]`).Text())
	}
	if got := doc.Find(`[data-testid="webhook-app-callback"]`).Text(); !strings.Contains(got, "This app") || !strings.Contains(got, want) {
		t.Errorf("callback: want This app %s, got %q", want, got)
	}
	if got := doc.Find(`[data-testid="webhook-fields"]`).Text(); !strings.Contains(got, "All subscribed") {
		t.Errorf("fields: want All subscribed, got %q", got)
	}

	got := decodeObject(t, e.apiGetHealth(in))
	hooks, _ := got["webhooks"].(map[string]any)
	fields, _ := hooks["fields"].(map[string]any)
	if hooks["callback_url"] != want || hooks["app_callback"] != want || hooks["callback_matches"] != true ||
		hooks["app_subscribed"] != true || fields["checked"] != true {
		t.Errorf("health API webhooks: want callback %s matching, app subscribed, fields checked; got %v", want, hooks)
	}
}
