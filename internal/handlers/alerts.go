package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/alerts"
	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
)

// The Alerts page and API: where an account's alerts go (administrators only), test
// alerts, delivery logs and recent alerts. Deliveries are the dispatcher's work; these
// handlers only write to the outbox and read what happened.

const (
	deliveryLogLength  = 20
	recentAlertsLength = 50
)

var errAlertsUnavailable = &APIError{Status: http.StatusServiceUnavailable, Type: "unavailable",
	Message: "Alerts are not set up on this server."}

// --- pages ---

func (h *Handler) showAlerts(c echo.Context) error {
	if h.alerts == nil {
		return errAlertsUnavailable
	}
	return h.renderAlertsPage(c, http.StatusOK, views.AlertDestinationForm{})
}

func (h *Handler) renderAlertsPage(c echo.Context, status int, form views.AlertDestinationForm) error {
	ctx := c.Request().Context()
	m := currentMembership(c)
	dests, err := h.store.AlertDestinations(ctx, m.AccountID)
	if err != nil {
		return err
	}
	people, err := h.store.Members(ctx, m.AccountID)
	if err != nil {
		return err
	}
	members := make([]string, 0, len(people))
	for _, p := range people {
		members = append(members, p.Email)
	}
	recent, err := h.store.RecentAlerts(ctx, m.AccountID, recentAlertsLength)
	if err != nil {
		return err
	}
	page := views.AlertsPageView{AccountID: m.AccountID, Form: form, Members: members, DemoMode: h.cfg.DemoMode,
		EmailConfigured: h.alerts.EmailConfigured(), DigestHour: h.alerts.DigestHour()}
	for _, k := range alerts.AllKinds {
		page.Kinds = append(page.Kinds, views.AlertKindOption{Value: string(k), Label: k.Label()})
	}
	for _, d := range dests {
		v, err := h.destinationView(c, d)
		if err != nil {
			return err
		}
		page.Destinations = append(page.Destinations, v)
	}
	for _, a := range recent {
		page.Recent = append(page.Recent, alertRow(a, h.now()))
	}
	return h.render(c, status, views.AlertsPage(page))
}

func (h *Handler) destinationView(c echo.Context, d db.AlertDestination) (views.AlertDestinationView, error) {
	log, err := h.store.AlertDeliveryLog(c.Request().Context(), d.ID, deliveryLogLength)
	if err != nil {
		return views.AlertDestinationView{}, err
	}
	v := views.AlertDestinationView{ID: d.ID, AccountID: d.AccountID, Channel: d.Channel, Label: d.Label, Digest: d.Digest}
	for _, k := range d.Kinds {
		v.Kinds = append(v.Kinds, alerts.Kind(k).Label())
	}
	if d.Channel == alerts.ChannelEmail && !h.alerts.EmailConfigured() {
		v.Warning = "No mail server is configured (SMTP_URL and SMTP_FROM), so this destination's alerts fail until one is."
	}
	for _, e := range log {
		row := views.DeliveryLogRow{At: e.At.UTC().Format("2006-01-02 15:04:05 UTC"), Kind: alerts.Kind(e.Kind).Label(),
			Inbox: e.InboxName, Detail: e.Detail}
		row.Outcome, row.Tone = attemptOutcomeText(e.Outcome)
		v.Log = append(v.Log, row)
	}
	return v, nil
}

func attemptOutcomeText(outcome string) (text, tone string) {
	switch outcome {
	case db.AttemptDelivered:
		return "Delivered", "green"
	case db.AttemptFailed:
		return "Failed, will retry", "amber"
	case db.AttemptGaveUp:
		return "Gave up after a day of retries", "red"
	}
	return outcome, "grey"
}

// alertRow is a recent alert as the page lists it, with where its deliveries stand.
func alertRow(a db.AlertWithDeliveries, now time.Time) views.AlertRow {
	row := views.AlertRow{At: views.Ago(now, a.OccurredAt), Headline: alertHeadline(a.Alert), Reason: a.Reason}
	row.Delivery, row.Tone = deliveryText(a)
	return row
}

func alertHeadline(a db.Alert) string {
	switch a.Type {
	case alerts.TypeTest:
		return "Test alert"
	case alerts.TypeDigest:
		return "Daily digest (" + strconv.Itoa(a.Count) + " alerts)"
	}
	line := a.InboxName + ": " + alerts.Headline(alerts.Kind(a.Kind), a.Type)
	if a.From != "" || a.To != "" {
		line += " (" + strings.TrimSpace(a.From+" → "+a.To) + ")"
	}
	if a.Count > 1 {
		line += " · " + strconv.Itoa(a.Count) + " changes grouped"
	}
	return line
}

func deliveryText(a db.AlertWithDeliveries) (string, string) {
	if a.State == db.AlertHeld {
		return "Grouped: goes out " + a.ReleaseAt.UTC().Format("15:04 UTC"), "grey"
	}
	if len(a.Deliveries) == 0 {
		return "No destination takes this kind", "grey"
	}
	counts := map[string]int{}
	for _, d := range a.Deliveries {
		counts[d.State]++
	}
	switch {
	case counts[db.DeliveryFailed] > 0:
		return strconv.Itoa(counts[db.DeliveryFailed]) + " failed", "red"
	case counts[db.DeliveryPending] > 0:
		return strconv.Itoa(counts[db.DeliveryPending]) + " pending", "amber"
	}
	return "Delivered (" + strconv.Itoa(counts[db.DeliveryDelivered]) + ")", "green"
}

// destinationInputFromForm reads the add-destination form: members ticked and other
// addresses typed both become recipients.
func destinationInputFromForm(c echo.Context) (alerts.DestinationInput, views.AlertDestinationForm, error) {
	params, err := c.FormParams()
	if err != nil {
		return alerts.DestinationInput{}, views.AlertDestinationForm{}, err
	}
	in := alerts.DestinationInput{Channel: params.Get("kind"), URL: params.Get("url"), Secret: params.Get("secret"),
		Events: params["events"], Digest: params.Get("digest") == "1"}
	form := views.AlertDestinationForm{Channel: in.Channel, URL: in.URL, Addresses: params.Get("addresses"),
		Members: params["members"], Events: in.Events, Digest: in.Digest}
	if in.Channel == alerts.ChannelEmail {
		in.To = append(in.To, params["members"]...)
		for _, a := range strings.Split(params.Get("addresses"), ",") {
			if a = strings.TrimSpace(a); a != "" {
				in.To = append(in.To, a)
			}
		}
	}
	return in, form, nil
}

func (h *Handler) createAlertDestination(c echo.Context) error {
	if h.alerts == nil {
		return errAlertsUnavailable
	}
	m := currentMembership(c)
	in, form, err := destinationInputFromForm(c)
	if err != nil {
		form.FormError = "The form could not be read. Please try again."
		return h.renderAlertsPage(c, http.StatusBadRequest, form)
	}
	n, errs := alerts.NewDestination(m.AccountID, in, h.cfg.AlertPolicy)
	if len(errs) > 0 {
		form.Errors, form.FormError = errs, "Please fix the fields marked below."
		return h.renderAlertsPage(c, http.StatusUnprocessableEntity, form)
	}
	d, err := h.store.CreateAlertDestination(c.Request().Context(), n)
	if err != nil {
		return err
	}
	h.log.Info("alert destination added", "destination_id", d.ID, "account_id", d.AccountID, "channel", d.Channel)
	h.setFlash(c, "Destination added. Send a test alert to check it receives them.", false)
	return redirectAfterPost(c, views.AlertsURL(m.AccountID))
}

// loadDestination resolves :dest_id within the current account (404 otherwise).
func (h *Handler) loadDestination(c echo.Context) (db.AlertDestination, error) {
	id, err := strconv.ParseInt(c.Param("dest_id"), 10, 64)
	if err != nil {
		return db.AlertDestination{}, apiNotFound("alert destination")
	}
	d, err := h.store.AlertDestination(c.Request().Context(), currentMembership(c).AccountID, id)
	if errors.Is(err, db.ErrNotFound) {
		return db.AlertDestination{}, apiNotFound("alert destination")
	}
	return d, err
}

func (h *Handler) sendTestAlert(c echo.Context) error {
	if h.alerts == nil {
		return errAlertsUnavailable
	}
	d, err := h.loadDestination(c)
	if err != nil {
		return err
	}
	u, _ := currentUser(c)
	if _, err := h.alerts.SendTest(c.Request().Context(), d, u.Email); err != nil {
		return err
	}
	h.setFlash(c, "Test alert queued for "+d.Label+". Its delivery shows in the log below within seconds.", false)
	return redirectAfterPost(c, views.AlertsURL(d.AccountID))
}

func (h *Handler) deleteAlertDestination(c echo.Context) error {
	d, err := h.loadDestination(c)
	if err != nil {
		return err
	}
	if err := h.store.DeleteAlertDestination(c.Request().Context(), d.AccountID, d.ID); err != nil {
		return err
	}
	h.log.Info("alert destination removed", "destination_id", d.ID, "account_id", d.AccountID)
	h.setFlash(c, "Destination "+d.Label+" removed.", false)
	return redirectAfterPost(c, views.AlertsURL(d.AccountID))
}

// showDeliveryLog is the log fragment the page reloads every few seconds.
func (h *Handler) showDeliveryLog(c echo.Context) error {
	if h.alerts == nil {
		return errAlertsUnavailable
	}
	d, err := h.loadDestination(c)
	if err != nil {
		return err
	}
	v, err := h.destinationView(c, d)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.DeliveryLog(v))
}

// --- JSON API ---

// apiAlertDestination is a destination as the API shows it: never its URL or secret.
type apiAlertDestination struct {
	ID        int64    `json:"id"`
	Kind      string   `json:"kind"`
	Label     string   `json:"label"`
	To        []string `json:"to,omitempty"`
	Events    []string `json:"events"`
	Digest    bool     `json:"digest"`
	CreatedAt string   `json:"created_at"`
}

func toAPIAlertDestination(d db.AlertDestination) apiAlertDestination {
	out := apiAlertDestination{ID: d.ID, Kind: d.Channel, Label: d.Label, Events: d.Kinds, Digest: d.Digest,
		CreatedAt: d.CreatedAt.UTC().Format(time.RFC3339)}
	if d.Channel == alerts.ChannelEmail {
		out.To = d.Recipients
	}
	return out
}

func (h *Handler) apiListAlertDestinations(c echo.Context) error {
	dests, err := h.store.AlertDestinations(c.Request().Context(), currentMembership(c).AccountID)
	if err != nil {
		return err
	}
	out := make([]apiAlertDestination, 0, len(dests))
	for _, d := range dests {
		out = append(out, toAPIAlertDestination(d))
	}
	return c.JSON(http.StatusOK, map[string]any{"payload": out})
}

func (h *Handler) apiCreateAlertDestination(c echo.Context) error {
	var in alerts.DestinationInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	m := currentMembership(c)
	n, errs := alerts.NewDestination(m.AccountID, in, h.cfg.AlertPolicy)
	if len(errs) > 0 {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid", Message: "Some fields are invalid.", Fields: errs}
	}
	d, err := h.store.CreateAlertDestination(c.Request().Context(), n)
	if err != nil {
		return err
	}
	h.log.Info("alert destination added", "destination_id", d.ID, "account_id", d.AccountID, "channel", d.Channel, "via", "api")
	return c.JSON(http.StatusCreated, toAPIAlertDestination(d))
}

func (h *Handler) apiDeleteAlertDestination(c echo.Context) error {
	d, err := h.loadDestination(c)
	if err != nil {
		return err
	}
	if err := h.store.DeleteAlertDestination(c.Request().Context(), d.AccountID, d.ID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handler) apiSendTestAlert(c echo.Context) error {
	if h.alerts == nil {
		return errAlertsUnavailable
	}
	d, err := h.loadDestination(c)
	if err != nil {
		return err
	}
	u, _ := currentUser(c)
	a, err := h.alerts.SendTest(c.Request().Context(), d, u.Email)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"alert_id": a.ID})
}

// apiAlert is an alert with where its deliveries stand.
type apiAlert struct {
	ID         int64            `json:"id"`
	Type       string           `json:"type"`
	Kind       string           `json:"kind"`
	Inbox      *apiAlertInbox   `json:"inbox"`
	From       string           `json:"from"`
	To         string           `json:"to"`
	Reason     string           `json:"reason"`
	Remedy     string           `json:"remedy"`
	Count      int              `json:"count"`
	OccurredAt string           `json:"occurred_at"`
	State      string           `json:"state"`
	ReleaseAt  *string          `json:"release_at,omitempty"`
	Deliveries []apiAlertSendTo `json:"deliveries"`
}

type apiAlertInbox struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	PhoneNumber string `json:"phone_number"`
}

type apiAlertSendTo struct {
	DestinationID int64   `json:"destination_id"`
	State         string  `json:"state"`
	Attempts      int     `json:"attempts"`
	LastAttemptAt *string `json:"last_attempt_at"`
	LastDetail    string  `json:"last_detail"`
	NextAttemptAt *string `json:"next_attempt_at"`
}

func (h *Handler) apiListAlerts(c echo.Context) error {
	recent, err := h.store.RecentAlerts(c.Request().Context(), currentMembership(c).AccountID, recentAlertsLength)
	if err != nil {
		return err
	}
	out := make([]apiAlert, 0, len(recent))
	for _, a := range recent {
		item := apiAlert{ID: a.ID, Type: a.Type, Kind: a.Kind, From: a.From, To: a.To, Reason: a.Reason, Remedy: a.Remedy,
			Count: a.Count, OccurredAt: a.OccurredAt.UTC().Format(time.RFC3339), State: a.State, ReleaseAt: rfc3339(a.ReleaseAt),
			Deliveries: []apiAlertSendTo{}}
		if a.InboxID != nil {
			item.Inbox = &apiAlertInbox{ID: *a.InboxID, Name: a.InboxName, PhoneNumber: a.PhoneNumber}
		}
		for _, d := range a.Deliveries {
			item.Deliveries = append(item.Deliveries, apiAlertSendTo{DestinationID: d.DestinationID, State: d.State,
				Attempts: d.Attempts, LastAttemptAt: rfc3339(d.LastAttemptAt), LastDetail: d.LastDetail,
				NextAttemptAt: rfc3339(d.NextAttemptAt)})
		}
		out = append(out, item)
	}
	return c.JSON(http.StatusOK, map[string]any{"payload": out})
}
