package handlers

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// maxJSONBody bounds every JSON request body of the API.
const maxJSONBody = 64 << 10

// apiInbox is an inbox as the JSON API shows it: never the token, PIN or verify token.
type apiInbox struct {
	ID            int64  `json:"id"`
	AccountID     int64  `json:"account_id"`
	Name          string `json:"name"`
	PhoneNumber   string `json:"phone_number"`
	PhoneNumberID string `json:"phone_number_id"`
	WABAID        string `json:"waba_id"`
	BusinessID    string `json:"business_id"`
	WebhookURL    string `json:"webhook_url"`
	// MetaCheck is what the check of the token and ids with Meta found: passed,
	// not_checked_yet (Meta could not be reached; the next sweep checks) or failed
	// (MetaCheckProblem says why).
	MetaCheck        string  `json:"meta_check"`
	MetaCheckProblem string  `json:"meta_check_problem,omitempty"`
	MetaCheckedAt    *string `json:"meta_checked_at,omitempty"`
	CreatedAt        string  `json:"created_at"`
}

func (h *Handler) toAPIInbox(in db.Inbox) apiInbox {
	out := apiInbox{ID: in.ID, AccountID: in.AccountID, Name: in.Name, PhoneNumber: in.PhoneNumber,
		PhoneNumberID: in.PhoneNumberID, WABAID: in.WABAID, BusinessID: in.BusinessID,
		WebhookURL: health.AppWebhookURL(h.cfg.FrontendURL), MetaCheck: health.MetaCheckAPIValue(in.MetaCheck),
		MetaCheckProblem: in.MetaCheckProblem, CreatedAt: in.CreatedAt.Format("2006-01-02T15:04:05Z")}
	if in.MetaCheckedAt != nil {
		at := in.MetaCheckedAt.UTC().Format("2006-01-02T15:04:05Z")
		out.MetaCheckedAt = &at
	}
	return out
}

func (h *Handler) apiListInboxes(c echo.Context) error {
	u, _ := currentUser(c)
	m := currentMembership(c)
	inboxes, err := h.store.InboxesVisibleTo(c.Request().Context(), m.AccountID, m, u.ID)
	if err != nil {
		return err
	}
	out := make([]apiInbox, 0, len(inboxes))
	for _, in := range inboxes {
		out = append(out, h.toAPIInbox(in))
	}
	return c.JSON(http.StatusOK, map[string]any{"payload": out})
}

// apiCreateInbox adds an inbox: the fields are checked, then the connection with Meta
// (422 refused_by_meta naming each field Meta's answers showed wrong, nothing stored);
// when Meta cannot be reached the inbox is stored with meta_check not_checked_yet.
func (h *Handler) apiCreateInbox(c echo.Context) error {
	if h.registrar == nil {
		return errAPIRegistrationUnavailable
	}
	m := currentMembership(c)
	var input inboxInput
	if err := decodeJSON(c, &input); err != nil {
		return err
	}
	if errs := input.validate(); len(errs) > 0 {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid", Message: "Some fields are invalid.", Fields: errs}
	}
	in, err := h.registrar.AddInbox(c.Request().Context(), m.AccountID, input.fields(), currentActor(c))
	if apiErr := inboxChangeAPIError(err); apiErr != nil {
		return apiErr
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, h.toAPIInbox(in))
}

// inboxChangeAPIError answers the refusals of creating or editing an inbox (nil for
// other errors): Meta refused fields (422 refused_by_meta), a number connected already
// (409 conflict), a registration in flight (409 in_progress).
func inboxChangeAPIError(err error) *APIError {
	var refused *health.InboxRefusedError
	var conflict *db.ConflictError
	switch {
	case errors.As(err, &refused):
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "refused_by_meta",
			Message: "Meta did not accept these fields; nothing was changed.", Fields: refused.Fields}
	case errors.As(err, &conflict):
		return &APIError{Status: http.StatusConflict, Type: "conflict", Message: conflict.Error(),
			Fields: map[string]string{conflict.Field: "already connected to an inbox"}}
	case errors.Is(err, health.ErrRegistrationInProgress):
		return &APIError{Status: http.StatusConflict, Type: "in_progress", Message: health.Refusal(err)}
	}
	return nil
}

// decodeJSON reads a bounded JSON body strictly: unknown fields and trailing data are
// errors, so typos do not silently drop values.
func decodeJSON(c echo.Context, v any) error {
	req := c.Request()
	if ct := req.Header.Get(echo.HeaderContentType); ct != "" && !isJSONContentType(ct) {
		return &APIError{Status: http.StatusUnsupportedMediaType, Type: "unsupported_media_type", Message: "Send the body as application/json."}
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), req.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &APIError{Status: http.StatusRequestEntityTooLarge, Type: "too_large", Message: "The body is larger than 64 KiB."}
		}
		return &APIError{Status: http.StatusBadRequest, Type: "bad_request", Message: "The body is not valid JSON for this endpoint: " + jsonErrorText(err)}
	}
	if dec.More() {
		return &APIError{Status: http.StatusBadRequest, Type: "bad_request", Message: "The body has data after the JSON object."}
	}
	return nil
}

func isJSONContentType(ct string) bool {
	return len(ct) >= 16 && ct[:16] == "application/json"
}

func jsonErrorText(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return "field " + typeErr.Field + " must be a " + typeErr.Type.String()
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}
