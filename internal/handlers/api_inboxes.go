package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

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

// apiInboxListItem is an inbox in the list API: the inbox and a summary of its health.
type apiInboxListItem struct {
	apiInbox
	Health apiInboxHealth `json:"health"`
}

// apiInboxHealth is an inbox's health as the list shows it; the health endpoint has the
// rest. Meta's values are null when Meta did not report them or never answered.
type apiInboxHealth struct {
	OverallStatus      string  `json:"overall_status"`
	Label              string  `json:"label"`
	Tone               string  `json:"tone"`
	Severity           int     `json:"severity"`
	QualityRating      *string `json:"quality_rating"`
	MessagingLimitTier *string `json:"messaging_limit_tier"`
	CanSendMessage     *string `json:"can_send_message"`
	CheckedAt          *string `json:"checked_at"`
	Stale              bool    `json:"stale"`
}

// apiInboxListMeta says which inboxes the answer holds and how many there are.
type apiInboxListMeta struct {
	Status     string        `json:"status"`
	Q          string        `json:"q"`
	Sort       string        `json:"sort"`
	Page       int           `json:"page"`
	PerPage    int           `json:"per_page"`
	Total      int           `json:"total"`
	TotalPages int           `json:"total_pages"`
	Counts     apiFleetCount `json:"counts"`
}

// apiFleetCount counts every inbox the caller may see, per overall status.
type apiFleetCount struct {
	All       int            `json:"all"`
	Attention int            `json:"attention"`
	ByStatus  map[string]int `json:"by_status"`
}

// apiListInboxes lists the inboxes the caller may see, filtered (?status=), searched
// (?q=) and sorted (?sort=) as the list page does. With ?page= or ?per_page= it answers
// one page; without, every matching inbox, as it did before paging existed.
func (h *Handler) apiListInboxes(c echo.Context) error {
	q, problems := parseFleetQuery(c)
	if len(problems) > 0 {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid", Message: "Some query parameters are invalid.", Fields: problems}
	}
	fp, err := h.loadFleetPage(c, q, false)
	if err != nil {
		return err
	}
	ids := make([]int64, len(fp.Inboxes))
	for i, in := range fp.Inboxes {
		ids[i] = in.ID
	}
	inboxes, err := h.store.InboxesByIDs(c.Request().Context(), ids)
	if err != nil {
		return err
	}
	byID := make(map[int64]db.Inbox, len(inboxes))
	for _, in := range inboxes {
		byID[in.ID] = in
	}
	out := make([]apiInboxListItem, 0, len(fp.Inboxes))
	for _, fi := range fp.Inboxes {
		in, ok := byID[fi.ID]
		if !ok {
			continue // removed between the two reads
		}
		out = append(out, apiInboxListItem{apiInbox: h.toAPIInbox(in), Health: toAPIInboxHealth(fi)})
	}
	byStatus := fp.Counts.ByStatus
	if byStatus == nil {
		byStatus = map[string]int{}
	}
	meta := apiInboxListMeta{Status: q.Status, Q: q.Search, Sort: q.Sort, Page: fp.Page, PerPage: fp.Query.PerPage,
		Total: fp.Total, TotalPages: fp.Pages, Counts: apiFleetCount{All: fp.Counts.All, Attention: fp.Counts.Attention, ByStatus: byStatus}}
	return c.JSON(http.StatusOK, map[string]any{"payload": out, "meta": meta})
}

func toAPIInboxHealth(fi fleetInbox) apiInboxHealth {
	// Never checked is stale, as in the health endpoint.
	out := apiInboxHealth{OverallStatus: fi.Overall.Code, Label: fi.Overall.Label, Tone: string(fi.Overall.Tone), Severity: fi.Overall.Severity, Stale: true}
	quality, limit, canSend := fi.values()
	out.QualityRating, out.MessagingLimitTier, out.CanSendMessage = nullable(quality), nullable(limit), nullable(canSend)
	if s := fi.Snapshot; s != nil {
		checked := s.CheckedAt.UTC().Format(time.RFC3339)
		out.CheckedAt, out.Stale = &checked, !s.OK
	}
	return out
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
