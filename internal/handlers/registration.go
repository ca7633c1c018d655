package handlers

import (
	"bufio"
	"errors"
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

// errRegistrationUnavailable and errAPIRegistrationUnavailable answer pages and the API
// when the server runs without a registrar.
var (
	errRegistrationUnavailable    = echo.NewHTTPError(http.StatusServiceUnavailable, "Registration is not available on this server.")
	errAPIRegistrationUnavailable = &APIError{Status: http.StatusServiceUnavailable, Type: "unavailable", Message: "Registration is not available on this server."}
)

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
	if problem := health.Refusal(err); problem != "" {
		return h.answerRefusal(c, in, problem)
	}
	if err != nil {
		return err
	}
	return h.answerRegistration(c, in, res)
}

func (h *Handler) provideRegistrationPIN(c echo.Context) error {
	if h.registrar == nil {
		return errRegistrationUnavailable
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	p := health.PINChange{PIN: c.FormValue("pin"), SetAtMeta: c.FormValue("pin_mode") == "new", Confirmed: c.FormValue("confirm_reset") == "1"}
	res, err := h.registrar.ApplyPIN(c.Request().Context(), in, p, health.Request{Trigger: db.TriggerBanner, UserID: currentUserID(c), Actor: currentActor(c)})
	if problem := health.Refusal(err); problem != "" {
		return h.answerRefusal(c, in, problem)
	}
	if err != nil {
		return err
	}
	return h.answerRegistration(c, in, res)
}

// answerNotice confirms what a request did, in the banner (or as a flash without
// JavaScript).
func (h *Handler) answerNotice(c echo.Context, in db.Inbox, notice string) error {
	if !isHTMX(c) {
		h.setFlash(c, notice, false)
		return c.Redirect(http.StatusSeeOther, bannerPageURL(in, c.FormValue("from")))
	}
	return h.renderBanner(c, in, nil, "", notice)
}

// answerRefusal shows why a request was refused before anything reached Meta: in the
// banner (next to the PIN field when it is shown), or as a flash without JavaScript.
func (h *Handler) answerRefusal(c echo.Context, in db.Inbox, problem string) error {
	if !isHTMX(c) {
		h.setFlash(c, problem, true)
		return c.Redirect(http.StatusSeeOther, bannerPageURL(in, c.FormValue("from")))
	}
	return h.renderBanner(c, in, nil, problem, "")
}

// answerRegistration shows the result: to htmx the new banner with the badges, to a
// plain form a flash on the page it came from (post-redirect-get).
func (h *Handler) answerRegistration(c echo.Context, in db.Inbox, res health.Result) error {
	if isHTMX(c) {
		return h.renderBanner(c, in, &res, "", "")
	}
	to := bannerPageURL(in, c.FormValue("from"))
	if res.NeedsConfirmation {
		to += "?" + confirmQuery + "=1"
	}
	h.setFlash(c, flashFor(h.adviceFor(c, in, res.Snapshot, &res)), res.Outcome == health.OutcomeFailed)
	return c.Redirect(http.StatusSeeOther, to)
}

// renderBanner renders the banner for the inbox as the post left it (with the result it
// answers, why the request was refused, or what it did), plus the badges selected out
// of band.
func (h *Handler) renderBanner(c echo.Context, in db.Inbox, res *health.Result, refusal, notice string) error {
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
	advice := h.adviceFor(c, in, snap, res)
	b := h.bannerView(c, in, advice, from)
	b.Refusal, b.Notice = refusal, notice
	if b.ShowCodeForm && refusal != "" && c.FormValue("code") != "" {
		b.CodeError, b.Refusal = refusal, ""
	}
	if b.ShowPINForm && strings.HasSuffix(c.Path(), "/pin") {
		// The answer to a PIN just given sits next to the PIN field: this app's
		// refusal (not 6 digits, no confirmation), or Meta's "not this PIN".
		switch {
		case refusal != "":
			b.PINError, b.Refusal = refusal, ""
		case res != nil && res.Kind == whatsapp.KindPINMismatch:
			b.PINError = wrongPINMessage
		}
	}
	var parts []templ.Component
	if from == views.BannerOnHealth {
		if parts, err = h.healthParts(c, in, snap, advice, false); err != nil {
			return err
		}
	}
	return h.render(c, http.StatusOK, views.RegistrationAnswer(b, statusBadge(advice.Overall), parts))
}

// wrongPINMessage answers a PIN Meta refused (133005), next to the PIN field.
const wrongPINMessage = "Meta did not accept this PIN: it is not the one Meta holds for this number. Check it and try again, or set a new PIN."

// flashFor is the one-line answer to a post without JavaScript: the advice's title and
// reason.
func flashFor(a health.Advice) string {
	if a.Done && a.Remedy != "" {
		return a.Title + ". But: " + a.Remedy
	}
	return a.Title + ". " + a.Reason
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

// bannerOf is the "Complete registration" banner (element id "registration-banner") on
// page from, or nil when the number is registered.
func (h *Handler) bannerOf(c echo.Context, in db.Inbox, a health.Advice, from string) templ.Component {
	if a.Done {
		return nil
	}
	return views.RegistrationBannerView(h.bannerView(c, in, a, from))
}

// adviceFor is what the person making the request is told about the inbox (and, after a
// post, the result it answers).
func (h *Handler) adviceFor(c echo.Context, in db.Inbox, snap *db.HealthSnapshot, res *health.Result) health.Advice {
	return health.Advise(h.adviceInput(c, in, snap, res))
}

// adviceInput gathers what the advice is decided from. A registration status that
// cannot be read is logged and the advice is decided from health alone.
func (h *Handler) adviceInput(c echo.Context, in db.Inbox, snap *db.HealthSnapshot, res *health.Result) health.AdviceInput {
	input := health.AdviceInput{Inbox: in, Snapshot: snap, Result: res, Now: h.now(),
		Administrator: currentMembership(c).IsAdministrator(), Confirming: c.QueryParam(confirmQuery) == "1"}
	if h.registrar != nil {
		st, err := h.registrar.Status(c.Request().Context(), in)
		if err != nil {
			h.log.Warn("registration status", "inbox_id", in.ID, "error", err)
		} else {
			input.Status, input.HasStatus = st, true
		}
	}
	return input
}

// bannerView renders the advice as the banner on page from, for the request's browser
// (the language a verification code is sent in) and deployment (demo links).
func (h *Handler) bannerView(c echo.Context, in db.Inbox, a health.Advice, from string) views.RegistrationBanner {
	b := views.RegistrationBanner{
		AccountID: in.AccountID, InboxID: in.ID, State: string(a.State), Outcome: string(a.Outcome),
		Tone: string(a.Tone), Title: a.Title, Message: a.Reason, Remedy: a.Remedy, NextStep: a.Next, Technical: a.Technical,
		From: from, SelectOOB: "#inbox-status",
		CanRegister:     a.Offers(health.ActionRegister) || a.Offers(health.ActionTryAnyway),
		Confirm:         a.Offers(health.ActionTryAnyway),
		ButtonLabel:     a.RegisterLabel,
		ConfirmNote:     a.ConfirmNote,
		ShowPINForm:     a.Offers(health.ActionEnterPIN),
		PINPrompt:       a.PINPrompt,
		PINNote:         a.PINNote,
		CanDeregister:   a.Offers(health.ActionDeregisterAndRegister),
		ShowCodeRequest: a.Offers(health.ActionRequestCode),
		CodeWait:        seconds(a.CodeWait),
		CodeNote:        a.CodeNote,
		ShowCodeForm:    a.Offers(health.ActionEnterCode),
		CodeLanguage:    health.CodeLanguage(c.Request().Header.Get("Accept-Language")),
		DemoCodesURL:    h.cfg.DemoCodesURL,
		AdminOnlyNote:   a.AdminNote,
	}
	if a.Done {
		b.Message, b.Remedy = a.Reason, ""
		b.WebhookError = a.Remedy
	}
	if from == views.BannerOnHealth {
		b.SelectOOB += ",#health-panel,#health-changes,#registration-attempts"
	}
	if a.Offers(health.ActionReconnect) {
		b.ReconnectURL = views.InboxURL(in.AccountID, in.ID) + "#reconnect"
	}
	if a.Kind == whatsapp.KindCodeWrong && b.ShowCodeForm {
		b.CodeError = a.Reason
	}
	if a.FixInWhatsAppManager {
		b.ManagerURL = whatsapp.ManagerPhoneNumbersURL(in.BusinessID, in.WABAID)
	}
	return b
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
	d := health.DescribeAttempt(a)
	if a.GraphCalled && a.ErrorKind != whatsapp.KindNone && a.Message != "" && a.Message != d.Reason {
		// The reason is the plain title; Meta's own words go behind Technical details.
		d.Detail = strings.TrimPrefix(d.Detail+": "+a.Message, ": ")
	}
	return views.RegistrationAttemptRow{At: views.FormatTime(a.StartedAt), AtISO: a.StartedAt.UTC().Format(time.RFC3339),
		Trigger: d.Trigger, Who: a.UserEmail, Outcome: a.Outcome, OutcomeText: d.Outcome, OutcomeTone: string(d.Tone),
		Reason: d.Reason, Detail: d.Detail}
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
		return errAPIRegistrationUnavailable
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
		return errAPIRegistrationUnavailable
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	var body pinRequestBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	// The API's set_at_meta is the confirmation itself.
	p := health.PINChange{PIN: body.PIN, SetAtMeta: body.SetAtMeta, Confirmed: body.SetAtMeta}
	res, err := h.registrar.ApplyPIN(c.Request().Context(), in, p, health.Request{Trigger: db.TriggerAPI, UserID: currentUserID(c), Actor: currentActor(c)})
	return h.answerRegistrationAPI(c, in, res, err)
}

// answerRegistrationAPI answers a registration or PIN request of the API: a refusal
// before any call is a 4xx error, anything Meta answered is a 200 registration answer.
func (h *Handler) answerRegistrationAPI(c echo.Context, in db.Inbox, res health.Result, err error) error {
	switch {
	case errors.Is(err, health.ErrInvalidPIN):
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid_pin", Message: health.Refusal(err)}
	case errors.Is(err, health.ErrRegistrationInProgress):
		return &APIError{Status: http.StatusConflict, Type: "in_progress", Message: health.Refusal(err)}
	case errors.Is(err, health.ErrNoDeregistrationPending), errors.Is(err, health.ErrNotEnoughCallsLeft):
		return &APIError{Status: http.StatusConflict, Type: "not_allowed", Message: health.Refusal(err)}
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
