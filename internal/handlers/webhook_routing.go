package handlers

import (
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// Where an inbox's webhooks go: the Settings tab's section and the health API's
// "webhooks" object, both from health.Registrar.WebhookRoute.

// webhooksJSON is the health API's "webhooks" object. null values are not known yet.
type webhooksJSON struct {
	// CallbackURL is what the Meta app's callback must be: {FRONTEND_URL}/webhooks/whatsapp.
	CallbackURL string `json:"callback_url"`
	// AppCallback is the Meta app's callback Meta reports (webhook_configuration.application).
	AppCallback *string `json:"app_callback"`
	// CallbackMatches: Meta reports CallbackURL (null: not reported yet).
	CallbackMatches *bool `json:"callback_matches"`
	// AppSubscribed: the app is subscribed to the business account (GET
	// /{waba-id}/subscribed_apps; null: never checked).
	AppSubscribed    *bool                  `json:"app_subscribed"`
	SubscribedApps   []health.SubscribedApp `json:"subscribed_apps"`
	AppsCheckedAt    *string                `json:"subscribed_apps_checked_at"`
	Overrides        webhookOverridesJSON   `json:"overrides"`
	LastAccountEvent *string                `json:"last_account_event_at"`
	Fields           webhookFieldsCheckJSON `json:"fields"`
}

// webhookOverridesJSON are the overrides Meta reports; they carry message fields only.
type webhookOverridesJSON struct {
	WhatsAppBusinessAccount *string `json:"whatsapp_business_account"`
	PhoneNumber             *string `json:"phone_number"`
}

// webhookFieldsCheckJSON is the check of the Meta app's subscribed fields.
type webhookFieldsCheckJSON struct {
	// Checked is false without WHATSAPP_APP_ID (or before the first check).
	Checked   bool     `json:"checked"`
	Missing   []string `json:"missing"`
	Problem   string   `json:"problem,omitempty"`
	CheckedAt *string  `json:"checked_at"`
}

// webhookRoute reads where the inbox's webhooks go; ok is false when the server runs
// without a registrar or the route cannot be read (logged).
func (h *Handler) webhookRoute(c echo.Context, in db.Inbox, snap *db.HealthSnapshot) (health.WebhookRoute, bool) {
	if h.registrar == nil {
		return health.WebhookRoute{}, false
	}
	w, err := h.registrar.WebhookRoute(c.Request().Context(), in, snap)
	if err != nil {
		h.log.Warn("webhook route", "inbox_id", in.ID, "error", err)
		return health.WebhookRoute{}, false
	}
	return w, true
}

func rfc3339(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func toWebhooksJSON(w health.WebhookRoute) *webhooksJSON {
	out := &webhooksJSON{CallbackURL: w.ExpectedCallback, AppSubscribed: w.Subscribed, SubscribedApps: w.Apps,
		AppsCheckedAt: rfc3339(w.AppsAt), LastAccountEvent: rfc3339(w.LastAccountEventAt),
		Overrides: webhookOverridesJSON{WhatsAppBusinessAccount: nullable(w.WABAOverride), PhoneNumber: nullable(w.NumberOverride)},
		Fields:    webhookFieldsCheckJSON{Missing: []string{}}}
	if out.SubscribedApps == nil {
		out.SubscribedApps = []health.SubscribedApp{}
	}
	if w.Reported {
		matches := w.CallbackMatches()
		out.AppCallback, out.CallbackMatches = nullable(w.AppCallback), &matches
	}
	if f := w.Fields; f != nil {
		out.Fields.Checked = f.Problem == ""
		out.Fields.Problem = f.Problem
		out.Fields.CheckedAt = rfc3339(&f.CheckedAt)
		if f.Missing != nil {
			out.Fields.Missing = f.Missing
		}
	}
	return out
}

// webhookRoutingView is the Settings tab's section; admin decides whether the setup
// warning (what to enter in the App Dashboard) is shown.
func (h *Handler) webhookRoutingView(w health.WebhookRoute, admin bool) views.WebhookRouting {
	v := views.WebhookRouting{AppCallback: w.AppCallback, CallbackOK: w.CallbackMatches(),
		CallbackURL: w.ExpectedCallback, NeededFields: strings.Join(whatsapp.AppWebhookFields, ","),
		VerifyTokenOK: h.cfg.WhatsAppVerifyToken != ""}
	if w.Subscribed != nil {
		v.Subscribed = "no"
		if *w.Subscribed {
			v.Subscribed = "yes"
		}
		names := make([]string, 0, len(w.Apps))
		for _, a := range w.Apps {
			names = append(names, a.Name)
		}
		v.SubscribedNote = "checked " + views.Ago(h.now(), *w.AppsAt)
		if len(names) > 0 {
			v.SubscribedNote = "apps: " + strings.Join(names, ", ") + " — " + v.SubscribedNote
		}
	}
	if w.WABAOverride != "" {
		v.Overrides = append(v.Overrides, "business account: "+w.WABAOverride)
	}
	if w.NumberOverride != "" {
		v.Overrides = append(v.Overrides, "this number: "+w.NumberOverride)
	}
	if w.LastAccountEventAt != nil {
		v.LastEvent = views.FormatTime(*w.LastAccountEventAt)
	}
	v.Fields, v.FieldsNote = w.FieldsVerdict()
	if w.Fields != nil {
		v.MissingFields = w.Fields.Missing
	}
	v.ShowSetup = admin && w.NeedsSetup()
	return v
}
