package health

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Where an inbox's webhooks go, from what Meta says and what this app received.
//
// Meta sends a business account's account-level webhooks to the Meta app's own
// callback URL, for the fields the app subscribed in the App Dashboard, once the app is
// subscribed to the business account; overrides carry message fields only
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override/).
// The phone-number node's webhook_configuration names the app's callback (application)
// and any overrides; GET /{waba-id}/subscribed_apps lists the subscribed apps;
// GET /{app-id}/subscriptions lists the app's fields
// (https://developers.facebook.com/docs/graph-api/reference/app/subscriptions/).

// accountEventFields are the webhook fields that only ever reach the app's callback.
var accountEventFields = whatsapp.AppWebhookFields

// WebhookRoute is what is known about where an inbox's account-level webhooks go.
type WebhookRoute struct {
	// ExpectedCallback is the URL to enter in the App Dashboard: {FRONTEND_URL}/webhooks/whatsapp.
	ExpectedCallback string
	// AppCallback is the callback Meta reports for the app (webhook_configuration.application);
	// "" when Meta reported none or health was never fetched.
	AppCallback string
	// Reported says whether Meta's webhook_configuration was read at all.
	Reported bool
	// WABAOverride and NumberOverride are overrides Meta reports; they carry message
	// fields only, never the account-level events this app needs.
	WABAOverride, NumberOverride string
	// Subscribed is whether the app is subscribed to the business account, from the
	// last GET /{waba-id}/subscribed_apps (nil: never checked); Apps lists what it said.
	Subscribed *bool
	Apps       []SubscribedApp
	AppsAt     *time.Time
	// LastAccountEventAt is when the last account-level event for the business account
	// arrived here (nil: never).
	LastAccountEventAt *time.Time
	// Fields is the app-level field check (WHATSAPP_APP_ID set), nil when it cannot be made.
	Fields *AppFieldsCheck
}

// CallbackMatches reports whether Meta's app callback is this app's: false when Meta
// reports another URL or none.
func (w WebhookRoute) CallbackMatches() bool {
	return w.Reported && w.AppCallback == w.ExpectedCallback
}

// Verdicts of the Meta app's webhook-field check.
const (
	FieldsOK        = "ok"
	FieldsMissing   = "missing"
	FieldsUnchecked = "unchecked"
)

// FieldsVerdict says whether the Meta app subscribes the fields this app needs, and
// when it cannot be told, why.
func (w WebhookRoute) FieldsVerdict() (verdict, note string) {
	switch f := w.Fields; {
	case f == nil:
		return FieldsUnchecked, "set WHATSAPP_APP_ID (with WHATSAPP_APP_SECRET) so this app can read the Meta app's fields"
	case f.Problem != "":
		return FieldsUnchecked, f.Problem
	case len(f.Missing) > 0:
		return FieldsMissing, ""
	}
	return FieldsOK, ""
}

// NeedsSetup reports whether an administrator must change the Meta app's settings for
// account-level events to reach this app: Meta reports another callback (or none), or
// the app lacks fields.
func (w WebhookRoute) NeedsSetup() bool {
	verdict, _ := w.FieldsVerdict()
	return (w.Reported && !w.CallbackMatches()) || verdict == FieldsMissing
}

// AppFieldsCheck is what GET /{app-id}/subscriptions said about the app's fields.
type AppFieldsCheck struct {
	CheckedAt time.Time
	// Missing lists the account-level fields the app does not subscribe.
	Missing []string
	// CallbackURL is the callback the app subscription names.
	CallbackURL string
	// Problem says why the check failed ("" when it worked).
	Problem string
}

// appFieldsCache keeps the last app-level field check; it is one answer for the whole
// app, refreshed by the monitor's sweeps.
type appFieldsCache struct {
	mu    sync.Mutex
	check *AppFieldsCheck
}

// CheckAppSubscriptions reads which webhook fields the Meta app subscribes, when the
// app id and secret are configured, and keeps the answer for WebhookRoute. The monitor
// calls it after each sweep: one Graph call for the whole app.
func (r *Registrar) CheckAppSubscriptions(ctx context.Context) {
	if r.appID == "" || r.appSecret == "" {
		return
	}
	check := &AppFieldsCheck{CheckedAt: r.now()}
	subs, err := r.graph.AppSubscriptions(ctx, r.appID, r.appSecret)
	if err != nil {
		e := whatsapp.KindOf(err).Explain()
		check.Problem = "Meta did not tell which webhook fields the app subscribes: " + e.Title + "."
		r.log.Warn("check app webhook subscriptions", "kind", whatsapp.KindOf(err))
	} else {
		check.Missing = slices.Clone(accountEventFields)
		for _, s := range subs {
			if s.Object != whatsapp.WebhookObject || !s.Active {
				continue
			}
			check.CallbackURL = s.CallbackURL
			check.Missing = slices.DeleteFunc(check.Missing, func(f string) bool { return slices.Contains(s.Fields, f) })
		}
	}
	r.appFields.mu.Lock()
	r.appFields.check = check
	r.appFields.mu.Unlock()
}

// WebhookRoute says where the inbox's webhooks go, from the snapshot's
// webhook_configuration, the stored subscribed-apps check, the last account-level
// event received and the app-level field check. It never calls Meta.
func (r *Registrar) WebhookRoute(ctx context.Context, in db.Inbox, snap *db.HealthSnapshot) (WebhookRoute, error) {
	w := WebhookRoute{ExpectedCallback: AppWebhookURL(r.frontendURL)}
	if snap != nil && snap.Phone != nil && snap.Phone.WebhookConfiguration != nil {
		wc := snap.Phone.WebhookConfiguration
		w.Reported = true
		w.AppCallback, w.WABAOverride, w.NumberOverride = wc.Application, wc.WhatsAppBusinessAccount, wc.PhoneNumber
	}
	if in.WebhookAppsCheckedAt != nil {
		at := *in.WebhookAppsCheckedAt
		w.AppsAt = &at
		_ = json.Unmarshal([]byte(in.WebhookApps), &w.Apps)
		subscribed := len(w.Apps) > 0
		if r.appID != "" {
			subscribed = slices.ContainsFunc(w.Apps, func(a SubscribedApp) bool { return a.ID == r.appID })
		}
		w.Subscribed = &subscribed
	}
	last, err := r.store.LastWebhookEventAt(ctx, in.WABAID, accountEventFields)
	if err != nil {
		return w, err
	}
	if !last.IsZero() {
		w.LastAccountEventAt = &last
	}
	r.appFields.mu.Lock()
	if c := r.appFields.check; c != nil {
		cp := *c
		cp.Missing = slices.Clone(c.Missing)
		w.Fields = &cp
	}
	r.appFields.mu.Unlock()
	return w, nil
}
