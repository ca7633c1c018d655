package health

// subscription.go holds the webhook subscription of an inbox's business account and
// the check of which apps are subscribed to it.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// SubscribeWebhook subscribes the app to the inbox's business account now (no override)
// and records the outcome on the inbox; problem says in plain words why it failed.
func (r *Registrar) SubscribeWebhook(ctx context.Context, in db.Inbox) (ok bool, problem string) {
	return r.subscribeWebhook(ctx, in)
}

// subscribeAfterRegistration subscribes the app once the number is registered, and
// reports a failure in the result instead of hiding it.
func (r *Registrar) subscribeAfterRegistration(ctx context.Context, in db.Inbox, res *Result) {
	subCtx, cancel := r.detach(ctx, subscribeTimeout)
	defer cancel()
	res.WebhookSubscribed, res.WebhookError = r.subscribeWebhook(subCtx, in)
}

// subscribeWebhook subscribes the app to the inbox's business account and records the
// outcome on the inbox.
func (r *Registrar) subscribeWebhook(ctx context.Context, in db.Inbox) (ok bool, problem string) {
	problem = r.subscribe(ctx, in)
	var at *time.Time
	if problem == "" {
		now := r.now().UTC()
		at = &now
	} else {
		r.log.Warn("webhook subscription failed", "inbox_id", in.ID, "waba_id", in.WABAID, "problem", problem)
	}
	if err := r.store.SetWebhookSubscription(ctx, in.ID, at, problem); err != nil {
		r.log.Error("record webhook subscription", "inbox_id", in.ID, "error", err)
	}
	if problem == "" {
		r.CheckWebhookApps(ctx, in)
	}
	return problem == "", problem
}

// subscribe makes POST /{waba-id}/subscribed_apps with no override: Meta then sends
// the business account's webhooks to the app's own callback URL (App Dashboard). It
// never sets override_callback_uri, which would pull the customer's message webhooks
// away from the platform that answers their chats.
func (r *Registrar) subscribe(ctx context.Context, in db.Inbox) (problem string) {
	secrets, err := r.store.Secrets(ctx, in.ID)
	if err != nil {
		return "The app could not be subscribed to the business account's webhooks: the inbox's access token could not be read."
	}
	if err := r.graph.SubscribeApp(ctx, secrets.AccessToken, in.WABAID); err != nil {
		e := whatsapp.KindOf(err).Explain()
		return fmt.Sprintf("Meta refused to subscribe the app to the business account's webhooks: %s. %s", e.Title, e.Remedy) +
			TechnicalSeparator + err.Error()
	}
	return ""
}

// SubscribedApp is an app GET /{waba-id}/subscribed_apps lists, as stored on the inbox.
type SubscribedApp struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CheckWebhookApps reads which apps are subscribed to the inbox's business account
// and stores the list on the inbox (a failure is logged and leaves the last list).
func (r *Registrar) CheckWebhookApps(ctx context.Context, in db.Inbox) {
	secrets, err := r.store.Secrets(ctx, in.ID)
	if err != nil {
		r.log.Warn("check subscribed apps", "inbox_id", in.ID, "error", err)
		return
	}
	apps, err := r.graph.SubscribedApps(ctx, secrets.AccessToken, in.WABAID)
	if err != nil {
		r.log.Warn("check subscribed apps", "inbox_id", in.ID, "waba_id", in.WABAID, "kind", whatsapp.KindOf(err))
		return
	}
	list := make([]SubscribedApp, 0, len(apps))
	for _, a := range apps {
		list = append(list, SubscribedApp{ID: a.AppID, Name: a.Name})
	}
	data, _ := json.Marshal(list)
	if err := r.store.SetWebhookApps(ctx, in.ID, r.now(), string(data)); err != nil {
		r.log.Error("record subscribed apps", "inbox_id", in.ID, "error", err)
	}
}
