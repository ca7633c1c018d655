package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Meta's webhooks.
//
// Meta sends a business account's account-level fields (phone_number_name_update,
// phone_number_quality_update, account_update, account_review_update, account_alerts,
// business_capability_update) only to the Meta app's callback URL, set in the App
// Dashboard; a per-WABA or per-number override_callback_uri redirects message fields
// only (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override/).
// So the endpoint that matters is app-level, /webhooks/whatsapp, and a change is routed
// by its entry id (the WABA) and the phone number or phone-number id its value names.
// /webhooks/whatsapp/{phone_number} stays for callbacks set up before, and routes the
// same way.

const (
	// maxWebhookBody bounds a webhook body; Meta batches changes, but real bodies are a
	// few KiB.
	maxWebhookBody = 256 << 10
	// webhookApplyWait bounds how long a webhook waits for a first health fetch of a
	// never-checked inbox; Meta wants an answer within seconds, and the fetch carries
	// on in the background.
	webhookApplyWait = 3 * time.Second
)

var errWebhookVerification = &APIError{Status: http.StatusForbidden, Type: "forbidden",
	Message: "Webhook verification failed: wrong verify token."}

// verifyAppWebhook answers the handshake Meta makes when an operator saves the app's
// callback URL in the App Dashboard: the challenge, as text/plain, when
// hub.verify_token is WHATSAPP_VERIFY_TOKEN.
func (h *Handler) verifyAppWebhook(c echo.Context) error {
	if h.cfg.WhatsAppVerifyToken == "" {
		h.log.Error("webhook verification refused: WHATSAPP_VERIFY_TOKEN is not set, so the App Dashboard's handshake cannot succeed")
		return &APIError{Status: http.StatusForbidden, Type: "forbidden",
			Message: "WHATSAPP_VERIFY_TOKEN is not set on this server, so the webhook cannot be verified."}
	}
	return answerChallenge(c, h.cfg.WhatsAppVerifyToken)
}

// verifyNumberWebhook answers the handshake for a per-number callback set up before
// the app-level one: the inbox's own verify token, or WHATSAPP_VERIFY_TOKEN. Unknown
// numbers get the same 403 as a wrong token, so the endpoint does not reveal which exist.
func (h *Handler) verifyNumberWebhook(c echo.Context) error {
	in, err := h.webhookPathInbox(c)
	if errors.Is(err, db.ErrNotFound) {
		return errWebhookVerification
	}
	if err != nil {
		return err
	}
	if h.cfg.WhatsAppVerifyToken != "" && tokenMatches(c.QueryParam("hub.verify_token"), h.cfg.WhatsAppVerifyToken) {
		return answerChallenge(c, h.cfg.WhatsAppVerifyToken)
	}
	return answerChallenge(c, in.WebhookVerifyToken)
}

func answerChallenge(c echo.Context, want string) error {
	if c.QueryParam("hub.mode") != "subscribe" || !tokenMatches(c.QueryParam("hub.verify_token"), want) {
		return errWebhookVerification
	}
	return c.String(http.StatusOK, c.QueryParam("hub.challenge"))
}

func tokenMatches(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// webhookPathInbox finds the inbox of the path's phone number ("+14155550142",
// "%2B14155550142" or "14155550142"); db.ErrNotFound when there is none or the path is
// not a number. Echo hands the parameter over still percent-encoded.
func (h *Handler) webhookPathInbox(c echo.Context) (db.Inbox, error) {
	raw := c.Param("phone_number")
	if unescaped, err := url.PathUnescape(raw); err == nil {
		raw = unescaped
	}
	phone := whatsapp.NormalizePhoneNumber(raw)
	if phone == "" {
		return db.Inbox{}, db.ErrNotFound
	}
	return h.store.InboxByPhoneNumber(c.Request().Context(), phone)
}

// webhookResult is the answer to a webhook POST: how many changes came, how many
// updated some inbox's health, and how many were repeats of events already received.
type webhookResult struct {
	Received   int `json:"received"`
	Applied    int `json:"applied"`
	Duplicates int `json:"duplicates"`
}

// receiveWebhook takes Meta's change notifications, at the app-level callback or a
// per-number one. The signature is checked on the raw body before anything is parsed
// or stored. Every change is stored; a repeat of one already received (Meta retries)
// is stored as a duplicate and not acted on again; the others update the health of
// every inbox they concern at once.
//
// Events about nothing we know are stored (without an inbox) and answered 200: Meta
// retries any other answer for days, and the payload was signed by Meta, so keeping it
// helps someone debugging a misrouted callback.
func (h *Handler) receiveWebhook(c echo.Context) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, maxWebhookBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &APIError{Status: http.StatusRequestEntityTooLarge, Type: "too_large", Message: "The webhook body is larger than 256 KiB."}
	}
	if err != nil {
		return &APIError{Status: http.StatusBadRequest, Type: "bad_request", Message: "The webhook body could not be read."}
	}
	if h.cfg.WhatsAppAppSecret == "" {
		h.log.Error("webhook refused: WHATSAPP_APP_SECRET is not set, so no signature can be checked")
		return &APIError{Status: http.StatusUnauthorized, Type: "unauthorized",
			Message: "WHATSAPP_APP_SECRET is not set on this server, so webhook signatures cannot be checked."}
	}
	if !whatsapp.VerifySignature(h.cfg.WhatsAppAppSecret, body, c.Request().Header.Get("X-Hub-Signature-256")) {
		return &APIError{Status: http.StatusUnauthorized, Type: "unauthorized", Message: "Missing or invalid X-Hub-Signature-256."}
	}
	payload, err := whatsapp.ParseWebhook(body)
	if err != nil {
		return &APIError{Status: http.StatusBadRequest, Type: "bad_request", Message: err.Error()}
	}
	var pathInbox *db.Inbox
	if c.Param("phone_number") != "" {
		in, err := h.webhookPathInbox(c)
		switch {
		case err == nil:
			pathInbox = &in
		case !errors.Is(err, db.ErrNotFound):
			return err
		}
	}
	ctx := c.Request().Context()
	var res webhookResult
	unrouted := 0
	for _, entry := range payload.Entry {
		if entry.ID == "" && pathInbox != nil {
			entry.ID = pathInbox.WABAID // Meta always names the WABA; older test tools did not
		}
		ofBusiness, err := h.store.InboxesOfBusinessAccount(ctx, entry.ID)
		if err != nil {
			return err
		}
		for _, change := range entry.Changes {
			targets := webhookTargets(ofBusiness, pathInbox, entry, change)
			ev, err := h.storeWebhookEvent(ctx, pathPhone(pathInbox, c), targets, entry, change)
			if err != nil {
				return err
			}
			res.Received++
			switch {
			case ev.Duplicate:
				res.Duplicates++
				h.countWebhookChange(change.Field, "duplicate")
				continue
			case len(targets) == 0:
				unrouted++
				h.countWebhookChange(change.Field, "unrouted")
			}
			applied := false
			for _, in := range targets {
				if isHealthField(change.Field) && h.applyWebhookChange(c, in, change) {
					res.Applied++
					applied = true
				}
			}
			if len(targets) > 0 {
				outcome := "unchanged"
				if applied {
					outcome = "applied"
				}
				h.countWebhookChange(change.Field, outcome)
			}
		}
	}
	if unrouted > 0 {
		h.log.Warn("webhook changes about no connected number stored without an inbox", "changes", unrouted)
	}
	return c.JSON(http.StatusOK, res)
}

// webhookTargets picks the inboxes a change is about, among the inboxes connected to
// the entry's business account (in any account): those whose phone-number id or phone
// number the value names; for business-account-level fields that name no number, all
// of them. A legacy per-number callback whose inbox belongs to the entry's business
// account also takes number-level changes that name no number.
func webhookTargets(ofBusiness []db.Inbox, pathInbox *db.Inbox, entry whatsapp.WebhookEntry, change whatsapp.WebhookChange) []db.Inbox {
	if id := change.PhoneNumberID(); id != "" {
		return filterInboxes(ofBusiness, func(in db.Inbox) bool { return in.PhoneNumberID == id })
	}
	if digits := change.DisplayPhoneNumber(); digits != "" {
		return filterInboxes(ofBusiness, func(in db.Inbox) bool { return in.PhoneNumber == "+"+digits })
	}
	if whatsapp.IsWABALevelField(change.Field) {
		return ofBusiness
	}
	if pathInbox != nil && pathInbox.WABAID == entry.ID {
		return []db.Inbox{*pathInbox}
	}
	return nil
}

func filterInboxes(ins []db.Inbox, keep func(db.Inbox) bool) []db.Inbox {
	var out []db.Inbox
	for _, in := range ins {
		if keep(in) {
			out = append(out, in)
		}
	}
	return out
}

// pathPhone is the phone number a per-number callback was called with, for the stored
// event ("" at the app-level callback).
func pathPhone(pathInbox *db.Inbox, c echo.Context) string {
	if pathInbox != nil {
		return pathInbox.PhoneNumber
	}
	raw, _ := url.PathUnescape(c.Param("phone_number"))
	return whatsapp.NormalizePhoneNumber(raw)
}

// storeWebhookEvent stores one change, linked to its inbox when exactly one is
// concerned, and says whether Meta delivered it before.
func (h *Handler) storeWebhookEvent(ctx context.Context, phone string, targets []db.Inbox, entry whatsapp.WebhookEntry, change whatsapp.WebhookChange) (db.WebhookEvent, error) {
	payload, err := json.Marshal(change)
	if err != nil {
		return db.WebhookEvent{}, fmt.Errorf("store webhook event: %w", err)
	}
	ev := db.WebhookEvent{PhoneNumber: phone, WABAID: entry.ID, Field: change.Field, Payload: string(payload),
		DedupKey: whatsapp.WebhookChangeKey(entry.ID, entry.Time, change)}
	if len(targets) == 1 {
		ev.InboxID = &targets[0].ID
		if ev.PhoneNumber == "" {
			ev.PhoneNumber = targets[0].PhoneNumber
		}
	}
	return h.store.AddWebhookEvent(ctx, ev)
}

// applyWebhookChange updates the inbox's health from one change. A failure is logged,
// not answered: the event is stored, and answering non-200 would make Meta send it
// again and again; the next sweep corrects the health anyway.
func (h *Handler) applyWebhookChange(c echo.Context, in db.Inbox, change whatsapp.WebhookChange) bool {
	ctx, cancel := context.WithTimeout(c.Request().Context(), webhookApplyWait)
	defer cancel()
	_, recorded, err := h.health.ApplyWebhook(ctx, in, change)
	if err != nil {
		h.log.Warn("apply webhook to health", "inbox_id", in.ID, "field", change.Field, "error", err)
		return false
	}
	return recorded
}

func isHealthField(field string) bool {
	switch field {
	case whatsapp.WebhookFieldNameUpdate, whatsapp.WebhookFieldQualityUpdate,
		whatsapp.WebhookFieldAccountUpdate, whatsapp.WebhookFieldAccountReviewUpdate:
		return true
	}
	return false
}
