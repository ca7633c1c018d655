package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// The whole path of the moment registration can succeed: setup subscribes the webhook
// while the name is in review (no register call), Meta approves the name and sends the
// signed webhook to the app, and the app registers the number with exactly one call.
func TestNameApprovedWebhookRegistersThroughTheApp(t *testing.T) {
	app := startTestApp(t)
	ctx := context.Background()
	in := demoInbox(t, app, demoInReviewInbox)

	res, err := app.App.Registrar.Setup(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !res.WebhookSubscribed {
		t.Fatalf("setup must subscribe the webhook while the name is in review, got %q", res.WebhookError)
	}
	registerPath := "/" + in.PhoneNumberID + "/register"
	if n := app.Sim.CountRequests(http.MethodPost, registerPath); n != 0 {
		t.Fatalf("setup while the name is in review: want no register call, got %d", n)
	}

	if err := app.Sim.ApproveName(in.PhoneNumberID); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	deliveries, err := app.Sim.WaitDeliveries(waitCtx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := deliveries[0]; d.Status != http.StatusOK {
		t.Fatalf("the app must accept Meta's signed webhook, got %d %s", d.Status, d.Err)
	}
	app.App.Registrar.Wait()

	if n := app.Sim.CountRequests(http.MethodPost, registerPath); n != 1 {
		t.Fatalf("after the APPROVED webhook: want exactly 1 register call, got %d", n)
	}
	attempts, err := app.Store.Attempts(ctx, in.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) == 0 || attempts[0].Trigger != db.TriggerWebhook || attempts[0].Outcome != db.OutcomeRegistered {
		t.Fatalf("want the newest attempt registered by the webhook, got %+v", attempts)
	}
}
