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
	CreatedAt     string `json:"created_at"`
}

func (h *Handler) toAPIInbox(in db.Inbox) apiInbox {
	return apiInbox{ID: in.ID, AccountID: in.AccountID, Name: in.Name, PhoneNumber: in.PhoneNumber,
		PhoneNumberID: in.PhoneNumberID, WABAID: in.WABAID, BusinessID: in.BusinessID,
		WebhookURL: health.AppWebhookURL(h.cfg.FrontendURL), CreatedAt: in.CreatedAt.Format("2006-01-02T15:04:05Z")}
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

func (h *Handler) apiCreateInbox(c echo.Context) error {
	m := currentMembership(c)
	var input inboxInput
	if err := decodeJSON(c, &input); err != nil {
		return err
	}
	if errs := input.validate(); len(errs) > 0 {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid", Message: "Some fields are invalid.", Fields: errs}
	}
	in, err := h.store.CreateInbox(c.Request().Context(), input.toNewInbox(m.AccountID))
	var conflict *db.ConflictError
	if errors.As(err, &conflict) {
		return &APIError{Status: http.StatusConflict, Type: "conflict", Message: conflict.Error(),
			Fields: map[string]string{conflict.Field: "already connected to an inbox"}}
	}
	if err != nil {
		return err
	}
	h.log.Info("inbox created", "inbox_id", in.ID, "account_id", in.AccountID, "via", "api")
	h.afterInboxCreated(c, in)
	return c.JSON(http.StatusCreated, h.toAPIInbox(in))
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
