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
// editing it, reconnecting it (replacing its access token) and removing it.

// currentActor is who makes a change, as the inbox change log names them: the
// logged-in person, or the API token of a user.
func currentActor(c echo.Context) db.Actor {
	u, ok := currentUser(c)
	if !ok {
		return db.Actor{Name: "unknown"}
	}
	id := u.ID
	if c.Get(ctxViaAPIKey) != nil {
		return db.Actor{UserID: &id, Name: "API token of " + u.Email}
	}
	return db.Actor{UserID: &id, Name: u.Email}
}

// editInbox takes the Settings tab's edit form: the fields are validated as at
// creation, then checked with Meta with the inbox's token (EditInbox); a problem shows
// next to its field with everything as it was, success goes back to the Settings tab
// (post-redirect-get). The token is replaced only by the reconnect form.
func (h *Handler) editInbox(c echo.Context) error {
	if h.registrar == nil {
		return errRegistrationUnavailable
	}
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	input := inboxInput{Name: c.FormValue("name"), PhoneNumber: c.FormValue("phone_number"), PhoneNumberID: c.FormValue("phone_number_id"),
		WABAID: c.FormValue("waba_id"), BusinessID: c.FormValue("business_id")}
	again := func(status int, errs map[string]string, formErr string) error {
		return h.showInboxWith(c, in, status, settingsForms{Edit: &views.InboxForm{Name: input.Name, PhoneNumber: input.PhoneNumber,
			PhoneNumberID: input.PhoneNumberID, WABAID: input.WABAID, BusinessID: input.BusinessID, Errors: errs, FormError: formErr}})
	}
	if errs := input.validateFields(); len(errs) > 0 {
		return again(http.StatusUnprocessableEntity, errs, "Please fix the fields marked below. Nothing was changed.")
	}
	res, err := h.registrar.EditInbox(c.Request().Context(), in, input.fields(), currentActor(c))
	var refused *health.InboxRefusedError
	var conflict *db.ConflictError
	switch {
	case errors.As(err, &refused):
		formErr := "Meta did not accept this: fix the fields marked below. Nothing was changed."
		if p := refused.Fields[health.FieldAccessToken]; p != "" {
			formErr = p + " Reconnect the inbox with a new token below, then edit it. Nothing was changed."
		}
		return again(http.StatusUnprocessableEntity, refused.Fields, formErr)
	case errors.As(err, &conflict):
		return again(http.StatusConflict, map[string]string{conflict.Field: "This is already connected to another inbox."}, "Nothing was changed.")
	case errors.Is(err, health.ErrRegistrationInProgress):
		return again(http.StatusConflict, nil, health.Refusal(err)+" Nothing was changed.")
	case err != nil:
		return err
	}
	h.setFlash(c, editedFlash(res), false)
	return c.Redirect(http.StatusSeeOther, views.InboxURL(in.AccountID, in.ID))
}

// editedFlash confirms an edit, saying whether Meta checked it.
func editedFlash(res health.EditResult) string {
	switch {
	case !res.Changed:
		return "Nothing changed."
	case res.Inbox.MetaCheck == db.MetaCheckPending:
		return "Saved, not checked yet: " + health.DescribeMetaCheck(res.Inbox).Note
	case res.Afresh:
		return "Saved: Meta confirmed the number. This inbox now shows that number's health, and is set up for it."
	}
	return "Saved."
}

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
		return h.showInboxWith(c, in, http.StatusUnprocessableEntity, settingsForms{ReconnectError: problem})
	}
	res, err := h.registrar.Reconnect(c.Request().Context(), in, token, health.Request{Trigger: db.TriggerBanner, UserID: currentUserID(c), Actor: currentActor(c)})
	var refused *health.TokenRefusedError
	if errors.As(err, &refused) {
		return h.showInboxWith(c, in, http.StatusUnprocessableEntity, settingsForms{ReconnectError: refused.Error()})
	}
	if err != nil {
		return err
	}
	h.setFlash(c, "Reconnected: the new access token works. "+flashFor(h.adviceFor(c, in, res.Snapshot, &res)), false)
	return c.Redirect(http.StatusSeeOther, views.InboxURL(in.AccountID, in.ID))
}

// inboxPatchBody is what PATCH /api/v1/.../inboxes/:id changes: any subset of the
// create fields. Only access_token is a reconnect.
type inboxPatchBody struct {
	Name          *string `json:"name"`
	PhoneNumber   *string `json:"phone_number"`
	PhoneNumberID *string `json:"phone_number_id"`
	WABAID        *string `json:"waba_id"`
	BusinessID    *string `json:"business_id"`
	AccessToken   *string `json:"access_token"`
}

func (b inboxPatchBody) onlyToken() bool {
	return b.AccessToken != nil && b.Name == nil && b.PhoneNumber == nil && b.PhoneNumberID == nil && b.WABAID == nil && b.BusinessID == nil
}

// apiPatchInbox changes an inbox. With only {"access_token"} it reconnects the inbox
// and answers like the registration endpoint (422 token_refused when Meta refuses the
// token; the old one stays). With other fields it edits the inbox as the Settings tab
// does (EditInbox) and answers the inbox: 422 invalid or refused_by_meta, 409 conflict
// or in_progress, and nothing changed.
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
	if body.onlyToken() {
		return h.apiReconnect(c, in, *body.AccessToken)
	}
	input := inputOf(in)
	for _, f := range []struct {
		to   *string
		from *string
	}{{&input.Name, body.Name}, {&input.PhoneNumber, body.PhoneNumber}, {&input.PhoneNumberID, body.PhoneNumberID},
		{&input.WABAID, body.WABAID}, {&input.BusinessID, body.BusinessID}, {&input.AccessToken, body.AccessToken}} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	if body == (inboxPatchBody{}) {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid",
			Message: "Send at least one of name, phone_number, phone_number_id, waba_id, business_id, access_token."}
	}
	errs := input.validateFields()
	if body.AccessToken != nil {
		input.AccessToken = strings.TrimSpace(input.AccessToken)
		if problem := accessTokenProblem(input.AccessToken); problem != "" {
			errs["access_token"] = problem
		}
	}
	if len(errs) > 0 {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid", Message: "Some fields are invalid; nothing was changed.", Fields: errs}
	}
	res, err := h.registrar.EditInbox(c.Request().Context(), in, input.fields(), currentActor(c))
	if apiErr := inboxChangeAPIError(err); apiErr != nil {
		return apiErr
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.toAPIInbox(res.Inbox))
}

// apiReconnect replaces the inbox's token ({"access_token"} alone); it answers like the
// registration endpoint, or 422 when the token is refused (the old one stays).
func (h *Handler) apiReconnect(c echo.Context, in db.Inbox, token string) error {
	token = strings.TrimSpace(token)
	if problem := accessTokenProblem(token); problem != "" {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid", Message: "Some fields are invalid.",
			Fields: map[string]string{"access_token": problem}}
	}
	res, err := h.registrar.Reconnect(c.Request().Context(), in, token, health.Request{Trigger: db.TriggerAPI, UserID: currentUserID(c), Actor: currentActor(c)})
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
		return h.showInboxWith(c, in, http.StatusUnprocessableEntity, settingsForms{})
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
