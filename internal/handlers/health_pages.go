package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// Account Health tab, health API and webhooks.
//
// Who may do what: every member who can see an inbox (administrators, and agents who
// are members of it) may view its health and press Refresh. Refresh only reads from
// Meta and stores what it read, so it changes nothing a person relies on; letting
// agents press it means the person looking at a stale page can fix that themselves.
// CSRF protection applies to the Refresh POST like to every browser form.

const (
	// historyLength is how many recent changes the tab lists.
	historyLength = 10
	// metaEventsLength is how many of Meta's recent webhook events the tab lists.
	metaEventsLength = 10
)

// currentHealth reads the inbox's latest snapshot (waiting, bounded, for the first
// fetch of a never-checked inbox); nil when there is still nothing.
func (h *Handler) currentHealth(c echo.Context, in db.Inbox) (*db.HealthSnapshot, error) {
	snap, ok, err := h.health.Current(c.Request().Context(), in)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	return &snap, nil
}

// inboxWithHealth loads the inbox of the request and its current health snapshot.
func (h *Handler) inboxWithHealth(c echo.Context) (db.Inbox, *db.HealthSnapshot, error) {
	in, err := h.loadInbox(c)
	if err != nil {
		return db.Inbox{}, nil, err
	}
	snap, err := h.currentHealth(c, in)
	return in, snap, err
}

func (h *Handler) showHealth(c echo.Context) error {
	in, snap, err := h.inboxWithHealth(c)
	if err != nil {
		return err
	}
	chart, err := h.historyChart(c, in, snap)
	if err != nil {
		return err
	}
	history, err := h.store.HealthChanges(c.Request().Context(), in.ID, historyLength)
	if err != nil {
		return err
	}
	events, err := h.store.RecentWebhookEvents(c.Request().Context(), in.ID, in.WABAID, metaEventsLength)
	if err != nil {
		return err
	}
	advice := h.adviceFor(c, in, snap, nil)
	body := views.HealthTab(healthPanelView(in, snap, advice, h.now()), chart, h.historyRows(history), h.metaEventRows(events), h.attemptsSection(c, in))
	return h.render(c, http.StatusOK, views.InboxPage(h.inboxHeader(in, snap), views.TabHealth, h.bannerOf(c, in, advice, views.BannerOnHealth), body))
}

// showLive answers an open inbox page's poll (every views.LivePollSeconds while it is
// visible; static/app.js): the banner, the header's status and, on the Account Health
// tab, the panel, "Recent changes", Meta's events and the attempts, from what is
// stored. It never asks Meta (the monitor and webhooks keep the store fresh), so a
// page left open costs a few reads.
func (h *Handler) showLive(c echo.Context) error {
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	snap, err := h.latestSnapshot(c, in.ID)
	if err != nil {
		return err
	}
	from := views.BannerOnSettings
	if c.QueryParam("from") == views.BannerOnHealth {
		from = views.BannerOnHealth
	}
	advice := h.adviceFor(c, in, snap, nil)
	var parts []templ.Component
	if from == views.BannerOnHealth {
		if parts, err = h.healthParts(c, in, snap, advice, true); err != nil {
			return err
		}
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return h.render(c, http.StatusOK, views.LiveInbox(h.bannerOf(c, in, advice, from), statusBadge(advice.Overall), parts))
}

// healthParts are the parts of the Account Health tab that change with the number's
// health: the panel, "Recent changes", the attempts and (withEvents) Meta's events.
func (h *Handler) healthParts(c echo.Context, in db.Inbox, snap *db.HealthSnapshot, advice health.Advice, withEvents bool) ([]templ.Component, error) {
	ctx := c.Request().Context()
	history, err := h.store.HealthChanges(ctx, in.ID, historyLength)
	if err != nil {
		return nil, err
	}
	parts := []templ.Component{healthPanelView(in, snap, advice, h.now()), views.HealthChangesSection(h.historyRows(history)), h.attemptsSection(c, in)}
	if withEvents {
		events, err := h.store.RecentWebhookEvents(ctx, in.ID, in.WABAID, metaEventsLength)
		if err != nil {
			return nil, err
		}
		parts = append(parts, views.MetaEventsSection(h.metaEventRows(events)))
	}
	return parts, nil
}

// refreshHealth asks Meta now. htmx gets the new panel (and the header's status out of
// band); a plain form post is redirected back to the tab (post-redirect-get). A failed
// fetch is not an HTTP error: the panel shows it.
func (h *Handler) refreshHealth(c echo.Context) error {
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	snap, err := h.health.RefreshOnDemand(c.Request().Context(), in)
	if err != nil {
		return fmt.Errorf("refresh health of inbox %d: %w", in.ID, err)
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, views.InboxHealthURL(in.AccountID, in.ID))
	}
	advice := h.adviceFor(c, in, &snap, nil)
	return h.render(c, http.StatusOK, templ.Join(
		healthPanelView(in, &snap, advice, h.now()),
		views.InboxStatusOOB(statusBadge(advice.Overall)),
	))
}

// healthPanelView renders the badges panel (element id "health-panel") for an inbox,
// with the advice's overall status and health-check problem.
func healthPanelView(in db.Inbox, snap *db.HealthSnapshot, a health.Advice, now time.Time) templ.Component {
	return views.HealthPanelView(healthPanelData(in, snap, a, now))
}

func healthPanelData(in db.Inbox, snap *db.HealthSnapshot, a health.Advice, now time.Time) views.HealthPanel {
	p := views.HealthPanel{
		RefreshURL: views.InboxHealthRefreshURL(in.AccountID, in.ID),
		ManagerURL: whatsapp.ManagerPhoneNumbersURL(in.BusinessID, in.WABAID),
		Overall:    statusBadge(a.Overall),
	}
	if snap == nil {
		return p
	}
	p.Checked = true
	p.CheckedAgo = views.Ago(now, snap.CheckedAt)
	p.CheckedAtExact = snap.CheckedAt.UTC().Format("2006-01-02 15:04:05 UTC")
	p.CheckedAtISO = snap.CheckedAt.UTC().Format(time.RFC3339Nano)
	if fp := a.FetchProblem; fp != nil {
		p.Stale = true
		p.Problem = &views.HealthProblem{Title: fp.Title, Message: fp.Message, Remedy: fp.Remedy, Detail: snap.ErrorMessage}
	}
	if snap.Phone != nil {
		p.HasData = true
		p.DisplayPhone, p.VerifiedName = snap.Phone.DisplayPhoneNumber, snap.Phone.VerifiedName
		for _, b := range whatsapp.HealthBadges(*snap.Phone) {
			p.Badges = append(p.Badges, viewBadge(b))
		}
	}
	p.Entities = troubledEntities(snap)
	return p
}

func viewBadge(b whatsapp.Badge) views.HealthBadge {
	return views.HealthBadge{Field: b.Field, Label: b.Label, Value: b.Value, Text: b.Text, Tone: string(b.Tone), Tooltip: b.Tooltip}
}

// troubledEntities lists the entities Meta says are limited or blocked, from the
// number's health_status and the business account's, each once.
func troubledEntities(snap *db.HealthSnapshot) []views.HealthEntity {
	var out []views.HealthEntity
	seen := map[string]bool{}
	for _, hs := range []*whatsapp.HealthStatus{phoneHealth(snap), snap.BusinessHealth} {
		if hs == nil {
			continue
		}
		for _, e := range hs.Entities {
			if e.CanSendMessage != whatsapp.CanSendLimited && e.CanSendMessage != whatsapp.CanSendBlocked {
				continue
			}
			key := e.EntityType + "/" + e.ID
			if seen[key] {
				continue
			}
			seen[key] = true
			ve := views.HealthEntity{Type: e.EntityType, ID: e.ID, Title: whatsapp.EntityTitle(e.EntityType, e.ID), Info: e.AdditionalInfo,
				Verdict: viewBadge(whatsapp.FieldBadge("can_send_message", e.CanSendMessage))}
			for _, he := range e.Errors {
				ve.Reasons = append(ve.Reasons, views.HealthReason{Code: he.ErrorCode, Description: he.ErrorDescription, Solution: he.PossibleSolution})
			}
			out = append(out, ve)
		}
	}
	return out
}

func phoneHealth(snap *db.HealthSnapshot) *whatsapp.HealthStatus {
	if snap == nil || snap.Phone == nil {
		return nil
	}
	return snap.Phone.HealthStatus
}

// historyFields maps db.HealthChange fields to the badge vocabulary.
var historyFields = map[string]string{
	"status":         "status",
	"quality_rating": "quality_rating",
	"name_status":    "name_status",
	"limit_tier":     "messaging_limit_tier",
}

// metaEventRows words Meta's webhook events for a customer.
func (h *Handler) metaEventRows(events []db.WebhookEvent) []views.MetaEventRow {
	now := h.now()
	rows := make([]views.MetaEventRow, 0, len(events))
	for _, e := range events {
		var change whatsapp.WebhookChange
		description := "Meta sent “" + e.Field + "”."
		if json.Unmarshal([]byte(e.Payload), &change) == nil {
			description = whatsapp.DescribeWebhookChange(change)
		}
		rows = append(rows, views.MetaEventRow{Ago: views.Ago(now, e.ReceivedAt), Exact: views.FormatTime(e.ReceivedAt), ISO: e.ReceivedAt.UTC().Format(time.RFC3339),
			Field: e.Field, Description: description})
	}
	return rows
}

func (h *Handler) historyRows(changes []db.HealthChange) []views.HealthChangeRow {
	now := h.now()
	rows := make([]views.HealthChangeRow, 0, len(changes))
	for _, ch := range changes {
		field := historyFields[ch.Field]
		if field == "" {
			field = ch.Field
		}
		from, to := whatsapp.FieldBadge(field, ch.From), whatsapp.FieldBadge(field, ch.To)
		rows = append(rows, views.HealthChangeRow{Ago: views.Ago(now, ch.At), Exact: views.FormatTime(ch.At), ISO: ch.At.UTC().Format(time.RFC3339),
			Label: to.Label, From: viewBadge(from), To: viewBadge(to)})
	}
	return rows
}

// healthJSON is the health API's answer. The flat phone-number keys keep the names
// and values of Meta's phone-number node, which existing integrations read; null
// means Meta did not report the field (or the number was never fetched).
// can_send_message is Meta's overall verdict as a string, and health_status is Meta's
// object with every entity and its errors/additional_info. See docs/health-api.md.
type healthJSON struct {
	InboxID                int64                  `json:"inbox_id"`
	PhoneNumber            string                 `json:"phone_number"`
	PhoneNumberID          string                 `json:"phone_number_id"`
	WABAID                 string                 `json:"waba_id"`
	BusinessID             *string                `json:"business_id"`
	DisplayPhoneNumber     *string                `json:"display_phone_number"`
	VerifiedName           *string                `json:"verified_name"`
	NameStatus             *string                `json:"name_status"`
	NewNameStatus          *string                `json:"new_name_status"`
	QualityRating          *string                `json:"quality_rating"`
	MessagingLimitTier     *string                `json:"messaging_limit_tier"`
	AccountMode            *string                `json:"account_mode"`
	CodeVerificationStatus *string                `json:"code_verification_status"`
	Throughput             throughputJSON         `json:"throughput"`
	LastOnboardedTime      *string                `json:"last_onboarded_time"`
	PlatformType           *string                `json:"platform_type"`
	Status                 *string                `json:"status"`
	CanSendMessage         *string                `json:"can_send_message"`
	HealthStatus           *whatsapp.HealthStatus `json:"health_status"`
	BusinessHealthStatus   *whatsapp.HealthStatus `json:"business_health_status"`
	Overall                overallJSON            `json:"overall"`
	Registration           registrationJSON       `json:"registration"`
	CheckedAt              *string                `json:"checked_at"`
	Stale                  bool                   `json:"stale"`
	Error                  *healthErrorJSON       `json:"error"`
	Links                  healthLinksJSON        `json:"links"`
	// Webhooks says where Meta sends the number's account-level events; null when
	// the server runs without a registrar.
	Webhooks *webhooksJSON `json:"webhooks"`
	// IsOnBizApp is true for coexistence numbers (also on the WhatsApp Business app).
	IsOnBizApp *bool `json:"is_on_biz_app"`
}

type throughputJSON struct {
	Level *string `json:"level"`
}

type overallJSON struct {
	Code    string `json:"code"`
	Label   string `json:"label"`
	Tone    string `json:"tone"`
	Summary string `json:"summary"`
}

// registrationJSON is where the number stands on the way to registration.
type registrationJSON struct {
	State string `json:"state"`
	// CanComplete: an administrator may press "Complete registration" now.
	CanComplete bool `json:"can_complete"`
	// NeedsConfirmation: pressing it needs an explicit "try anyway" (name in review).
	NeedsConfirmation bool `json:"needs_confirmation"`
	// Title, Reason, Remedy and Next are the advice in plain words, as the banner says it.
	Title        string                   `json:"title"`
	Reason       string                   `json:"reason"`
	Remedy       string                   `json:"remedy"`
	Next         string                   `json:"next"`
	LastAttempt  *registrationAttemptJSON `json:"last_attempt"`
	NextRetryAt  *string                  `json:"next_retry_at"`
	AttemptsLeft *int                     `json:"attempts_left"`
	// Actions are what the caller may do now (register, try_anyway, enter_pin,
	// set_new_pin, deregister_and_register, reconnect, refresh); AskAdministrator that an
	// administrator could do more.
	Actions          []health.Action `json:"actions"`
	AskAdministrator bool            `json:"ask_administrator"`
}

// registrationAttemptJSON is one registration attempt as the API shows it.
type registrationAttemptJSON struct {
	StartedAt  string  `json:"started_at"`
	FinishedAt *string `json:"finished_at"`
	Trigger    string  `json:"trigger"`
	Outcome    string  `json:"outcome"`
	Code       int64   `json:"code,omitempty"`
	Subcode    int64   `json:"subcode,omitempty"`
	Message    string  `json:"message,omitempty"`
}

type healthErrorJSON struct {
	Kind    string `json:"kind"`
	Code    int64  `json:"code"`
	Subcode int64  `json:"subcode"`
	Title   string `json:"title"`
	Message string `json:"message"` // what happened, in plain words
	Remedy  string `json:"remedy"`
	Detail  string `json:"detail"` // Meta's or the transport's own message
}

type healthLinksJSON struct {
	WhatsAppManager string `json:"whatsapp_manager"`
}

// apiHealth serves the inbox's latest health. It answers from the stored snapshot and
// never waits on Meta, except for the very first fetch of a never-checked inbox; if
// Meta has not answered that in time, the answer is still 200 with stale true and an
// error of kind "not_checked", so clients handle one shape.
func (h *Handler) apiHealth(c echo.Context) error {
	in, snap, err := h.inboxWithHealth(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.healthResponse(c, in, snap))
}

// apiRefreshHealth asks Meta now, like the Refresh button (and with its cooldown), and
// answers like apiHealth.
func (h *Handler) apiRefreshHealth(c echo.Context) error {
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	snap, err := h.health.RefreshOnDemand(c.Request().Context(), in)
	if err != nil {
		return fmt.Errorf("refresh health of inbox %d: %w", in.ID, err)
	}
	return c.JSON(http.StatusOK, h.healthResponse(c, in, &snap))
}

func (h *Handler) healthResponse(c echo.Context, in db.Inbox, snap *db.HealthSnapshot) healthJSON {
	input := h.adviceInput(c, in, snap, nil)
	advice := health.Advise(input)
	overall := advice.Overall
	out := healthJSON{
		InboxID: in.ID, PhoneNumber: in.PhoneNumber, PhoneNumberID: in.PhoneNumberID, WABAID: in.WABAID,
		BusinessID:   nullable(in.BusinessID),
		Overall:      overallJSON{Code: overall.Code, Label: overall.Label, Tone: string(overall.Tone), Summary: overall.Summary},
		Registration: registrationStatus(input, advice),
		Links:        healthLinksJSON{WhatsAppManager: whatsapp.ManagerPhoneNumbersURL(in.BusinessID, in.WABAID)},
	}
	if route, ok := h.webhookRoute(c, in, snap); ok {
		out.Webhooks = toWebhooksJSON(route)
	}
	if snap == nil {
		out.Stale = true
		nc := health.NotCheckedYet
		out.Error = &healthErrorJSON{Kind: "not_checked", Title: nc.Title, Message: nc.Message, Remedy: nc.Remedy}
		return out
	}
	checked := snap.CheckedAt.UTC().Format(time.RFC3339)
	out.CheckedAt = &checked
	out.BusinessHealthStatus = snap.BusinessHealth
	if fp := advice.FetchProblem; fp != nil {
		out.Stale = true
		out.Error = &healthErrorJSON{Kind: string(snap.ErrorKind), Code: snap.ErrorCode, Subcode: snap.ErrorSubcode,
			Title: fp.Title, Message: fp.Message, Remedy: fp.Remedy, Detail: snap.ErrorMessage}
		if snap.ErrorKind == whatsapp.KindNone {
			out.Error.Kind = string(whatsapp.KindUnknown)
		}
	}
	if p := snap.Phone; p != nil {
		out.DisplayPhoneNumber = nullable(p.DisplayPhoneNumber)
		out.VerifiedName = nullable(p.VerifiedName)
		out.NameStatus = nullable(p.NameStatus)
		out.NewNameStatus = nullable(p.NewNameStatus)
		out.QualityRating = nullable(p.QualityRating)
		out.MessagingLimitTier = nullable(p.LimitTier())
		out.AccountMode = nullable(p.AccountMode)
		out.CodeVerificationStatus = nullable(p.CodeVerificationStatus)
		out.Throughput.Level = nullable(p.Throughput.Level)
		out.LastOnboardedTime = nullable(p.LastOnboardedTime)
		out.PlatformType = nullable(p.PlatformType)
		out.Status = nullable(p.Status)
		out.IsOnBizApp = p.IsOnBizApp
		if p.HealthStatus != nil {
			out.CanSendMessage = nullable(p.HealthStatus.CanSendMessage)
			out.HealthStatus = p.HealthStatus
		}
	}
	return out
}

// registrationStatus is the registration part of the health API: the advice for the
// caller, and whether an administrator may start a registration now (can_complete).
func registrationStatus(input health.AdviceInput, a health.Advice) registrationJSON {
	asAdmin := a
	if !input.Administrator {
		input.Administrator = true
		asAdmin = health.Advise(input)
	}
	out := registrationJSON{State: string(a.State), Title: a.Title, Reason: a.Reason, Remedy: a.Remedy, Next: a.Next,
		CanComplete:       asAdmin.Offers(health.ActionRegister) || asAdmin.Offers(health.ActionTryAnyway),
		NeedsConfirmation: asAdmin.NeedsConfirmation,
		Actions:           a.Actions, AskAdministrator: a.AskAdministrator}
	if out.Actions == nil {
		out.Actions = []health.Action{}
	}
	if a.NextRetryAt != nil && !a.Done {
		next := a.NextRetryAt.UTC().Format(time.RFC3339)
		out.NextRetryAt = &next
	}
	if !input.HasStatus {
		return out
	}
	left := input.Status.AttemptsLeft
	out.AttemptsLeft = &left
	if at := input.Status.LastAttempt; at != nil {
		out.LastAttempt = &registrationAttemptJSON{StartedAt: at.StartedAt.UTC().Format(time.RFC3339), Trigger: at.Trigger,
			Outcome: at.Outcome, Code: at.GraphCode, Subcode: at.GraphSubcode, Message: at.Message}
		if at.FinishedAt != nil {
			finished := at.FinishedAt.UTC().Format(time.RFC3339)
			out.LastAttempt.FinishedAt = &finished
		}
	}
	return out
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
