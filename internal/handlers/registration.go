package handlers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// Registration: the "Complete registration" banner, the PIN form, the attempts table
// and the registration API.
//
// Every outcome of a registration post (registered, skipped, deferred, failed) is a
// 200 answer: the request worked and the outcome is its content. That is also what
// htmx swaps by default; 4xx/5xx stay for refused requests (403 agent, CSRF, 404,
// 500), which the banner reports in a line of its own.

// confirmQuery brings a no-JavaScript browser back to the "Try anyway" step.
const confirmQuery = "confirm_registration"

func (h *Handler) registrationRoutes(g *echo.Group) {
	g.POST("/inboxes/:id/registration", h.completeRegistration, requireAdministrator)
	g.POST("/inboxes/:id/pin", h.provideRegistrationPIN, requireAdministrator)
}

func (h *Handler) registrationAPIRoutes(g *echo.Group) {
	g.POST("/inboxes/:id/registration", h.apiRegister, requireAdministrator)
	g.POST("/inboxes/:id/pin", h.apiPIN, requireAdministrator)
}

// afterInboxCreated starts the setup flow of a new inbox in the background, detached
// from the request; the registrar tracks it so shutdown and tests can wait for it.
func (h *Handler) afterInboxCreated(c echo.Context, in db.Inbox) {
	if h.registrar == nil {
		return
	}
	h.registrar.StartSetup(c.Request().Context(), in)
}

// errRegistrationUnavailable answers when the server runs without a registrar.
var errRegistrationUnavailable = echo.NewHTTPError(http.StatusServiceUnavailable, "Registration is not available on this server.")

func (h *Handler) completeRegistration(c echo.Context) error {
	if h.registrar == nil {
		return errRegistrationUnavailable
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	req := health.Request{Trigger: db.TriggerBanner, UserID: currentUserID(c), Confirmed: c.FormValue("confirm") == "1"}
	var res health.Result
	if c.FormValue("deregister_first") == "1" {
		res, err = h.registrar.DeregisterAndRegister(c.Request().Context(), in, req)
	} else {
		res, err = h.registrar.Register(c.Request().Context(), in, req)
	}
	if problem := registrationRefusal(err); problem != "" {
		return h.answerRefusal(c, in, problem)
	}
	if err != nil {
		return err
	}
	return h.answerRegistration(c, in, res)
}

// registrationRefusal words the errors that refuse a person's request before any call
// to Meta ("" for other errors).
func registrationRefusal(err error) string {
	switch {
	case errors.Is(err, health.ErrInvalidPIN):
		return "Enter the PIN as exactly 6 digits."
	case errors.Is(err, health.ErrRegistrationInProgress):
		return "A registration is in progress right now. Wait a moment and try again."
	case errors.Is(err, health.ErrNoDeregistrationPending):
		return "Deregistering is only offered after Meta said a previous deregistration did not finish."
	case errors.Is(err, health.ErrNotEnoughCallsLeft):
		return "Deregistering and registering again needs two of Meta's 10 attempts per 72 hours, and fewer are left."
	case errors.Is(err, errResetNotConfirmed):
		return "To set a new PIN, tick the box confirming that the old PIN stops working everywhere."
	}
	return ""
}

// errResetNotConfirmed is a "set a new PIN" request without the confirmation.
var errResetNotConfirmed = errors.New("a new PIN was asked for without confirming that the old one stops working")

// pinRequest is what the PIN form and the PIN API ask for.
type pinRequest struct {
	PIN string
	// SetAtMeta: set this as a new PIN at Meta (the old one stops working), then
	// register; otherwise it is the PIN Meta already holds.
	SetAtMeta bool
	// Confirmed: the person confirmed what a new PIN does (the API's set_at_meta is the
	// confirmation itself).
	Confirmed bool
}

// applyPIN stores the PIN Meta holds, or sets a new one at Meta, then registers.
func (h *Handler) applyPIN(c echo.Context, in db.Inbox, p pinRequest, req health.Request) (health.Result, error) {
	ctx := c.Request().Context()
	if p.SetAtMeta {
		if !p.Confirmed {
			return health.Result{}, errResetNotConfirmed
		}
		return h.registrar.ResetPIN(ctx, in, p.PIN, req)
	}
	u, _ := currentUser(c)
	if err := h.registrar.SetPIN(ctx, in, p.PIN, u.ID); err != nil {
		return health.Result{}, err
	}
	return h.registrar.Register(ctx, in, req)
}

func (h *Handler) provideRegistrationPIN(c echo.Context) error {
	if h.registrar == nil {
		return errRegistrationUnavailable
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	p := pinRequest{PIN: c.FormValue("pin"), SetAtMeta: c.FormValue("pin_mode") == "new", Confirmed: c.FormValue("confirm_reset") == "1"}
	res, err := h.applyPIN(c, in, p, health.Request{Trigger: db.TriggerBanner, UserID: currentUserID(c)})
	if problem := registrationRefusal(err); problem != "" {
		return h.answerRefusal(c, in, problem)
	}
	if err != nil {
		return err
	}
	return h.answerRegistration(c, in, res)
}

// answerRefusal shows why a request was refused before anything reached Meta: in the
// banner (next to the PIN field when it is shown), or as a flash without JavaScript.
func (h *Handler) answerRefusal(c echo.Context, in db.Inbox, problem string) error {
	if !isHTMX(c) {
		h.setFlash(c, problem, true)
		return c.Redirect(http.StatusSeeOther, bannerPageURL(in, c.FormValue("from")))
	}
	return h.renderRegistrationAnswer(c, in, nil, problem)
}

// answerRegistration shows the result: to htmx the new banner with the badges, to a
// plain form a flash on the page it came from (post-redirect-get).
func (h *Handler) answerRegistration(c echo.Context, in db.Inbox, res health.Result) error {
	if isHTMX(c) {
		return h.renderRegistrationAnswer(c, in, &res, "")
	}
	to := bannerPageURL(in, c.FormValue("from"))
	if res.NeedsConfirmation {
		to += "?" + confirmQuery + "=1"
	}
	h.setFlash(c, flashFor(res), res.Outcome == health.OutcomeFailed)
	return c.Redirect(http.StatusSeeOther, to)
}

// renderRegistrationAnswer renders the banner for the inbox as the post left it (with
// the result it answers, or why the request was refused), plus the badges selected out
// of band.
func (h *Handler) renderRegistrationAnswer(c echo.Context, in db.Inbox, res *health.Result, refusal string) error {
	from := c.FormValue("from")
	ctx := c.Request().Context()
	in, err := h.store.InboxByID(ctx, in.ID) // the retry plan and PIN state the attempt left
	if err != nil {
		return err
	}
	snap, err := h.latestSnapshot(c, in.ID)
	if err != nil {
		return err
	}
	b, _, err := h.bannerModel(c, in, snap, res, from)
	if err != nil {
		return err
	}
	b.Refusal = refusal
	var panel, attempts templ.Component
	if from == views.BannerOnHealth {
		panel, attempts = h.healthPanel(c, in, snap), h.attemptsSection(c, in)
	}
	return h.render(c, http.StatusOK, views.RegistrationAnswer(b, statusBadge(health.OverallOf(snap)), panel, attempts))
}

func flashFor(res health.Result) string {
	switch {
	case res.Outcome == health.OutcomeRegistered && res.WebhookError != "":
		return "Registered. But: " + res.WebhookError
	case res.Outcome == health.OutcomeRegistered:
		return "Registered: this number can send messages now."
	case res.Kind != whatsapp.KindNone:
		e := res.Explanation()
		return e.Title + ". " + res.Reason
	}
	return res.Reason
}

// bannerPageURL is the page a banner was posted from; only the two known pages.
func bannerPageURL(in db.Inbox, from string) string {
	if from == views.BannerOnHealth {
		return views.InboxHealthURL(in.AccountID, in.ID)
	}
	return views.InboxURL(in.AccountID, in.ID)
}

func currentUserID(c echo.Context) *int64 {
	u, ok := currentUser(c)
	if !ok {
		return nil
	}
	return &u.ID
}

// bannerFor is the "Complete registration" banner (element id "registration-banner"),
// or nil when the number is registered.
func (h *Handler) bannerFor(c echo.Context, in db.Inbox, snap *db.HealthSnapshot) templ.Component {
	b, show, err := h.bannerModel(c, in, snap, nil, pageOf(c))
	if err != nil {
		h.log.Warn("registration banner", "inbox_id", in.ID, "error", err)
	}
	if !show {
		return nil
	}
	return views.RegistrationBannerView(b)
}

// pageOf says which inbox page is rendering, so the banner's answer goes back there.
func pageOf(c echo.Context) string {
	if strings.HasSuffix(c.Request().URL.Path, "/health") {
		return views.BannerOnHealth
	}
	return views.BannerOnSettings
}

// bannerModel builds the banner for the inbox's current state and, after a post, the
// result it answers. show is false when there is nothing to say (registered, and not
// answering a post). A registrar that cannot be read still yields a banner from health.
func (h *Handler) bannerModel(c echo.Context, in db.Inbox, snap *db.HealthSnapshot, res *health.Result, from string) (b views.RegistrationBanner, show bool, err error) {
	d := health.DecisionFor(in, snap)
	if res == nil && d.State == whatsapp.StateRegistered {
		return b, false, nil
	}
	var st health.Status
	if h.registrar != nil {
		st, err = h.registrar.Status(c.Request().Context(), in)
	}
	admin := currentMembership(c).IsAdministrator()
	text := describeRegistration(d, st, res, in.PINState, h.now())
	if snap == nil && res == nil {
		text.title = "Not checked with Meta yet"
		text.message = "The first health check of this number has not finished; its registration status shows here once it has."
	}
	b = views.RegistrationBanner{
		AccountID: in.AccountID, InboxID: in.ID, State: string(d.State),
		Tone: text.tone, Title: text.title, Message: text.message, Remedy: text.remedy, NextStep: text.nextStep,
		From: from, SelectOOB: "#inbox-status",
	}
	if from == views.BannerOnHealth {
		b.SelectOOB += ",#health-panel,#registration-attempts"
	}
	if res != nil {
		b.Outcome, b.WebhookError = string(res.Outcome), res.WebhookError
	}
	if text.managerFix {
		b.ManagerURL = whatsapp.ManagerPhoneNumbersURL(in.BusinessID, in.WABAID)
	}
	if text.done {
		return b, true, err
	}
	confirming := (res != nil && res.NeedsConfirmation) || c.QueryParam(confirmQuery) == "1"
	setActions(&b, d, st, text.kind, in.PINState, res, admin, confirming)
	return b, true, err
}

// setActions decides what the banner offers: the PIN form, the registration button
// (with the "Try anyway" step while the name is in review), or a note for agents.
func setActions(b *views.RegistrationBanner, d whatsapp.Decision, st health.Status, kind whatsapp.Kind, pinState string, res *health.Result, admin, confirming bool) {
	needsPIN := pinState == db.PINStateMismatch || (res != nil && res.NeedsPIN) || (d.NeedsStoredPIN && !db.PINUsable(pinState))
	hopeless := personMustActFirst(kind)
	canClick := d.ManualRegister && !needsPIN && !hopeless && st.BlockedUntil == nil
	canDeregister := kind == whatsapp.KindDeregistrationIncomplete && st.BlockedUntil == nil && st.AttemptsLeft >= 2
	if !admin {
		b.AdminOnlyNote = canClick || needsPIN || canDeregister
		return
	}
	b.ShowPINForm = needsPIN
	if needsPIN && d.NeedsStoredPIN {
		b.PINPrompt = "Meta approved the new display name. Enter the number's two-step verification PIN (or set a new one) so it can be registered again; the new name shows only after that."
	}
	b.CanRegister = canClick
	b.CanDeregister = canDeregister
	switch {
	case !d.NeedsConfirmation:
		b.ButtonLabel = "Complete registration"
	case confirming:
		b.ButtonLabel, b.Confirm = "Try anyway", true
		b.ConfirmNote = "This will very likely fail while Meta reviews the name, and it uses one of the 10 attempts Meta allows per 72 hours."
	default:
		b.ButtonLabel = "Complete registration (display name still in review)"
	}
}

// personMustActFirst reports whether a failure of this kind needs a person to fix
// something before another register call could succeed.
func personMustActFirst(kind whatsapp.Kind) bool {
	switch kind {
	case whatsapp.KindTokenExpired, whatsapp.KindAccountLocked, whatsapp.KindPermissionMissing,
		whatsapp.KindPolicyBlocked, whatsapp.KindDeregistrationIncomplete:
		return true
	}
	return false
}

// registrationText is the banner's words.
type registrationText struct {
	tone, title, message, remedy, nextStep string
	kind                                   whatsapp.Kind // the failure explained, if any
	managerFix                             bool          // the fix is in WhatsApp Manager
	done                                   bool          // registered: nothing left to do
}

// describeRegistration says in plain words what is wrong and what happens next.
func describeRegistration(d whatsapp.Decision, st health.Status, res *health.Result, pinState string, now time.Time) registrationText {
	if t, ok := describeDone(d, res); ok {
		return t
	}
	t := registrationText{kind: failureToExplain(d, st, res, pinState)}
	if t.kind != whatsapp.KindNone {
		e := t.kind.Explain()
		t.title, t.message, t.remedy = e.Title, e.Message, e.Remedy
		t.tone = "amber"
		if !t.kind.Retryable() {
			t.tone = "red"
		}
	} else {
		t.title, t.tone = stateTitle(d.State)
		t.message = d.Reason
	}
	if res != nil && res.Reason != "" && res.Kind == whatsapp.KindNone {
		t.message = res.Reason // e.g. "already in progress"
	}
	if last := st.LastAttempt; res == nil && last != nil && last.Outcome == db.OutcomeInterrupted {
		t.title, t.tone = "The last registration attempt was interrupted", "amber"
		t.message = last.Message
	}
	t.nextStep = nextStep(d, st, t.kind, now)
	t.managerFix = managerFixes(d.State, t.kind)
	return t
}

func describeDone(d whatsapp.Decision, res *health.Result) (registrationText, bool) {
	switch {
	case res != nil && res.Outcome == health.OutcomeRegistered:
		return registrationText{tone: "green", title: "Registered", done: true,
			message: "This number is registered with the WhatsApp Cloud API and can send messages now."}, true
	case d.State == whatsapp.StateRegistered || (res != nil && res.State == whatsapp.StateRegistered):
		msg := d.Reason
		if res != nil && res.Reason != "" {
			msg = res.Reason
		}
		return registrationText{tone: "green", title: "Already registered", message: msg, done: true}, true
	}
	return registrationText{}, false
}

// failureToExplain is the failure the banner leads with: the answer's, else a PIN
// Meta does not accept, else the spent limit, else the last attempt's while the number
// still waits for registration (otherwise the state tells the newer story).
func failureToExplain(d whatsapp.Decision, st health.Status, res *health.Result, pinState string) whatsapp.Kind {
	switch {
	case res != nil:
		return res.Kind
	case pinState == db.PINStateMismatch:
		return whatsapp.KindPINMismatch
	case st.BlockedUntil != nil:
		return whatsapp.KindRegisterRateLimited
	case st.LastAttempt != nil && st.LastAttempt.Outcome != db.OutcomeRegistered &&
		(d.State == whatsapp.StatePendingRegistration || d.State == whatsapp.StateUnknown):
		return st.LastAttempt.ErrorKind
	}
	return whatsapp.KindNone
}

func stateTitle(s whatsapp.RegistrationState) (title, tone string) {
	switch s {
	case whatsapp.StateWaitingForDisplayName:
		return "Meta is still reviewing your display name", "amber"
	case whatsapp.StateDisplayNameActionRequired:
		return "The display name needs your attention", "red"
	case whatsapp.StateOnPremise:
		return "This number uses the On-Premises API", "grey"
	case whatsapp.StatePendingRegistration:
		return "This number is not registered with WhatsApp yet", "amber"
	case whatsapp.StateCoexistence:
		return "This number is also used in the WhatsApp Business app", "grey"
	case whatsapp.StateNameChangeNeedsRegister:
		return "The new display name needs one more registration", "amber"
	}
	return "We could not check this number with Meta just now", "grey"
}

// nextStep says when the next automatic attempt happens and how many are left.
func nextStep(d whatsapp.Decision, st health.Status, kind whatsapp.Kind, now time.Time) string {
	left := attemptsLeftText(st.AttemptsLeft)
	switch {
	case st.BlockedUntil != nil:
		return "Registration can be tried again after " + views.ClockTime(now, *st.BlockedUntil) + "."
	case kind != whatsapp.KindNone && !kind.Retryable():
		return "No automatic retries until this is fixed."
	case st.NextRetryAt != nil && st.NextRetryAt.After(now):
		return "We will retry automatically at " + views.ClockTime(now, *st.NextRetryAt) + " — " + left + "."
	case st.NextRetryAt != nil:
		return "We will retry automatically within minutes — " + left + "."
	case d.State == whatsapp.StateWaitingForDisplayName:
		return "We will register it automatically as soon as Meta approves the name — " + left + "."
	case d.ManualRegister:
		return fmt.Sprintf("%d of Meta's %d attempts per 72 hours are left.", st.AttemptsLeft, health.RegisterLimit)
	}
	return ""
}

func attemptsLeftText(n int) string {
	if n == 1 {
		return "1 attempt left this window"
	}
	return fmt.Sprintf("%d attempts left this window", n)
}

// managerFixes reports whether the fix is in WhatsApp Manager.
func managerFixes(s whatsapp.RegistrationState, kind whatsapp.Kind) bool {
	switch s {
	case whatsapp.StateWaitingForDisplayName, whatsapp.StateDisplayNameActionRequired, whatsapp.StateOnPremise:
		return true
	}
	switch kind {
	case whatsapp.KindPINMismatch, whatsapp.KindNeedsVerification, whatsapp.KindAccountLocked, whatsapp.KindDisplayNameNotReady:
		return true
	}
	return false
}

// attemptsSection is the registration attempts table on the Account Health tab.
func (h *Handler) attemptsSection(c echo.Context, in db.Inbox) templ.Component {
	const shown = 20
	var attempts []db.RegistrationAttempt
	var err error
	if h.registrar != nil {
		var st health.Status
		st, err = h.registrar.Status(c.Request().Context(), in)
		attempts = st.Recent[:min(len(st.Recent), shown)]
	} else {
		attempts, err = h.store.Attempts(c.Request().Context(), in.ID, shown)
	}
	if err != nil {
		h.log.Warn("registration attempts", "inbox_id", in.ID, "error", err)
	}
	rows := make([]views.RegistrationAttemptRow, 0, len(attempts))
	for _, a := range attempts {
		rows = append(rows, attemptRow(a))
	}
	return views.RegistrationAttempts(rows)
}

func attemptRow(a db.RegistrationAttempt) views.RegistrationAttemptRow {
	row := views.RegistrationAttemptRow{At: views.FormatTime(a.StartedAt), AtISO: a.StartedAt.UTC().Format(time.RFC3339),
		Trigger: triggerText(a.Trigger), Who: a.UserEmail, Outcome: a.Outcome}
	row.OutcomeText, row.OutcomeTone = outcomeText(a.Outcome)
	switch {
	case a.Outcome == db.OutcomeRegistered:
		row.Reason = "Meta accepted the registration."
	case a.Outcome == db.OutcomeInterrupted || !a.GraphCalled:
		row.Reason = a.Message
	case a.ErrorKind != whatsapp.KindNone:
		row.Reason = a.ErrorKind.Explain().Title
	default:
		row.Reason = a.Message
	}
	if a.GraphCode != 0 {
		row.Detail = fmt.Sprintf("Meta error %d", a.GraphCode)
		if a.GraphSubcode != 0 {
			row.Detail += fmt.Sprintf("/%d", a.GraphSubcode)
		}
	}
	if !a.GraphCalled && a.Outcome != db.OutcomeInFlight {
		row.Detail = "No call to Meta was made."
	}
	return row
}

func triggerText(trigger string) string {
	switch trigger {
	case db.TriggerBanner:
		return "Complete registration button"
	case db.TriggerAPI:
		return "API"
	case db.TriggerAutomatic:
		return "Automatic retry"
	case db.TriggerWebhook:
		return "Display name approved (webhook)"
	case db.TriggerSetup:
		return "Inbox setup"
	case db.TriggerNameChange:
		return "Display name change approved"
	}
	return trigger
}

func outcomeText(outcome string) (text, tone string) {
	switch outcome {
	case db.OutcomeRegistered:
		return "Registered", "green"
	case db.OutcomeFailed:
		return "Failed", "red"
	case db.OutcomeInterrupted:
		return "Interrupted", "amber"
	case db.OutcomeInFlight:
		return "In progress", "grey"
	case db.OutcomeDeregistered:
		return "Deregistered", "amber"
	case db.OutcomePINSet:
		return "New PIN set", "green"
	case string(health.OutcomeDeferred):
		return "Not tried now", "amber"
	case string(health.OutcomeSkipped):
		return "Not needed", "grey"
	}
	return outcome, "grey"
}

// registrationRequestBody is the API's optional body.
type registrationRequestBody struct {
	// Confirm is "Try anyway" while Meta reviews the display name.
	Confirm bool `json:"confirm"`
	// DeregisterFirst deregisters the number before registering it again: Meta's way
	// out of 133000 (a deregistration that did not finish). It costs two calls.
	DeregisterFirst bool `json:"deregister_first"`
}

// pinRequestBody is the PIN API's body.
type pinRequestBody struct {
	PIN string `json:"pin"`
	// SetAtMeta sets pin as a new PIN at Meta (the old one stops working everywhere)
	// instead of storing the PIN Meta already holds.
	SetAtMeta bool `json:"set_at_meta"`
}

// registrationAnswer is the API's answer: {outcome, state, reason, error, health}.
type registrationAnswer struct {
	Outcome           health.Outcome             `json:"outcome"`
	State             whatsapp.RegistrationState `json:"state"`
	Reason            string                     `json:"reason"`
	Error             *registrationError         `json:"error"`
	NeedsConfirmation bool                       `json:"needs_confirmation"`
	NeedsPIN          bool                       `json:"needs_pin"`
	NextRetryAt       *time.Time                 `json:"next_retry_at"`
	Webhook           *registrationWebhook       `json:"webhook,omitempty"`
	Health            *registrationHealth        `json:"health"`
}

// registrationError explains why registration did not happen, for API clients.
type registrationError struct {
	Type         whatsapp.Kind `json:"type"`
	Title        string        `json:"title"`
	Message      string        `json:"message"`
	Remedy       string        `json:"remedy"`
	Code         int64         `json:"code,omitempty"`
	Subcode      int64         `json:"subcode,omitempty"`
	GraphMessage string        `json:"graph_message,omitempty"`
}

type registrationWebhook struct {
	Subscribed bool   `json:"subscribed"`
	Error      string `json:"error,omitempty"`
}

// registrationHealth is the health the registration left the number with.
type registrationHealth struct {
	CheckedAt         time.Time `json:"checked_at"`
	Stale             bool      `json:"stale"`
	OverallStatus     string    `json:"overall_status"`
	RegistrationState string    `json:"registration_state"`
	Status            string    `json:"status,omitempty"`
	NameStatus        string    `json:"name_status,omitempty"`
	PlatformType      string    `json:"platform_type,omitempty"`
	ThroughputLevel   string    `json:"throughput_level,omitempty"`
}

func (h *Handler) apiRegister(c echo.Context) error {
	if h.registrar == nil {
		return &APIError{Status: http.StatusServiceUnavailable, Type: "unavailable", Message: "Registration is not available on this server."}
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	var body registrationRequestBody
	if hasBody(c) {
		if err := decodeJSON(c, &body); err != nil {
			return err
		}
	}
	req := health.Request{Trigger: db.TriggerAPI, UserID: currentUserID(c), Confirmed: body.Confirm}
	var res health.Result
	if body.DeregisterFirst {
		res, err = h.registrar.DeregisterAndRegister(c.Request().Context(), in, req)
	} else {
		res, err = h.registrar.Register(c.Request().Context(), in, req)
	}
	return h.answerRegistrationAPI(c, in, res, err)
}

// apiPIN takes the PIN Meta holds ({"pin"}) or a new one to set at Meta
// ({"pin","set_at_meta":true}), then registers; it answers like the registration
// endpoint. The PIN is never echoed.
func (h *Handler) apiPIN(c echo.Context) error {
	if h.registrar == nil {
		return &APIError{Status: http.StatusServiceUnavailable, Type: "unavailable", Message: "Registration is not available on this server."}
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	var body pinRequestBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	p := pinRequest{PIN: body.PIN, SetAtMeta: body.SetAtMeta, Confirmed: body.SetAtMeta}
	res, err := h.applyPIN(c, in, p, health.Request{Trigger: db.TriggerAPI, UserID: currentUserID(c)})
	return h.answerRegistrationAPI(c, in, res, err)
}

// answerRegistrationAPI answers a registration or PIN request of the API: a refusal
// before any call is a 4xx error, anything Meta answered is a 200 registration answer.
func (h *Handler) answerRegistrationAPI(c echo.Context, in db.Inbox, res health.Result, err error) error {
	switch {
	case errors.Is(err, health.ErrInvalidPIN):
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid_pin", Message: registrationRefusal(err)}
	case errors.Is(err, health.ErrRegistrationInProgress):
		return &APIError{Status: http.StatusConflict, Type: "in_progress", Message: registrationRefusal(err)}
	case errors.Is(err, health.ErrNoDeregistrationPending), errors.Is(err, health.ErrNotEnoughCallsLeft):
		return &APIError{Status: http.StatusConflict, Type: "not_allowed", Message: registrationRefusal(err)}
	case err != nil:
		return err
	}
	snap := res.Snapshot
	if snap == nil {
		if snap, err = h.latestSnapshot(c, in.ID); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, toRegistrationAnswer(res, snap))
}

// hasBody reports whether the request carries a body, without consuming it: the
// API's body is optional, and a chunked request has no Content-Length to tell.
func hasBody(c echo.Context) bool {
	req := c.Request()
	if req.Body == nil || req.ContentLength == 0 {
		return false
	}
	br := bufio.NewReader(req.Body)
	_, err := br.Peek(1)
	req.Body = struct {
		io.Reader
		io.Closer
	}{br, req.Body}
	return err == nil
}

func toRegistrationAnswer(res health.Result, snap *db.HealthSnapshot) registrationAnswer {
	out := registrationAnswer{Outcome: res.Outcome, State: res.State, Reason: res.Reason,
		NeedsConfirmation: res.NeedsConfirmation, NeedsPIN: res.NeedsPIN, NextRetryAt: res.NextRetryAt}
	if res.Kind != whatsapp.KindNone {
		e := res.Explanation()
		out.Error = &registrationError{Type: res.Kind, Title: e.Title, Message: e.Message, Remedy: e.Remedy}
		if ge := res.GraphError; ge != nil {
			out.Error.Code, out.Error.Subcode, out.Error.GraphMessage = ge.Code, ge.Subcode, ge.Message
		}
	}
	if res.Outcome == health.OutcomeRegistered || res.WebhookError != "" {
		out.Webhook = &registrationWebhook{Subscribed: res.WebhookSubscribed, Error: res.WebhookError}
	}
	if snap != nil {
		out.Health = &registrationHealth{CheckedAt: snap.CheckedAt, Stale: !snap.OK, OverallStatus: snap.OverallStatus,
			RegistrationState: snap.RegistrationState}
		if p := snap.Phone; p != nil {
			out.Health.Status, out.Health.NameStatus = p.Status, p.EffectiveNameStatus()
			out.Health.PlatformType, out.Health.ThroughputLevel = p.PlatformType, p.Throughput.Level
		}
	}
	return out
}
