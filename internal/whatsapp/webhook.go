package whatsapp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Webhook change fields that carry health news. Meta sends many other fields
// (messages, templates, ...); those are parsed but left alone. References, one page
// each under https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/
// (phone_number_name_update, phone_number_quality_update, account_update,
// account_review_update, account_alerts, business_capability_update).
const (
	WebhookFieldNameUpdate               = "phone_number_name_update"
	WebhookFieldQualityUpdate            = "phone_number_quality_update"
	WebhookFieldAccountUpdate            = "account_update"
	WebhookFieldAccountReviewUpdate      = "account_review_update"
	WebhookFieldAccountAlerts            = "account_alerts"
	WebhookFieldBusinessCapabilityUpdate = "business_capability_update"
)

// AppWebhookFields are the fields an operator must subscribe in the App Dashboard
// (WhatsApp → Configuration) for the product to see health news. None of them follows
// an override_callback_uri: Meta always sends them to the app's own callback (see the
// "Webhook overrides" page,
// https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override/).
var AppWebhookFields = []string{
	WebhookFieldNameUpdate,
	WebhookFieldQualityUpdate,
	WebhookFieldAccountUpdate,
	WebhookFieldAccountReviewUpdate,
	WebhookFieldAccountAlerts,
	WebhookFieldBusinessCapabilityUpdate,
}

// IsWABALevelField reports whether a field is about the WhatsApp Business Account (or
// its business portfolio) rather than one number: such a change applies to every
// number of the account unless its value names a phone number.
func IsWABALevelField(field string) bool {
	switch field {
	case WebhookFieldAccountUpdate, WebhookFieldAccountReviewUpdate,
		WebhookFieldAccountAlerts, WebhookFieldBusinessCapabilityUpdate:
		return true
	}
	return false
}

// WebhookObject is the only object this receiver accepts.
const WebhookObject = "whatsapp_business_account"

// Decisions in phone_number_name_update and account_review_update.
const (
	NameDecisionApproved = "APPROVED"
	NameDecisionPending  = "PENDING"
	NameDecisionRejected = "REJECTED"
	NameDecisionDeferred = "DEFERRED"
)

// Events in phone_number_quality_update. THROUGHPUT_UPGRADE raises the number's
// throughput (to HIGH, 1,000 messages per second; see
// https://developers.facebook.com/documentation/business-messaging/whatsapp/throughput);
// the others move the messaging limit or the quality flag.
const (
	QualityEventFlagged           = "FLAGGED"
	QualityEventUnflagged         = "UNFLAGGED"
	QualityEventDowngrade         = "DOWNGRADE"
	QualityEventUpgrade           = "UPGRADE"
	QualityEventOnboarding        = "ONBOARDING"
	QualityEventThroughputUpgrade = "THROUGHPUT_UPGRADE"
)

// Events in account_update. Meta's payloads name restrictions and violations
// ACCOUNT_RESTRICTION and ACCOUNT_VIOLATION; the bare RESTRICTION and VIOLATION some
// documents use are read as the same events (see canonicalAccountEvent).
const (
	AccountEventRestriction        = "ACCOUNT_RESTRICTION"
	AccountEventDisabled           = "DISABLED_UPDATE"
	AccountEventViolation          = "ACCOUNT_VIOLATION"
	AccountEventDeleted            = "ACCOUNT_DELETED"
	AccountEventPartnerAdded       = "PARTNER_ADDED"
	AccountEventPartnerRemoved     = "PARTNER_REMOVED"
	AccountEventOffboarded         = "ACCOUNT_OFFBOARDED"
	AccountEventReconnected        = "ACCOUNT_RECONNECTED"
	AccountEventAuthIntlRateUpdate = "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE"
	AccountEventPrimaryLocation    = "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE"

	BanStateDisable            = "DISABLE"
	BanStateScheduleForDisable = "SCHEDULE_FOR_DISABLE"
	BanStateReinstate          = "REINSTATE"
)

// ErrInvalidWebhook wraps every reason ParseWebhook rejects a body.
var ErrInvalidWebhook = errors.New("whatsapp: invalid webhook payload")

// VerifySignature checks Meta's X-Hub-Signature-256 header ("sha256=<hex>") against
// the HMAC-SHA256 of the raw request body under the app secret. It is false for an
// empty secret, so a deployment that forgot to configure one rejects everything rather
// than accepting forgeries.
func VerifySignature(appSecret string, body []byte, header string) bool {
	if appSecret == "" {
		return false
	}
	hexSum, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	// hmac.Equal takes the same time wherever the first difference is, so an attacker
	// cannot find a valid signature byte by byte.
	return hmac.Equal(got, mac.Sum(nil))
}

// WebhookPayload is the body of a webhook POST.
type WebhookPayload struct {
	Object string         `json:"object"`
	Entry  []WebhookEntry `json:"entry"`
}

// WebhookEntry is one WhatsApp Business Account's batch of changes.
type WebhookEntry struct {
	ID      string          `json:"id"`   // WhatsApp Business Account id
	Time    int64           `json:"time"` // unix seconds; 0 when absent or unreadable
	Changes []WebhookChange `json:"changes"`
}

// UnmarshalJSON accepts the id and time as JSON numbers or strings.
func (e *WebhookEntry) UnmarshalJSON(data []byte) error {
	var wire struct {
		ID      webhookString   `json:"id"`
		Time    webhookInt64    `json:"time"`
		Changes []WebhookChange `json:"changes"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	*e = WebhookEntry{ID: string(wire.ID), Time: int64(wire.Time), Changes: wire.Changes}
	return nil
}

// WebhookChange is one change notification. Value is kept raw so fields this version
// does not know still parse; the typed helpers (NameUpdate, QualityUpdate, ...)
// decode it on demand.
type WebhookChange struct {
	Field string          `json:"field"`
	Value json.RawMessage `json:"value"`
}

// ParseWebhook decodes a webhook body. It rejects what is not JSON, not a
// whatsapp_business_account notification, or lacks the entry array. Decoding into
// typed structs bounds the work: encoding/json refuses nesting deeper than its limit
// with an error rather than a crash, and the caller limits the body size.
func ParseWebhook(body []byte) (*WebhookPayload, error) {
	var raw struct {
		Object string          `json:"object"`
		Entry  json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidWebhook, err)
	}
	if raw.Object != WebhookObject {
		return nil, fmt.Errorf("%w: object is %q, want %q", ErrInvalidWebhook, raw.Object, WebhookObject)
	}
	if trimmed := bytes.TrimSpace(raw.Entry); len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, fmt.Errorf("%w: entry must be an array", ErrInvalidWebhook)
	}
	p := &WebhookPayload{Object: raw.Object}
	if err := json.Unmarshal(raw.Entry, &p.Entry); err != nil {
		return nil, fmt.Errorf("%w: entry: %v", ErrInvalidWebhook, err)
	}
	return p, nil
}

// NameUpdate is the value of a phone_number_name_update change: Meta's decision on a
// requested display name.
type NameUpdate struct {
	DisplayPhoneNumber    string `json:"display_phone_number"`
	Decision              string `json:"decision"` // APPROVED, PENDING, REJECTED, DEFERRED
	RequestedVerifiedName string `json:"requested_verified_name"`
	RejectionReason       string `json:"rejection_reason"`
}

// UnmarshalJSON tolerates numbers where Meta usually sends strings, and nulls.
func (u *NameUpdate) UnmarshalJSON(data []byte) error {
	var wire struct {
		DisplayPhoneNumber    webhookString `json:"display_phone_number"`
		Decision              webhookString `json:"decision"`
		RequestedVerifiedName webhookString `json:"requested_verified_name"`
		RejectionReason       webhookString `json:"rejection_reason"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	*u = NameUpdate{
		DisplayPhoneNumber:    string(wire.DisplayPhoneNumber),
		Decision:              string(wire.Decision),
		RequestedVerifiedName: string(wire.RequestedVerifiedName),
		RejectionReason:       string(wire.RejectionReason),
	}
	return nil
}

// QualityUpdate is the value of a phone_number_quality_update change: the number's
// messaging limit moved, or its quality flag changed.
type QualityUpdate struct {
	DisplayPhoneNumber               string `json:"display_phone_number"`
	Event                            string `json:"event"` // FLAGGED, UNFLAGGED, DOWNGRADE, UPGRADE, ONBOARDING, THROUGHPUT_UPGRADE
	OldLimit                         string `json:"old_limit"`
	CurrentLimit                     string `json:"current_limit"`
	MaxDailyConversationsPerBusiness string `json:"max_daily_conversations_per_business"`
}

// UnmarshalJSON tolerates numbers where Meta usually sends strings (the daily maximum
// has been both), and nulls.
func (u *QualityUpdate) UnmarshalJSON(data []byte) error {
	var wire struct {
		DisplayPhoneNumber               webhookString `json:"display_phone_number"`
		Event                            webhookString `json:"event"`
		OldLimit                         webhookString `json:"old_limit"`
		CurrentLimit                     webhookString `json:"current_limit"`
		MaxDailyConversationsPerBusiness webhookString `json:"max_daily_conversations_per_business"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	*u = QualityUpdate{
		DisplayPhoneNumber:               string(wire.DisplayPhoneNumber),
		Event:                            string(wire.Event),
		OldLimit:                         string(wire.OldLimit),
		CurrentLimit:                     string(wire.CurrentLimit),
		MaxDailyConversationsPerBusiness: string(wire.MaxDailyConversationsPerBusiness),
	}
	return nil
}

// AccountUpdate is the value of an account_update change: something happened to the
// WhatsApp Business Account (restriction, ban, violation, ...). PhoneNumber is set
// only when the event concerns one number.
type AccountUpdate struct {
	PhoneNumber     string            `json:"phone_number,omitempty"`
	Event           string            `json:"event"`
	RestrictionInfo []RestrictionInfo `json:"restriction_info,omitempty"`
	BanInfo         *BanInfo          `json:"ban_info,omitempty"`
	ViolationInfo   *ViolationInfo    `json:"violation_info,omitempty"`
}

// UnmarshalJSON tolerates a phone number sent as a JSON number, and nulls.
func (u *AccountUpdate) UnmarshalJSON(data []byte) error {
	var wire struct {
		PhoneNumber     webhookString     `json:"phone_number"`
		Event           webhookString     `json:"event"`
		RestrictionInfo []RestrictionInfo `json:"restriction_info"`
		BanInfo         *BanInfo          `json:"ban_info"`
		ViolationInfo   *ViolationInfo    `json:"violation_info"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	*u = AccountUpdate{
		PhoneNumber:     string(wire.PhoneNumber),
		Event:           string(wire.Event),
		RestrictionInfo: wire.RestrictionInfo,
		BanInfo:         wire.BanInfo,
		ViolationInfo:   wire.ViolationInfo,
	}
	return nil
}

// RestrictionInfo is one restriction Meta placed on the account, until Expiration.
type RestrictionInfo struct {
	RestrictionType string `json:"restriction_type"` // e.g. RESTRICTED_BIZ_INITIATED_MESSAGING
	Expiration      int64  `json:"expiration"`       // unix seconds; 0 when absent or unreadable
}

// UnmarshalJSON accepts the expiration as unix seconds (number or string) or as a
// timestamp such as "2026-04-19T13:59:20+0000"; Meta and its partners send all three.
func (r *RestrictionInfo) UnmarshalJSON(data []byte) error {
	var wire struct {
		RestrictionType webhookString `json:"restriction_type"`
		Expiration      webhookInt64  `json:"expiration"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	*r = RestrictionInfo{RestrictionType: string(wire.RestrictionType), Expiration: int64(wire.Expiration)}
	return nil
}

// BanInfo says whether the account is banned, scheduled to be, or reinstated.
type BanInfo struct {
	WABABanState string `json:"waba_ban_state"` // DISABLE, SCHEDULE_FOR_DISABLE, REINSTATE
	WABABanDate  string `json:"waba_ban_date"`  // as Meta wrote it, e.g. "October 9, 2023"
}

// UnmarshalJSON tolerates a date sent as a JSON number, and nulls.
func (b *BanInfo) UnmarshalJSON(data []byte) error {
	var wire struct {
		WABABanState webhookString `json:"waba_ban_state"`
		WABABanDate  webhookString `json:"waba_ban_date"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	*b = BanInfo{WABABanState: string(wire.WABABanState), WABABanDate: string(wire.WABABanDate)}
	return nil
}

// ViolationInfo names the policy the account violated.
type ViolationInfo struct {
	ViolationType string `json:"violation_type"`
}

// AccountReviewUpdate is the value of an account_review_update change: Meta's review
// of the WhatsApp Business Account itself.
type AccountReviewUpdate struct {
	Decision string `json:"decision"` // APPROVED, REJECTED, PENDING, DEFERRED
}

// AccountAlert is the value of an account_alerts change: Meta's notice about a messaging
// limit increase (denied, deferred, more information needed), an Official Business
// Account decision, or a lost profile photo. Shape per Meta's account_alerts reference:
// entity_type, entity_id and alert_info{alert_severity, alert_status, alert_type,
// alert_description}.
type AccountAlert struct {
	EntityType       string // BUSINESS, PHONE_NUMBER, ...
	EntityID         string
	AlertSeverity    string // CRITICAL, WARNING, INFORMATIONAL
	AlertStatus      string // ACTIVE, NONE
	AlertType        string // e.g. INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED, OBA_APPROVED
	AlertDescription string // Meta's own words
}

// Describe is the alert in plain words for a customer, with Meta's description.
func (a AccountAlert) Describe() string {
	subject := "Meta sent an alert about your WhatsApp account"
	switch a.EntityType {
	case "PHONE_NUMBER":
		subject = "Meta sent an alert about a phone number"
	case "BUSINESS":
		subject = "Meta sent an alert about your business portfolio"
	}
	switch a.AlertSeverity {
	case "CRITICAL":
		subject = "Critical: " + subject
	case "WARNING":
		subject = "Warning: " + subject
	}
	if a.AlertStatus == "NONE" {
		subject += " (no longer active)"
	}
	if d := strings.TrimSpace(a.AlertDescription); d != "" {
		return withReason(subject, d)
	}
	if a.AlertType != "" {
		return withReason(subject, a.AlertType)
	}
	return subject + "."
}

// UnlimitedCapability is Meta's -1 in business_capability_update: no limit.
const UnlimitedCapability = -1

// BusinessCapabilityUpdate is the value of a business_capability_update change: the
// business portfolio's limits changed. Per Meta's reference the values are integers;
// UnlimitedCapability (-1) means unlimited, and 0 means Meta did not send the field.
// MaxDailyConversationPerPhone is the older, per-number form Meta is retiring in
// favour of MaxDailyConversationsPerBusiness.
type BusinessCapabilityUpdate struct {
	MaxDailyConversationPerPhone     int64
	MaxDailyConversationsPerBusiness int64
	MaxPhoneNumbersPerBusiness       int64
	MaxPhoneNumbersPerWABA           int64
}

// DailyLimit is the portfolio's messaging limit: max_daily_conversations_per_business,
// or for older payloads max_daily_conversation_per_phone; 0 when neither was sent.
func (u BusinessCapabilityUpdate) DailyLimit() int64 {
	if u.MaxDailyConversationsPerBusiness != 0 {
		return u.MaxDailyConversationsPerBusiness
	}
	return u.MaxDailyConversationPerPhone
}

// Describe is the change in plain words for a customer.
func (u BusinessCapabilityUpdate) Describe() string {
	var parts []string
	if limit := u.DailyLimit(); limit != 0 {
		parts = append(parts, "your business can now message "+capabilityText(limit, "new customers a day"))
	}
	if u.MaxPhoneNumbersPerBusiness != 0 {
		parts = append(parts, "your business portfolio may have "+capabilityText(u.MaxPhoneNumbersPerBusiness, "phone numbers"))
	}
	if u.MaxPhoneNumbersPerWABA != 0 {
		parts = append(parts, "each WhatsApp Business Account may have "+capabilityText(u.MaxPhoneNumbersPerWABA, "phone numbers"))
	}
	if len(parts) == 0 {
		return "Meta changed your business's WhatsApp limits."
	}
	return "Meta changed your business's WhatsApp limits: " + strings.Join(parts, "; ") + "."
}

func capabilityText(n int64, what string) string {
	if n == UnlimitedCapability {
		return "unlimited " + what
	}
	return "up to " + formatThousands(n) + " " + what
}

// formatThousands writes 100000 as "100,000".
func formatThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// AccountAlert decodes the value of an account_alerts change.
func (c WebhookChange) AccountAlert() (AccountAlert, error) {
	var wire struct {
		EntityType webhookString `json:"entity_type"`
		EntityID   webhookString `json:"entity_id"`
		AlertInfo  struct {
			AlertSeverity    webhookString `json:"alert_severity"`
			AlertStatus      webhookString `json:"alert_status"`
			AlertType        webhookString `json:"alert_type"`
			AlertDescription webhookString `json:"alert_description"`
		} `json:"alert_info"`
	}
	err := c.decodeValue(WebhookFieldAccountAlerts, &wire)
	return AccountAlert{
		EntityType:       string(wire.EntityType),
		EntityID:         string(wire.EntityID),
		AlertSeverity:    string(wire.AlertInfo.AlertSeverity),
		AlertStatus:      string(wire.AlertInfo.AlertStatus),
		AlertType:        string(wire.AlertInfo.AlertType),
		AlertDescription: string(wire.AlertInfo.AlertDescription),
	}, err
}

// BusinessCapabilityUpdate decodes the value of a business_capability_update change.
func (c WebhookChange) BusinessCapabilityUpdate() (BusinessCapabilityUpdate, error) {
	var wire struct {
		PerPhone    webhookInt64 `json:"max_daily_conversation_per_phone"`
		PerBusiness webhookInt64 `json:"max_daily_conversations_per_business"`
		PhonesBiz   webhookInt64 `json:"max_phone_numbers_per_business"`
		PhonesWABA  webhookInt64 `json:"max_phone_numbers_per_waba"`
	}
	err := c.decodeValue(WebhookFieldBusinessCapabilityUpdate, &wire)
	return BusinessCapabilityUpdate{
		MaxDailyConversationPerPhone:     int64(wire.PerPhone),
		MaxDailyConversationsPerBusiness: int64(wire.PerBusiness),
		MaxPhoneNumbersPerBusiness:       int64(wire.PhonesBiz),
		MaxPhoneNumbersPerWABA:           int64(wire.PhonesWABA),
	}, err
}

// NameUpdate decodes the value of a phone_number_name_update change.
func (c WebhookChange) NameUpdate() (NameUpdate, error) {
	var u NameUpdate
	err := c.decodeValue(WebhookFieldNameUpdate, &u)
	return u, err
}

// QualityUpdate decodes the value of a phone_number_quality_update change.
func (c WebhookChange) QualityUpdate() (QualityUpdate, error) {
	var u QualityUpdate
	err := c.decodeValue(WebhookFieldQualityUpdate, &u)
	return u, err
}

// AccountUpdate decodes the value of an account_update change.
func (c WebhookChange) AccountUpdate() (AccountUpdate, error) {
	var u AccountUpdate
	err := c.decodeValue(WebhookFieldAccountUpdate, &u)
	return u, err
}

// AccountReviewUpdate decodes the value of an account_review_update change.
func (c WebhookChange) AccountReviewUpdate() (AccountReviewUpdate, error) {
	var wire struct {
		Decision webhookString `json:"decision"`
	}
	err := c.decodeValue(WebhookFieldAccountReviewUpdate, &wire)
	return AccountReviewUpdate{Decision: string(wire.Decision)}, err
}

func (c WebhookChange) decodeValue(field string, into any) error {
	if c.Field != field {
		return fmt.Errorf("whatsapp: webhook change is %q, not %q", c.Field, field)
	}
	if len(bytes.TrimSpace(c.Value)) == 0 {
		return fmt.Errorf("whatsapp: webhook change %q has no value", field)
	}
	if err := json.Unmarshal(c.Value, into); err != nil {
		return fmt.Errorf("whatsapp: webhook change %q: %w", field, err)
	}
	return nil
}

// DisplayPhoneNumber is the phone number the change concerns, digits only as Meta
// sends it in webhooks ("14155550142"), or "" when the value names no number (most
// account-level changes).
func (c WebhookChange) DisplayPhoneNumber() string {
	var wire struct {
		DisplayPhoneNumber webhookString `json:"display_phone_number"`
		PhoneNumber        webhookString `json:"phone_number"`
	}
	if len(c.Value) == 0 || json.Unmarshal(c.Value, &wire) != nil {
		return ""
	}
	phone := string(wire.DisplayPhoneNumber)
	if phone == "" {
		phone = string(wire.PhoneNumber)
	}
	return strings.TrimPrefix(NormalizePhoneNumber(phone), "+")
}

// PhoneNumberID is the phone-number id the change names, when Meta sends one: the
// value's phone_number_id, or metadata.phone_number_id as in message webhooks. It is
// "" otherwise.
func (c WebhookChange) PhoneNumberID() string {
	var wire struct {
		PhoneNumberID webhookString `json:"phone_number_id"`
		Metadata      struct {
			PhoneNumberID webhookString `json:"phone_number_id"`
		} `json:"metadata"`
	}
	if len(c.Value) == 0 || json.Unmarshal(c.Value, &wire) != nil {
		return ""
	}
	if wire.PhoneNumberID != "" {
		return string(wire.PhoneNumberID)
	}
	return string(wire.Metadata.PhoneNumberID)
}

// WebhookChangeKey identifies one change of one delivery, so the same event delivered
// twice (Meta retries every answer that is not 200) is acted on once: the hex SHA-256
// of the entry id, the entry time, the field and the value with its JSON object keys
// sorted. A value re-encoded with its keys in another order or other spacing has the
// same key; a value that is not JSON is hashed as sent.
func WebhookChangeKey(entryID string, entryTime int64, c WebhookChange) string {
	h := sha256.New()
	// Length-prefixed parts, so no choice of id or field can run into the next part.
	for _, part := range []string{entryID, strconv.FormatInt(entryTime, 10), c.Field, string(canonicalJSON(c.Value))} {
		fmt.Fprintf(h, "%d:%s;", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalJSON re-encodes raw with object keys sorted (encoding/json sorts map keys)
// and numbers kept as written; raw that does not decode is returned trimmed.
func canonicalJSON(raw json.RawMessage) []byte {
	trimmed := bytes.TrimSpace(raw)
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || dec.More() {
		return trimmed
	}
	out, err := json.Marshal(v)
	if err != nil {
		return trimmed
	}
	return out
}

// ExplainAccountEvent is an account_update event in plain words for a customer. An
// event this version does not know is shown as Meta sent it.
func ExplainAccountEvent(event string) string {
	switch canonicalAccountEvent(event) {
	case AccountEventRestriction:
		return "Meta restricted the WhatsApp Business Account for a while because of policy violations; some messages cannot be sent until the restriction ends."
	case AccountEventViolation:
		return "Meta found a policy violation on the WhatsApp Business Account; check the notice in WhatsApp Manager."
	case AccountEventDisabled:
		return "Meta changed whether the WhatsApp Business Account is disabled (banned, scheduled to be, or reinstated)."
	case AccountEventDeleted:
		return "The WhatsApp Business Account was deleted, so its numbers can no longer send messages."
	case AccountEventPartnerAdded:
		return "The WhatsApp Business Account was shared with a partner app."
	case AccountEventPartnerRemoved:
		return "The WhatsApp Business Account is no longer shared with a partner app, so that app lost access to it."
	case AccountEventOffboarded:
		return "The WhatsApp Business Account was offboarded from this app, so we can no longer manage it until it is connected again."
	case AccountEventReconnected:
		return "The WhatsApp Business Account was connected to this app again."
	case AccountEventAuthIntlRateUpdate:
		return "The WhatsApp Business Account became eligible for authentication-international rates in some countries."
	case AccountEventPrimaryLocation:
		return "The business's primary location was set for the WhatsApp Business Account."
	case "":
		return "Meta sent an account update without naming the event."
	}
	return "Meta sent the account update " + strconv.Quote(strings.TrimSpace(event)) + "."
}

// canonicalAccountEvent reads the bare RESTRICTION and VIOLATION as Meta's
// ACCOUNT_RESTRICTION and ACCOUNT_VIOLATION, so one rule handles both spellings.
func canonicalAccountEvent(event string) string {
	switch event = strings.ToUpper(strings.TrimSpace(event)); event {
	case "RESTRICTION":
		return AccountEventRestriction
	case "VIOLATION":
		return AccountEventViolation
	}
	return event
}

// ExplainRejectionReason is a declined display name's rejection_reason in plain words.
// Meta writes the reason itself, or sends NONE (or null) when it gives none; so
// anything but NONE is Meta's own words, shown as sent (see the phone_number_name_update
// reference, https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/phone_number_name_update).
func ExplainRejectionReason(reason string) string {
	switch r := strings.TrimSpace(reason); {
	case r == "" || strings.EqualFold(r, "NONE") || strings.EqualFold(r, "null"):
		return "Meta did not give a reason. Check the display name guidelines, edit the name in WhatsApp Manager, or appeal the decision."
	default:
		return withReason("Meta declined the display name", r) + " Edit the name in WhatsApp Manager to follow the display name guidelines, or appeal the decision."
	}
}

// IsApprovedNameUpdate reports whether the change is Meta approving a display name:
// the moment a stuck registration can succeed, so the caller should try at once.
func IsApprovedNameUpdate(c WebhookChange) bool {
	u, err := c.NameUpdate()
	return err == nil && u.Decision == NameDecisionApproved
}

// maxPhoneDigits is the E.164 maximum.
const maxPhoneDigits = 15

// NormalizePhoneNumber turns a phone number as people and Meta write it into E.164
// form: "+" then digits only ("+1 415-555-0142" and "14155550142" both become
// "+14155550142"). It returns "" for anything that is not a phone number (letters,
// a "+" not in front, no digits, more than 15 digits) so callers never match on
// garbage.
func NormalizePhoneNumber(s string) string {
	s = strings.TrimSpace(s)
	digits := make([]byte, 0, len(s))
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits = append(digits, byte(r))
		case r == '+' && i == 0:
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return ""
		}
	}
	if len(digits) == 0 || len(digits) > maxPhoneDigits {
		return ""
	}
	return "+" + string(digits)
}

// ApplyWebhookChange folds one change into the stored health so the page is right
// before the next refresh from the Graph API. It reports whether anything changed.
//
// A change that names a phone number other than p's (by display number or by
// phone_number_id) is ignored: Meta sends a business account's changes to every
// callback of that account, and WABA-level fields (IsWABALevelField) concern every
// number unless they name one. Per field:
//
//   - phone_number_name_update: APPROVED → the name is approved and becomes the
//     verified name; REJECTED → DECLINED; PENDING, DEFERRED → PENDING_REVIEW. During a
//     name change (new_name_status set) the new name's status is updated instead of
//     the current one, which stays valid; an approved change leaves the old verified
//     name in place, as Meta does until the number is registered again.
//   - phone_number_quality_update: THROUGHPUT_UPGRADE → throughput HIGH, the limit
//     untouched (its current_limit names the throughput, not a messaging limit); any
//     other event sets the messaging limit from max_daily_conversations_per_business,
//     or current_limit in older payloads, as a tier (TIER_250, TIER_2K, ...; see
//     LimitTierOf) in both limit fields, so LimitTier agrees whichever one the UI
//     reads; FLAGGED → status FLAGGED; UNFLAGGED → CONNECTED, but only from FLAGGED,
//     because another status (banned, restricted) has another cause that the flag
//     being lifted does not fix.
//   - account_update: ACCOUNT_RESTRICTION → status RESTRICTED; DISABLED_UPDATE or
//     ACCOUNT_VIOLATION with ban_info DISABLE (or no state) → BANNED; with REINSTATE
//     → CONNECTED if it was BANNED; ACCOUNT_DELETED → DELETED. SCHEDULE_FOR_DISABLE,
//     partner and offboarding events change nothing: the number still works until
//     Meta acts, and the next refresh shows what it can do.
//   - business_capability_update: the portfolio's daily limit is every number's
//     limit (Meta sets messaging limits per business portfolio), as a tier.
//   - account_review_update, account_alerts: no phone-number field reflects them, so
//     nothing changes; the next refresh shows any effect (can_send_message).
//   - anything else, or a value that does not decode: unchanged.
func ApplyWebhookChange(p PhoneNumber, c WebhookChange) (PhoneNumber, bool) {
	if !webhookConcerns(p, c) {
		return p, false
	}
	before := p
	switch c.Field {
	case WebhookFieldNameUpdate:
		u, err := c.NameUpdate()
		if err != nil {
			return before, false
		}
		applyNameDecision(&p, u)
	case WebhookFieldQualityUpdate:
		u, err := c.QualityUpdate()
		if err != nil {
			return before, false
		}
		applyQualityUpdate(&p, u)
	case WebhookFieldAccountUpdate:
		u, err := c.AccountUpdate()
		if err != nil {
			return before, false
		}
		applyAccountUpdate(&p, u)
	case WebhookFieldBusinessCapabilityUpdate:
		u, err := c.BusinessCapabilityUpdate()
		if err != nil {
			return before, false
		}
		if tier := LimitTierOf(strconv.FormatInt(u.DailyLimit(), 10)); tier != "" {
			p.BusinessMessagingLimit, p.MessagingLimitTier = tier, tier
		}
	default:
		return before, false
	}
	if samePhoneHealth(before, p) {
		return before, false
	}
	return p, true
}

// LimitTierOf turns a messaging limit as webhooks carry it into the tier vocabulary of
// the phone node's limit fields: a TIER_* value is kept; a number of customers a day
// (250, 1000, 2000, 10000, 100000, or -1 for unlimited, as in
// business_capability_update) becomes its tier. Anything else is "": not a limit this
// version can place.
func LimitTierOf(limit string) string {
	limit = strings.TrimSpace(limit)
	if strings.HasPrefix(limit, "TIER_") || limit == "UNTIERED" {
		return limit
	}
	switch limit {
	case "50":
		return "TIER_50"
	case "250":
		return "TIER_250"
	case "1000":
		return "TIER_1K"
	case "2000":
		return "TIER_2K"
	case "10000":
		return "TIER_10K"
	case "100000":
		return "TIER_100K"
	case "-1":
		return "TIER_UNLIMITED"
	}
	return ""
}

// webhookConcerns is false only when the change names a number (display number or
// phone_number_id) and it is not p; a change without a number (account-level)
// concerns every number of the account.
func webhookConcerns(p PhoneNumber, c WebhookChange) bool {
	if id := c.PhoneNumberID(); id != "" && p.ID != "" && id != p.ID {
		return false
	}
	theirs := c.DisplayPhoneNumber()
	ours := strings.TrimPrefix(NormalizePhoneNumber(p.DisplayPhoneNumber), "+")
	return theirs == "" || ours == "" || theirs == ours
}

func applyNameDecision(p *PhoneNumber, u NameUpdate) {
	nameChangeInProgress := p.NewNameStatus != "" && p.NewNameStatus != NameNone ||
		isUnseenNameChange(*p, u)
	setStatus := func(status string) {
		if nameChangeInProgress {
			p.NewNameStatus = status
		} else {
			p.NameStatus = status
		}
	}
	switch u.Decision {
	case NameDecisionApproved:
		// A registered number's approved new name shows only after a register call made
		// after the approval (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/registration/):
		// until then Meta reports new_name_status APPROVED beside the old verified name.
		setStatus(NameApproved)
		if !nameChangeInProgress && u.RequestedVerifiedName != "" {
			p.VerifiedName = u.RequestedVerifiedName
		}
	case NameDecisionRejected:
		setStatus(NameDeclined)
	case NameDecisionPending, NameDecisionDeferred:
		setStatus(NamePendingReview)
	}
}

// isUnseenNameChange reports a decision about a new name that no health read saw
// requested: the number is registered under an approved name and Meta decides on
// another. That was a name change in review, so the decision lands in new_name_status
// and the old name stays until the register call that makes the new one show. A
// repeat of the approval of the name the number has is not one.
func isUnseenNameChange(p PhoneNumber, u NameUpdate) bool {
	requested := strings.TrimSpace(u.RequestedVerifiedName)
	return isRegisteredOnCloudAPI(p) && p.NameStatus == NameApproved && requested != "" && requested != p.VerifiedName
}

func applyQualityUpdate(p *PhoneNumber, u QualityUpdate) {
	if u.Event == QualityEventThroughputUpgrade {
		p.Throughput.Level = ThroughputHigh
		return
	}
	limit := LimitTierOf(u.MaxDailyConversationsPerBusiness)
	if limit == "" {
		limit = LimitTierOf(u.CurrentLimit) // older payloads
	}
	if limit != "" {
		p.BusinessMessagingLimit = limit
		p.MessagingLimitTier = limit
	}
	switch u.Event {
	case QualityEventFlagged:
		p.Status = "FLAGGED"
	case QualityEventUnflagged:
		if p.Status == "FLAGGED" {
			p.Status = "CONNECTED"
		}
	}
}

func applyAccountUpdate(p *PhoneNumber, u AccountUpdate) {
	switch canonicalAccountEvent(u.Event) {
	case AccountEventRestriction:
		p.Status = "RESTRICTED"
	case AccountEventDeleted:
		p.Status = "DELETED"
	case AccountEventDisabled, AccountEventViolation:
		if u.BanInfo == nil {
			return
		}
		switch u.BanInfo.WABABanState {
		case BanStateDisable, "":
			p.Status = "BANNED"
		case BanStateReinstate:
			if p.Status == "BANNED" {
				p.Status = "CONNECTED"
			}
		}
	}
}

// samePhoneHealth compares the fields ApplyWebhookChange may touch.
func samePhoneHealth(a, b PhoneNumber) bool {
	return a.NameStatus == b.NameStatus &&
		a.NewNameStatus == b.NewNameStatus &&
		a.VerifiedName == b.VerifiedName &&
		a.Status == b.Status &&
		a.Throughput == b.Throughput &&
		a.BusinessMessagingLimit == b.BusinessMessagingLimit &&
		a.MessagingLimitTier == b.MessagingLimitTier
}

// webhookString decodes a JSON string, number or null into a string: Meta's
// webhooks are not consistent about quoting numbers such as phone numbers and ids.
type webhookString string

func (s *webhookString) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0 || string(data) == "null":
		*s = ""
		return nil
	case data[0] == '"':
		// encoding/json has checked the whole document before calling us (no raw
		// control bytes in a string), so a string without escapes is its bytes between
		// the quotes (as valid UTF-8: json would replace invalid bytes). Most of Meta's strings are like that; only the others
		// pay for a second decode.
		if len(data) >= 2 {
			if inner := data[1 : len(data)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
				*s = webhookString(inner)
				return nil
			}
		}
		var str string
		if err := json.Unmarshal(data, &str); err != nil {
			return err
		}
		*s = webhookString(str)
		return nil
	case data[0] == '-' || (data[0] >= '0' && data[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(data, &n); err != nil {
			return err
		}
		*s = webhookString(n.String())
		return nil
	}
	return fmt.Errorf("whatsapp: want a string or number, got %.20s", data)
}

// webhookInt64 decodes unix seconds sent as a JSON number, a numeric string or a
// timestamp string. A string it cannot read becomes 0 (unknown) rather than an error,
// so one odd timestamp never costs the whole notification; a value of the wrong JSON
// type (object, array, boolean) is an error.
type webhookInt64 int64

func (n *webhookInt64) UnmarshalJSON(data []byte) error {
	var s webhookString
	if err := s.UnmarshalJSON(data); err != nil {
		return err
	}
	*n = webhookInt64(parseUnixSeconds(strings.TrimSpace(string(s))))
	return nil
}

func parseUnixSeconds(s string) int64 {
	if s == "" {
		return 0
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		// Whole seconds in int64 range only; this also rules out NaN and infinities.
		if f != math.Trunc(f) || f < -9e18 || f > 9e18 {
			return 0
		}
		return int64(f)
	}
	// The timestamp forms seen in Meta's and its partners' payloads.
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05.000-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix()
		}
	}
	return 0
}

// CanonicalAccountEvent is an account_update event as one rule should read it: upper
// case, with the bare RESTRICTION and VIOLATION read as ACCOUNT_RESTRICTION and
// ACCOUNT_VIOLATION.
func CanonicalAccountEvent(event string) string { return canonicalAccountEvent(event) }
