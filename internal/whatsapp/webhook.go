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
)

// Webhook change fields that carry health news. Meta sends many other fields
// (messages, templates, ...); those are parsed but left alone.
const (
	WebhookFieldNameUpdate          = "phone_number_name_update"
	WebhookFieldQualityUpdate       = "phone_number_quality_update"
	WebhookFieldAccountUpdate       = "account_update"
	WebhookFieldAccountReviewUpdate = "account_review_update"
)

// WebhookObject is the only object this receiver accepts.
const WebhookObject = "whatsapp_business_account"

// Decisions in phone_number_name_update and account_review_update.
const (
	NameDecisionApproved = "APPROVED"
	NameDecisionPending  = "PENDING"
	NameDecisionRejected = "REJECTED"
	NameDecisionDeferred = "DEFERRED"
)

// Events in phone_number_quality_update.
const (
	QualityEventFlagged    = "FLAGGED"
	QualityEventUnflagged  = "UNFLAGGED"
	QualityEventDowngrade  = "DOWNGRADE"
	QualityEventUpgrade    = "UPGRADE"
	QualityEventOnboarding = "ONBOARDING"
)

// Events and ban states in account_update that change a number's health.
const (
	AccountEventRestriction = "ACCOUNT_RESTRICTION"
	AccountEventDisabled    = "DISABLED_UPDATE"
	AccountEventViolation   = "ACCOUNT_VIOLATION"

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
	Event                            string `json:"event"` // FLAGGED, UNFLAGGED, DOWNGRADE, UPGRADE, ONBOARDING
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
// A change that names a phone number other than p's is ignored: Meta sends a business
// account's changes to every callback of that account. Per field:
//
//   - phone_number_name_update: APPROVED → the name is approved (a pending name change
//     is completed: the requested name becomes the verified name, new_name_status is
//     cleared); REJECTED → DECLINED; PENDING, DEFERRED → PENDING_REVIEW. During a
//     name change (new_name_status set) the new name's status is updated instead of
//     the current one, which stays valid.
//   - phone_number_quality_update: the messaging limit becomes current_limit (both
//     limit fields, so LimitTier agrees whichever one the UI reads); FLAGGED → status
//     FLAGGED; UNFLAGGED → CONNECTED, but only from FLAGGED, because another status
//     (banned, restricted) has another cause that the flag being lifted does not fix.
//   - account_update: ACCOUNT_RESTRICTION → status RESTRICTED; DISABLED_UPDATE or
//     ACCOUNT_VIOLATION with ban_info DISABLE (or no state) → BANNED; with REINSTATE
//     → CONNECTED if it was BANNED. SCHEDULE_FOR_DISABLE and other events change
//     nothing yet: the number still works until Meta acts.
//   - account_review_update: no phone-number field reflects the business account's
//     review, so nothing changes; the next refresh shows any effect (can_send_message).
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
	default:
		return before, false
	}
	if samePhoneHealth(before, p) {
		return before, false
	}
	return p, true
}

// webhookConcerns is false only when both sides name a number and they differ; a
// change without a number (account-level) concerns every number of the account.
func webhookConcerns(p PhoneNumber, c WebhookChange) bool {
	theirs := c.DisplayPhoneNumber()
	ours := strings.TrimPrefix(NormalizePhoneNumber(p.DisplayPhoneNumber), "+")
	return theirs == "" || ours == "" || theirs == ours
}

func applyNameDecision(p *PhoneNumber, u NameUpdate) {
	nameChangeInProgress := p.NewNameStatus != "" && p.NewNameStatus != NameNone
	setStatus := func(status string) {
		if nameChangeInProgress {
			p.NewNameStatus = status
		} else {
			p.NameStatus = status
		}
	}
	switch u.Decision {
	case NameDecisionApproved:
		p.NameStatus = NameApproved
		p.NewNameStatus = ""
		if u.RequestedVerifiedName != "" {
			p.VerifiedName = u.RequestedVerifiedName
		}
	case NameDecisionRejected:
		setStatus(NameDeclined)
	case NameDecisionPending, NameDecisionDeferred:
		setStatus(NamePendingReview)
	}
}

func applyQualityUpdate(p *PhoneNumber, u QualityUpdate) {
	limit := u.CurrentLimit
	if limit == "" && strings.HasPrefix(u.MaxDailyConversationsPerBusiness, "TIER_") {
		// Older payloads carried the tier only here.
		limit = u.MaxDailyConversationsPerBusiness
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
	switch u.Event {
	case AccountEventRestriction:
		p.Status = "RESTRICTED"
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
