package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// GraphError is a failed Graph API call: Meta's error envelope when the body had one,
// otherwise just the HTTP status (an HTML page from a proxy, an empty or cut-off body).
// The client never puts an access token in any of its fields.
type GraphError struct {
	HTTPStatus  int
	Code        int64
	Subcode     int64
	Type        string
	Message     string
	UserTitle   string // error_user_title, written by Meta for end users
	UserMessage string // error_user_msg, written by Meta for end users
	IsTransient bool   // Meta's is_transient hint
	Details     string // error_data.details
	FBTraceID   string // quote it to Meta support
	// RetryAfter is the wait Meta asked for in the response headers
	// (X-Business-Use-Case-Usage estimated_time_to_regain_access, or Retry-After).
	RetryAfter time.Duration
	// Kind is what the product should do about the error; see ClassifyError.
	Kind Kind
}

// Error describes the failure with its HTTP status, code, subcode and Meta's message.
func (e *GraphError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph API error (HTTP %d", e.HTTPStatus)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
	}
	if e.Subcode != 0 {
		fmt.Fprintf(&b, ", subcode %d", e.Subcode)
	}
	b.WriteString(")")
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.UserTitle != "" || e.UserMessage != "" {
		fmt.Fprintf(&b, " [%s]", strings.TrimSpace(e.UserTitle+": "+e.UserMessage))
	}
	if e.FBTraceID != "" {
		fmt.Fprintf(&b, " (fbtrace_id %s)", e.FBTraceID)
	}
	return b.String()
}

// MetaText is Meta's own description of the failure, for showing under an
// Explanation: the end-user title and message when Meta wrote them, else its
// developer message, followed by error_data.details when that adds something.
func (e *GraphError) MetaText() string {
	title, msg := strings.TrimSpace(e.UserTitle), strings.TrimSpace(e.UserMessage)
	text := title + msg
	if title != "" && msg != "" {
		text = title + ": " + msg
	}
	if text == "" {
		text = strings.TrimSpace(e.Message)
	}
	if d := strings.TrimSpace(e.Details); d != "" && !strings.Contains(text, d) {
		text = joinSentences(text, d)
	}
	return text
}

// ClassifyError maps an HTTP status, Meta's error code and subcode, and Meta's texts
// (message, error_user_msg, error_data.details) to a Kind, following the error table in
// DESIGN.md and Meta's error-code reference
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/).
// Code 0 is Meta's AuthException; a response that carried no code at all is classified
// by parseGraphError from its HTTP status alone.
//
// A specific code wins over the HTTP status. A code this version does not know is
// KindUnknown, so it is shown as Meta sent it and never retried, unless the status
// says more: a 429 is a rate limit and a 5xx is transient whatever the code.
func ClassifyError(httpStatus int, code, subcode int64, texts ...string) Kind {
	switch code {
	case 100:
		if subcode == 2388001 {
			return KindDisplayNameNotReady
		}
		return classifyStatus(httpStatus) // Meta's generic "invalid parameter"
	case 133005:
		return KindPINMismatch
	case 131031:
		// Meta uses 131031 both for a locked business account and, on register, for a
		// PIN that does not match; only its words tell the two apart.
		if mentionsPIN(texts...) {
			return KindPINMismatch
		}
		return KindAccountLocked
	case 133006:
		return KindNeedsVerification
	case 133008, 133009:
		return KindTooManyPINAttempts
	case 133015:
		return KindRecentlyDeleted
	case 133016:
		return KindRegisterRateLimited
	case 133000:
		return KindDeregistrationIncomplete
	case 133010:
		return KindNotRegistered
	case 136024:
		return KindCodeNotSent
	case 136025:
		return KindCodeWrong
	case 0, 190:
		return KindTokenExpired
	case 10, 200:
		return KindPermissionMissing
	case 368:
		return KindPolicyBlocked
	case 4, 80007, 80008, 130429:
		return KindRateLimited
	case 1, 2, 131000, 133004:
		return KindTransient
	}
	// 131056 (too many messages to one recipient) and every code not above.
	switch k := classifyStatus(httpStatus); k {
	case KindRateLimited, KindTransient:
		return k
	}
	return KindUnknown
}

// classifyStatus places a failure by its HTTP status alone: 429 is a rate limit, 5xx is
// transient, any other 4xx an invalid request, and everything else unknown.
func classifyStatus(httpStatus int) Kind {
	switch {
	case httpStatus == http.StatusTooManyRequests:
		return KindRateLimited
	case httpStatus >= 500 && httpStatus <= 599:
		return KindTransient
	case httpStatus >= 400 && httpStatus <= 499:
		return KindInvalidRequest
	}
	return KindUnknown
}

var pinMention = regexp.MustCompile(`(?i)\bpin\b|two[- ]?step`)

// mentionsPIN reports whether any of Meta's texts is about the two-step PIN.
func mentionsPIN(texts ...string) bool {
	for _, t := range texts {
		if pinMention.MatchString(t) {
			return true
		}
	}
	return false
}

// KindOf classifies any error a Client method returns:
//   - nil is KindNone;
//   - a *GraphError (wrapped or not) has its own Kind;
//   - a timeout (context.DeadlineExceeded, a net timeout) or a connection failure
//     (refused, reset, DNS, a response cut short) is KindTransient;
//   - context.Canceled is KindUnknown: the caller gave up, and for a POST nobody can
//     tell whether Meta acted on it;
//   - anything else (a refused paging URL, an undecodable 200 body) is KindUnknown.
func KindOf(err error) Kind {
	if err == nil {
		return KindNone
	}
	if ge, ok := errors.AsType[*GraphError](err); ok {
		return ge.Kind
	}
	if errors.Is(err, context.Canceled) {
		return KindUnknown
	}
	if errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) {
		return KindTransient
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return KindTransient
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return KindTransient
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return KindTransient
	}
	return KindUnknown
}

// Explanation is a failure in plain words for the customer: a short title, what
// happened, and what to do about it.
type Explanation struct {
	Title, Message, Remedy string
}

// Explain describes the kind to a customer. KindNone gives an empty Explanation.
func (k Kind) Explain() Explanation {
	switch k {
	case KindNone:
		return Explanation{}
	case KindDisplayNameNotReady:
		return Explanation{
			Title:   "Meta is still reviewing your display name",
			Message: "Registration can only finish after Meta approves the display name. This usually takes a few hours to a couple of days.",
			Remedy:  "Nothing to do: we retry automatically. If the name is declined, edit it in WhatsApp Manager.",
		}
	case KindPINMismatch:
		return Explanation{
			Title:   "The two-step verification PIN does not match",
			Message: "This number already has a two-step verification PIN, and it is not the one we sent to Meta.",
			Remedy:  "Enter the existing 6-digit PIN for this number. If nobody knows it, an administrator can set a new PIN here (the old one then stops working everywhere).",
		}
	case KindNeedsVerification:
		return Explanation{
			Title:   "The phone number must be verified again",
			Message: "Meta requires this number to be verified with a new one-time code before it can be registered.",
			Remedy:  "Verify the number again in WhatsApp Manager, then complete registration here.",
		}
	case KindTooManyPINAttempts:
		return Explanation{
			Title:   "Too many PIN attempts",
			Message: "Meta has paused PIN checks for this number because of too many or too fast attempts.",
			Remedy:  "Nothing to do: we wait for the time Meta asks and try again.",
		}
	case KindRecentlyDeleted:
		return Explanation{
			Title:   "The number was removed a moment ago",
			Message: "Meta is still finishing the removal of this number from its previous account. This takes about 5 minutes.",
			Remedy:  "Nothing to do: we try again in a few minutes.",
		}
	case KindRegisterRateLimited:
		return Explanation{
			Title:   "Registration limit reached",
			Message: "Meta allows 10 registration attempts per number in any 72 hours, and they are used up.",
			Remedy:  "Wait until the oldest attempt is more than 72 hours old; we show when registration can be tried again.",
		}
	case KindAccountLocked:
		return Explanation{
			Title:   "The WhatsApp Business Account is locked",
			Message: "Meta has locked the business account this number belongs to, so it cannot send or register.",
			Remedy:  "Check the account's status and any policy notice in WhatsApp Manager, and request a review there.",
		}
	case KindDeregistrationIncomplete:
		return Explanation{
			Title:   "A previous deregistration did not finish",
			Message: "Meta says an earlier attempt to deregister this number did not complete, so it cannot be registered right now.",
			Remedy:  "An administrator may deregister the number and then register it again. Both calls count toward Meta's limit of 10 per number in 72 hours.",
		}
	case KindNotRegistered:
		return Explanation{
			Title:   "The number is not registered",
			Message: "Meta reports that this number is not registered with the WhatsApp Cloud API, so it cannot send messages.",
			Remedy:  "Complete registration for this number; we also try it automatically.",
		}
	case KindCodeNotSent:
		return Explanation{
			Title:   "Meta could not send the verification code",
			Message: "Meta did not send a code to this number. Either the number cannot receive a code this way (for example a landline by SMS), or codes were requested too often in a short time.",
			Remedy:  "Try the other way (a voice call instead of SMS, or the reverse). If codes were requested several times in a row, wait a while before asking again; Meta does not say how long.",
		}
	case KindCodeWrong:
		return Explanation{
			Title:   "The verification code is wrong or expired",
			Message: "Meta did not accept the code. It may have a typo, be from an older request, or have expired; each code works only once.",
			Remedy:  "Enter the 6-digit code from the latest SMS or call again, or request a new code.",
		}
	case KindTokenExpired:
		return Explanation{
			Title:   "The connection to Meta has expired",
			Message: "The access token for this inbox is expired, was revoked or is not authorised, so we can no longer talk to Meta for it.",
			Remedy:  "Reconnect the inbox with WhatsApp to give us a new access token.",
		}
	case KindPermissionMissing:
		return Explanation{
			Title:   "The access token is missing a permission",
			Message: "Meta refused the request because the access token lacks the whatsapp_business_management or whatsapp_business_messaging permission.",
			Remedy:  "Reconnect the inbox with a token that grants both whatsapp_business_management and whatsapp_business_messaging.",
		}
	case KindPolicyBlocked:
		return Explanation{
			Title:   "Temporarily blocked for policy violations",
			Message: "Meta has temporarily blocked this account from this action because of policy violations.",
			Remedy:  "Check the policy notice in WhatsApp Manager or Business Support Home. We do not retry until the block ends.",
		}
	case KindRateLimited:
		return Explanation{
			Title:   "Meta is limiting requests for a while",
			Message: "Too many requests were made to Meta for this business account in a short time.",
			Remedy:  "Nothing to do: we slow down and try again when Meta allows it.",
		}
	case KindTransient:
		return Explanation{
			Title:   "Meta could not be reached",
			Message: "Meta's service did not answer properly. This is usually temporary.",
			Remedy:  "Nothing to do: we try again shortly.",
		}
	case KindInvalidRequest:
		return Explanation{
			Title:   "Meta rejected the request",
			Message: "Meta refused the request, for example because an id is wrong or the app lacks a permission.",
			Remedy:  "Check the phone number id, WhatsApp Business Account id and app permissions for this inbox.",
		}
	default:
		// We do not know what this error means, so we do not pretend to: the page shows
		// Meta's own words (GraphError.MetaText) under this explanation.
		return Explanation{
			Title:   "Meta reported an error we do not recognise",
			Message: "Meta's own words about it are shown below.",
			Remedy:  "We do not retry it automatically. If Meta's words do not say what to do, contact support with the time it happened.",
		}
	}
}

// Retryable reports whether an automatic retry can succeed later without anyone
// changing anything: the failure is about timing (display name still in review,
// number just deleted, too many PIN guesses, rate limits, register limit window,
// transient faults), or the number is simply not registered yet, which a register
// call fixes. RetryDelay says how long to wait first. False means a person must act
// (wrong PIN, re-verification, locked account, expired token, missing permission,
// an unfinished deregistration, a bad request, a verification code not sent or not
// accepted: each new request sends a real SMS or call), Meta blocks the action until a time it
// sets (policy block), or the failure is not understood.
func (k Kind) Retryable() bool {
	switch k {
	case KindDisplayNameNotReady, KindRecentlyDeleted, KindTooManyPINAttempts,
		KindRateLimited, KindTransient, KindRegisterRateLimited, KindNotRegistered:
		return true
	}
	return false
}

// Waits used by RetryDelay when Meta names no time.
const (
	recentlyDeletedWait   = 5 * time.Minute
	defaultRateLimitWait  = time.Minute
	tooManyPINGuessesWait = time.Hour       // 133008: too many guesses
	pinGuessedTooFastWait = 5 * time.Minute // 133009: guesses too fast
	registerRateLimitWait = 72 * time.Hour  // 133016: Meta's moving window
	maxDelayFromErrorText = 7 * 24 * time.Hour
)

// RetryDelay is the wait Meta asks for before err's call is worth repeating:
//   - recently deleted (133015): 5 minutes, as Meta documents;
//   - rate limited: the time from the usage or Retry-After headers, else 1 minute;
//   - too many PIN attempts (133008/133009): a time named in Meta's details or message
//     ("... 2 hours"), else 1 hour for too many guesses and 5 minutes for too fast;
//   - register rate limited (133016): a time named in the details, else 72 hours
//     (the registrar, which counts attempts, knows better when the window frees);
//   - transient: the Retry-After header if any;
//   - policy blocked (368): a time named in Meta's texts, else the headers' wait, else
//     0; the kind is not Retryable, so this only says when the block should end;
//   - otherwise 0: Meta named no wait, so the caller's own backoff applies (the
//     display-name review in particular has no predictable end).
func RetryDelay(err error) time.Duration {
	ge, ok := errors.AsType[*GraphError](err)
	if !ok {
		return 0
	}
	switch ge.Kind {
	case KindRecentlyDeleted:
		return max(recentlyDeletedWait, ge.RetryAfter)
	case KindRateLimited:
		if ge.RetryAfter > 0 {
			return ge.RetryAfter
		}
		return defaultRateLimitWait
	case KindTooManyPINAttempts:
		if d := durationInText(ge.Details, ge.Message, ge.UserMessage); d > 0 {
			return d
		}
		if ge.RetryAfter > 0 {
			return ge.RetryAfter
		}
		if ge.Code == 133009 {
			return pinGuessedTooFastWait
		}
		return tooManyPINGuessesWait
	case KindRegisterRateLimited:
		if d := durationInText(ge.Details, ge.Message, ge.UserMessage); d > 0 {
			return d
		}
		return registerRateLimitWait
	case KindTransient:
		return ge.RetryAfter
	case KindPolicyBlocked:
		if d := durationInText(ge.Details, ge.Message, ge.UserMessage); d > 0 {
			return d
		}
		return ge.RetryAfter
	}
	return 0
}

var durationPattern = regexp.MustCompile(`(?i)\b(\d{1,6})\s*(seconds?|secs?|minutes?|mins?|hours?|hrs?|days?)\b`)

// durationInText finds the first "<n> <unit>" in the texts, such as "72 hours".
func durationInText(texts ...string) time.Duration {
	for _, t := range texts {
		m := durationPattern.FindStringSubmatch(t)
		if m == nil {
			continue
		}
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		unit := time.Second
		switch strings.ToLower(m[2])[0] {
		case 'm':
			unit = time.Minute
		case 'h':
			unit = time.Hour
		case 'd':
			unit = 24 * time.Hour
		}
		if n > int64(maxDelayFromErrorText/unit) {
			return maxDelayFromErrorText
		}
		return time.Duration(n) * unit
	}
	return 0
}

// parseGraphError builds the GraphError for a non-2xx response. It never fails: a body
// that is not Meta's envelope yields an error classified by the HTTP status alone.
// Each envelope field is read on its own, so one odd field (a code sent as a string,
// error_data sent as a JSON string) does not lose the others.
func parseGraphError(status int, header http.Header, body []byte) *GraphError {
	ge := &GraphError{HTTPStatus: status, RetryAfter: retryAfterFromHeaders(header)}
	var envelope struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil || envelope.Error == nil {
		ge.Message = nonEnvelopeMessage(header)
		ge.Kind = classifyStatus(status)
		return ge
	}
	f := envelope.Error
	ge.Code = rawInt64(f["code"])
	ge.Subcode = rawInt64(f["error_subcode"])
	ge.Type = rawString(f["type"])
	ge.Message = rawString(f["message"])
	ge.UserTitle = rawString(f["error_user_title"])
	ge.UserMessage = rawString(f["error_user_msg"])
	ge.IsTransient = rawBool(f["is_transient"])
	ge.Details = errorDataDetails(f["error_data"])
	ge.FBTraceID = rawString(f["fbtrace_id"])
	if codeSent(f["code"]) {
		ge.Kind = ClassifyError(status, ge.Code, ge.Subcode, ge.Message, ge.UserMessage, ge.Details)
	} else {
		ge.Kind = classifyStatus(status)
	}
	// Meta's is_transient hint can only promote an error we could not place; it never
	// overrides a code from the table (80008 is a rate limit even when "transient").
	if ge.IsTransient && (ge.Kind == KindInvalidRequest || ge.Kind == KindUnknown) {
		ge.Kind = KindTransient
	}
	return ge
}

// codeSent reports whether the envelope carries a readable code (a number, or a string
// holding one): only then is a 0 Meta's AuthException rather than "no code".
func codeSent(raw json.RawMessage) bool {
	_, err := strconv.ParseFloat(unquoted(raw), 64)
	return len(raw) > 0 && err == nil
}

func nonEnvelopeMessage(header http.Header) string {
	msg := "response body is not a Graph error"
	if ct := header.Get("Content-Type"); ct != "" {
		msg += " (" + ct + ")"
	}
	return msg
}

// errorDataDetails reads error_data.details; Meta sends error_data as an object or as a
// string holding JSON, and older errors as a plain string.
func errorDataDetails(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var obj struct {
		Details json.RawMessage `json:"details"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return rawString(obj.Details)
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	if json.Unmarshal([]byte(s), &obj) == nil {
		return rawString(obj.Details)
	}
	return s
}

// redactGraphError removes the token and other secrets (a PIN, an app secret) from
// every text field, in case a proxy or Meta echoes them back.
func redactGraphError(ge *GraphError, secrets ...string) {
	for _, s := range []*string{&ge.Type, &ge.Message, &ge.UserTitle, &ge.UserMessage, &ge.Details, &ge.FBTraceID} {
		*s = redact(*s, secrets...)
	}
}

// redact replaces every secret in s; longer secrets first, so a token that contains
// another secret (an app token holds the app secret) is removed whole.
func redact(s string, secrets ...string) string {
	sorted := slices.SortedFunc(slices.Values(secrets), func(a, b string) int { return len(b) - len(a) })
	for _, secret := range sorted {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// redactedError is a transport error whose text has the secrets removed; errors.Is and
// errors.As still reach the cause, so KindOf classifies it as before.
type redactedError struct {
	err     error
	secrets []string
}

func (e redactedError) Error() string { return redact(e.err.Error(), e.secrets...) }
func (e redactedError) Unwrap() error { return e.err }
