package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// Changes an administrator makes to an inbox, from the Settings tab and the API:
// reconnecting it (replacing its access token) and removing it.

// reconnectInbox takes the Settings tab's reconnect form. A token that does not look
// like one, or that Meta refuses, is refused next to the field with the old token
// kept; on success the page shows the new health (post-redirect-get).
func (h *Handler) reconnectInbox(c echo.Context) error {
	if h.registrar == nil {
		return errRegistrationUnavailable
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	token := strings.TrimSpace(c.FormValue("access_token"))
	if problem := accessTokenProblem(token); problem != "" {
		return h.showInboxWith(c, in, http.StatusUnprocessableEntity, problem)
	}
	res, err := h.registrar.Reconnect(c.Request().Context(), in, token, health.Request{Trigger: db.TriggerBanner, UserID: currentUserID(c)})
	var refused *health.TokenRefusedError
	if errors.As(err, &refused) {
		return h.showInboxWith(c, in, http.StatusUnprocessableEntity, refused.Error())
	}
	if err != nil {
		return err
	}
	h.setFlash(c, "Reconnected: the new access token works. "+flashFor(h.adviceFor(c, in, res.Snapshot, &res)), false)
	return c.Redirect(http.StatusSeeOther, views.InboxURL(in.AccountID, in.ID))
}

// inboxPatchBody is what PATCH /api/v1/.../inboxes/:id changes: today the access token.
type inboxPatchBody struct {
	AccessToken *string `json:"access_token"`
}

// apiPatchInbox reconnects an inbox through the API ({"access_token"}); it answers like
// the registration endpoint, or 422 when the token is refused (the old one stays).
func (h *Handler) apiPatchInbox(c echo.Context) error {
	if h.registrar == nil {
		return errAPIRegistrationUnavailable
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	var body inboxPatchBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if body.AccessToken == nil {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid", Message: "Send the new access_token."}
	}
	token := strings.TrimSpace(*body.AccessToken)
	if problem := accessTokenProblem(token); problem != "" {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid", Message: "Some fields are invalid.",
			Fields: map[string]string{"access_token": problem}}
	}
	res, err := h.registrar.Reconnect(c.Request().Context(), in, token, health.Request{Trigger: db.TriggerAPI, UserID: currentUserID(c)})
	var refused *health.TokenRefusedError
	if errors.As(err, &refused) {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "token_refused", Message: refused.Error(),
			Fields: map[string]string{"access_token": refused.Error()}}
	}
	return h.answerRegistrationAPI(c, in, res, err)
}

// removeInbox takes the Settings tab's remove form: only with the confirmation that
// names the inbox; then back to the list with what was removed.
func (h *Handler) removeInbox(c echo.Context) error {
	if h.registrar == nil {
		return errRegistrationUnavailable
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	if c.FormValue("confirm_remove") != "1" {
		return h.showInboxWith(c, in, http.StatusUnprocessableEntity, "")
	}
	if err := h.registrar.RemoveInbox(c.Request().Context(), in, currentUserID(c)); err != nil {
		if problem := health.Refusal(err); problem != "" {
			h.setFlash(c, problem, true)
			return c.Redirect(http.StatusSeeOther, views.InboxURL(in.AccountID, in.ID))
		}
		return err
	}
	h.setFlash(c, "Removed "+in.Name+". Nothing was changed at Meta: the number stays registered there.", false)
	return c.Redirect(http.StatusSeeOther, views.InboxesURL(in.AccountID))
}

// apiDeleteInbox removes an inbox: 204, or 409 while a registration is in flight.
func (h *Handler) apiDeleteInbox(c echo.Context) error {
	if h.registrar == nil {
		return errAPIRegistrationUnavailable
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	err = h.registrar.RemoveInbox(c.Request().Context(), in, currentUserID(c))
	if errors.Is(err, health.ErrRegistrationInProgress) {
		return &APIError{Status: http.StatusConflict, Type: "in_progress", Message: health.Refusal(err)}
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
