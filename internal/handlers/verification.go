package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// Verifying a number from the banner and the API: request a code, enter it, register.

// codeRefusal words a code request or code refused before reaching Meta ("" for
// other errors).
func codeRefusal(err error) string {
	var wait *health.CodeRequestWaitError
	switch {
	case errors.As(err, &wait):
		return "Not sent: " + wait.Error() + "."
	case errors.Is(err, health.ErrInvalidCodeMethod), errors.Is(err, health.ErrInvalidCodeLanguage),
		errors.Is(err, health.ErrInvalidCode):
		return err.Error() + "."
	}
	return health.Refusal(err)
}

func (h *Handler) requestVerificationCode(c echo.Context) error {
	if h.registrar == nil {
		return errRegistrationUnavailable
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	req := health.Request{Trigger: db.TriggerBanner, UserID: currentUserID(c)}
	sent, err := h.registrar.RequestVerificationCode(c.Request().Context(), in, c.FormValue("method"), c.FormValue("language"), req)
	if problem := codeRefusal(err); problem != "" {
		return h.answerRefusal(c, in, problem)
	}
	if err != nil {
		return err
	}
	if !sent.Sent {
		e := sent.Kind.Explain()
		return h.answerRefusal(c, in, e.Title+". "+e.Message+" "+e.Remedy)
	}
	return h.answerNotice(c, in, "Meta is sending a 6-digit code to "+in.PhoneNumber+". Enter it below.")
}

func (h *Handler) submitVerificationCode(c echo.Context) error {
	if h.registrar == nil {
		return errRegistrationUnavailable
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	req := health.Request{Trigger: db.TriggerBanner, UserID: currentUserID(c)}
	res, err := h.registrar.SubmitVerificationCode(c.Request().Context(), in, c.FormValue("code"), req)
	if problem := codeRefusal(err); problem != "" {
		return h.answerRefusal(c, in, problem)
	}
	if err != nil {
		return err
	}
	return h.answerRegistration(c, in, res)
}

// verificationRequestBody is the API's code request.
type verificationRequestBody struct {
	Method   string `json:"method"`
	Language string `json:"language"`
}

// verificationAnswer is the API's answer to a code request.
type verificationAnswer struct {
	Sent       bool               `json:"sent"`
	RetryAfter int                `json:"retry_after_s"`
	Error      *registrationError `json:"error,omitempty"`
}

func (h *Handler) apiRequestVerificationCode(c echo.Context) error {
	if h.registrar == nil {
		return errAPIRegistrationUnavailable
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	var body verificationRequestBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	language := body.Language
	if language == "" {
		language = health.CodeLanguage(c.Request().Header.Get("Accept-Language"))
	}
	req := health.Request{Trigger: db.TriggerAPI, UserID: currentUserID(c)}
	sent, err := h.registrar.RequestVerificationCode(c.Request().Context(), in, body.Method, language, req)
	var wait *health.CodeRequestWaitError
	switch {
	case errors.As(err, &wait):
		c.Response().Header().Set("Retry-After", fmt.Sprint(seconds(wait.Wait)))
		return &APIError{Status: http.StatusTooManyRequests, Type: "too_soon", Message: codeRefusal(err)}
	case errors.Is(err, health.ErrInvalidCodeMethod), errors.Is(err, health.ErrInvalidCodeLanguage):
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid_request", Message: codeRefusal(err)}
	case errors.Is(err, health.ErrRegistrationInProgress):
		return &APIError{Status: http.StatusConflict, Type: "in_progress", Message: codeRefusal(err)}
	case err != nil:
		return err
	}
	out := verificationAnswer{Sent: sent.Sent, RetryAfter: seconds(sent.RetryAfter)}
	if !sent.Sent {
		out.Error = explainedError(sent.Kind, sent.GraphError)
	}
	return c.JSON(http.StatusOK, out)
}

// verificationCodeBody is the API's code.
type verificationCodeBody struct {
	Code string `json:"code"`
}

func (h *Handler) apiSubmitVerificationCode(c echo.Context) error {
	if h.registrar == nil {
		return errAPIRegistrationUnavailable
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	var body verificationCodeBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	res, err := h.registrar.SubmitVerificationCode(c.Request().Context(), in, body.Code, health.Request{Trigger: db.TriggerAPI, UserID: currentUserID(c)})
	if errors.Is(err, health.ErrInvalidCode) {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid_code", Message: codeRefusal(err)}
	}
	return h.answerRegistrationAPI(c, in, res, err)
}

// seconds rounds a wait up to whole seconds.
func seconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// explainedError is a failure as the API shows it.
func explainedError(kind whatsapp.Kind, ge *whatsapp.GraphError) *registrationError {
	e := kind.Explain()
	out := &registrationError{Type: kind, Title: e.Title, Message: e.Message, Remedy: e.Remedy}
	if ge != nil {
		out.Code, out.Subcode, out.GraphMessage = ge.Code, ge.Subcode, ge.Message
	}
	return out
}
