package graphsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Delivery is one webhook POST the simulator made (or tried to).
type Delivery struct {
	WABAID    string
	Field     string
	URL       string
	Body      []byte // exact bytes sent and signed
	Signature string // X-Hub-Signature-256 header value, "sha256=<hex>"
	Status    int    // receiver's HTTP status; 0 when the request failed
	Err       string // transport error or non-2xx description; "" on success
	At        time.Time
	// Redelivery is true for a delivery made by Redeliver: the same bytes and signature
	// sent again, as Meta does when it retries.
	Redelivery bool
}

// NameUpdate is the value of a phone_number_name_update webhook change, as
// https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/phone_number_name_update
// describes it.
type NameUpdate struct {
	DisplayPhoneNumber    string  `json:"display_phone_number"`
	Decision              string  `json:"decision"`
	RequestedVerifiedName string  `json:"requested_verified_name"`
	RejectionReason       *string `json:"rejection_reason"`
}

type webhookChange struct {
	Field string `json:"field"`
	Value any    `json:"value"`
}

type webhookEntry struct {
	ID      string          `json:"id"`
	Time    int64           `json:"time"`
	Changes []webhookChange `json:"changes"`
}

type webhookBody struct {
	Object string         `json:"object"`
	Entry  []webhookEntry `json:"entry"`
}

type webhookEvent struct {
	wabaID        string
	phoneNumberID string // the number the event is about, "" when none (routing only)
	field         string
	value         any
}

// Sign returns the X-Hub-Signature-256 value for body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Tick completes every display-name review whose delay has elapsed by the clock, and
// sends their webhooks. It runs on every request, from Start's ticker, and when called.
func (s *Server) Tick() {
	now := s.clock.Now()
	var events []webhookEvent
	s.mu.Lock()
	for _, ns := range s.reviews {
		if !now.Before(ns.reviewDue) {
			events = append(events, s.completeReviewLocked(ns, ns.reviewOutcome))
		}
	}
	s.mu.Unlock()
	s.dispatch(events)
}

// ApproveName completes the number's display-name review now with APPROVED (whatever
// its delay), and sends the phone_number_name_update webhook if the WABA is subscribed.
func (s *Server) ApproveName(id string) error { return s.decideName(id, "APPROVED") }

// DeclineName completes the number's display-name review now with DECLINED, and sends
// the webhook (decision REJECTED) if the WABA is subscribed.
func (s *Server) DeclineName(id string) error { return s.decideName(id, "DECLINED") }

func (s *Server) decideName(id, outcome string) error {
	s.mu.Lock()
	ns := s.numbers[id]
	if ns == nil {
		s.mu.Unlock()
		return fmt.Errorf("graphsim: number %s does not exist", id)
	}
	ev := s.completeReviewLocked(ns, outcome)
	s.mu.Unlock()
	s.dispatch([]webhookEvent{ev})
	return nil
}

const declinedInfo = "Your display name was not approved. Edit it in WhatsApp Manager and submit it for review again."

func (s *Server) completeReviewLocked(ns *numState, outcome string) webhookEvent {
	delete(s.reviews, ns.n.PhoneNumberID)
	ns.reviewDue = time.Time{}
	n := &ns.n
	if n.NewNameStatus != "" && n.NewNameStatus != "NONE" {
		n.NewNameStatus = outcome
	} else {
		n.NameStatus = outcome
	}
	phone := cloneEntity(ns.phone)
	decision := "APPROVED"
	var reason *string
	if outcome == "APPROVED" {
		phone.AdditionalInfo = nil
	} else {
		decision = "REJECTED"
		r := "Display name does not follow the WhatsApp display name guidelines."
		reason = &r
		phone.AdditionalInfo = []string{declinedInfo}
		if n.PlatformType != "CLOUD_API" {
			phone.CanSendMessage = CanSendLimited
		}
	}
	ns.phone = phone
	s.logger.Info("graphsim display name reviewed", "phone_number_id", n.PhoneNumberID, "outcome", outcome)
	requested := n.VerifiedName
	if n.RequestedVerifiedName != "" {
		requested = n.RequestedVerifiedName
		ns.nameChangeApproved = outcome == "APPROVED"
	}
	return webhookEvent{
		wabaID:        ns.biz.b.WABAID,
		phoneNumberID: n.PhoneNumberID,
		field:         "phone_number_name_update",
		value: NameUpdate{
			DisplayPhoneNumber:    strings.TrimPrefix(n.PhoneNumber, "+"),
			Decision:              decision,
			RequestedVerifiedName: requested,
			RejectionReason:       reason,
		},
	}
}

// dispatch delivers events asynchronously from tracked goroutines. Events without a
// destination (see destinationLocked) are dropped, as Meta sends nothing then.
func (s *Server) dispatch(events []webhookEvent) {
	for _, ev := range events {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		s.wg.Go(func() {
			ctx, cancel := context.WithTimeout(s.ctx, s.webhookTimeout)
			defer cancel()
			_, err := s.deliver(ctx, ev)
			switch {
			case errors.Is(err, ErrNoDestination):
				s.logger.Debug("graphsim webhook skipped", "waba_id", ev.wabaID, "field", ev.field, "reason", err)
			case err != nil:
				s.logger.Warn("graphsim webhook not delivered", "waba_id", ev.wabaID, "field", ev.field, "error", err)
			}
		})
		s.mu.Unlock()
	}
}

// ErrNoDestination is wrapped by delivery errors when Meta would send the event nowhere:
// the app is not subscribed to the WABA, has no callback, or its callback does not
// subscribe the field.
var ErrNoDestination = errors.New("graphsim: no webhook destination")

// overrideEligibleFields are the fields a WABA or phone-number override redirects; every
// other field always goes to the app's callback. From "Supported webhook fields" on
// https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override
var overrideEligibleFields = []string{
	"messages", "message_echoes", "calls", "consumer_profile", "messaging_handovers",
	"standby", "group_lifecycle_update", "group_participants_update",
	"group_settings_update", "group_status_update", "smb_message_echoes",
	"smb_app_state_sync", "history", "account_settings_update",
}

// destinationLocked is the one place that decides where Meta sends an event. A WABA's
// webhooks go out only when the app is subscribed to the WABA (POST
// /{waba-id}/subscribed_apps,
// https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/manage-webhooks)
// and the app's callback subscribes the field. An override-eligible field goes to the
// phone number's override, else the WABA's, else the app callback; any other field
// always goes to the app callback
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override).
func (s *Server) destinationLocked(ev webhookEvent) (string, error) {
	bs := s.businesses[ev.wabaID]
	switch {
	case bs == nil:
		return "", fmt.Errorf("graphsim: business %s does not exist", ev.wabaID)
	case bs.sub == nil:
		return "", fmt.Errorf("%w: the app is not subscribed to business %s", ErrNoDestination, ev.wabaID)
	case s.app.url == "":
		return "", fmt.Errorf("%w: the app has no callback URL", ErrNoDestination)
	case !slices.Contains(s.app.fields, ev.field):
		return "", fmt.Errorf("%w: the app callback does not subscribe field %s", ErrNoDestination, ev.field)
	}
	if slices.Contains(overrideEligibleFields, ev.field) {
		if ns := s.numbers[ev.phoneNumberID]; ns != nil && ns.biz == bs && ns.overrideURI != "" {
			return ns.overrideURI, nil
		}
		if bs.sub.OverrideCallbackURI != "" {
			return bs.sub.OverrideCallbackURI, nil
		}
	}
	return s.app.url, nil
}

// SendWebhook sends a signed webhook with one change (field, value) for the WABA,
// synchronously, to the destination Meta would choose (see destinationLocked), and
// records the delivery. For override-eligible fields, value.metadata.phone_number_id
// (as in a messages payload) selects the number whose override applies. It fails when
// the WABA is unknown, there is no destination (wrapping ErrNoDestination), the request
// fails, or the receiver answers non-2xx.
func (s *Server) SendWebhook(wabaID, field string, value any) error {
	return s.send(webhookEvent{wabaID: wabaID, phoneNumberID: metadataPhoneNumberID(value), field: field, value: value})
}

// send delivers one event synchronously.
func (s *Server) send(ev webhookEvent) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.webhookTimeout)
	defer cancel()
	_, err := s.deliver(ctx, ev)
	return err
}

func metadataPhoneNumberID(value any) string {
	raw, err := json.Marshal(value)
	if err != nil {
		return ""
	}
	var v struct {
		Metadata struct {
			PhoneNumberID string `json:"phone_number_id"`
		} `json:"metadata"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v.Metadata.PhoneNumberID
}

// deliver signs and posts one event to its destination, in Meta's envelope
// {"object":"whatsapp_business_account","entry":[{"id","time","changes":[{"field","value"}]}]}
// with X-Hub-Signature-256 = HMAC-SHA256(app secret, body)
// (https://developers.facebook.com/docs/graph-api/webhooks/getting-started).
func (s *Server) deliver(ctx context.Context, ev webhookEvent) (Delivery, error) {
	now := s.clock.Now()
	s.mu.Lock()
	callback, err := s.destinationLocked(ev)
	s.mu.Unlock()
	if err != nil {
		return Delivery{}, err
	}
	body, err := json.Marshal(webhookBody{
		Object: "whatsapp_business_account",
		Entry: []webhookEntry{{
			ID:      ev.wabaID,
			Time:    now.Unix(),
			Changes: []webhookChange{{Field: ev.field, Value: ev.value}},
		}},
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("graphsim: encode webhook: %w", err)
	}
	d := Delivery{WABAID: ev.wabaID, Field: ev.field, URL: callback, Body: body, Signature: Sign(s.secret, body), At: now}
	return s.postAndRecord(ctx, d)
}

func (s *Server) postAndRecord(ctx context.Context, d Delivery) (Delivery, error) {
	err := s.post(ctx, &d)
	if err != nil {
		d.Err = err.Error()
	}
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	close(s.delivered)
	s.delivered = make(chan struct{})
	s.mu.Unlock()
	return d, err
}

// Redeliver sends delivery i (an index into Deliveries) again with exactly the same
// URL, bytes and signature, as Meta does when it retries an event that was not
// answered with 200 or delivers it twice, and records the new attempt.
func (s *Server) Redeliver(i int) error {
	s.mu.Lock()
	if i < 0 || i >= len(s.deliveries) {
		n := len(s.deliveries)
		s.mu.Unlock()
		return fmt.Errorf("graphsim: no delivery %d (have %d)", i, n)
	}
	prev := s.deliveries[i]
	s.mu.Unlock()
	d := Delivery{WABAID: prev.WABAID, Field: prev.Field, URL: prev.URL, Body: bytes.Clone(prev.Body),
		Signature: prev.Signature, At: s.clock.Now(), Redelivery: true}
	ctx, cancel := context.WithTimeout(s.ctx, s.webhookTimeout)
	defer cancel()
	_, err := s.postAndRecord(ctx, d)
	return err
}

func (s *Server) post(ctx context.Context, d *Delivery) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return fmt.Errorf("graphsim: webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", d.Signature)
	req.Header.Set("User-Agent", "facebookexternalua")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("graphsim: webhook %s to %s: %w", d.Field, d.URL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	d.Status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("graphsim: webhook %s to %s: receiver answered HTTP %d", d.Field, d.URL, resp.StatusCode)
	}
	return nil
}

// Deliveries returns copies of the recorded webhook deliveries, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.deliveries))
	for i, d := range s.deliveries {
		d.Body = bytes.Clone(d.Body)
		out[i] = d
	}
	return out
}

// WaitDeliveries waits until at least n deliveries are recorded (successful or not) and
// returns them all, or returns ctx's error.
func (s *Server) WaitDeliveries(ctx context.Context, n int) ([]Delivery, error) {
	for {
		s.mu.Lock()
		count, ch := len(s.deliveries), s.delivered
		s.mu.Unlock()
		if count >= n {
			return s.Deliveries(), nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("graphsim: waiting for %d webhook deliveries, have %d: %w", n, count, ctx.Err())
		}
	}
}
