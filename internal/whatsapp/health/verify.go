package health

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Verifying a number's ownership from the app: request a code by SMS or voice call
// (POST /{phone-number-id}/request_code), enter it (POST /{phone-number-id}/verify_code),
// then register. Meta wants a number verified before it can be registered
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/registration/).
// Every request sends a real SMS or call, so they are spaced out and counted in the
// database; the code itself is never stored or logged.

// Limits on code requests per number.
const (
	// CodeRequestInterval is how long "send again" waits after a request.
	CodeRequestInterval = time.Minute
	// CodeRequestsPerHour is how many requests a number gets in any hour.
	CodeRequestsPerHour = 5
	// codeRecentFor is how long after a request the banner keeps asking for the code.
	codeRecentFor = 15 * time.Minute
)

// Code delivery methods Meta offers.
const (
	CodeBySMS   = "SMS"
	CodeByVoice = "VOICE"
)

// DefaultCodeLanguage is used when the browser names no language Meta could use.
const DefaultCodeLanguage = "en_US"

// ErrInvalidCodeMethod is a method other than SMS or VOICE.
var ErrInvalidCodeMethod = errors.New("the code can be sent by SMS or by voice call")

// ErrInvalidCodeLanguage is a language that is not a code like en_US or pt_BR.
var ErrInvalidCodeLanguage = errors.New("the language must be a code like en_US or pt_BR")

// ErrInvalidCode is a verification code that is not 6 digits.
var ErrInvalidCode = errors.New("the verification code is 6 digits")

// CodeRequestWaitError refuses a code request that comes too soon: Wait says how long
// until the next one may be sent.
type CodeRequestWaitError struct {
	Wait time.Duration
	// Hourly: the hour's five requests are used (else: the minute between two).
	Hourly bool
}

func (e *CodeRequestWaitError) Error() string {
	if e.Hourly {
		return fmt.Sprintf("%d codes were requested for this number in the last hour; the next can be sent in %s", CodeRequestsPerHour, roundWait(e.Wait))
	}
	return "a code was sent less than a minute ago; the next can be sent in " + roundWait(e.Wait)
}

func roundWait(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(d.Round(time.Second).Seconds()))
	}
	return fmt.Sprintf("%d minutes", int((d + time.Minute - 1).Minutes()))
}

// CodeRequest is the outcome of asking Meta to send a verification code.
type CodeRequest struct {
	Sent bool
	// RetryAfter is how long until the next request may be sent.
	RetryAfter time.Duration
	// Kind and Reason say why Meta did not send it (KindNone when it did).
	Kind       whatsapp.Kind
	Reason     string
	GraphError *whatsapp.GraphError
}

var languagePattern = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z]{2})?$`)

// CodeLanguage picks Meta's language code from a browser's Accept-Language header
// ("pt-BR,pt;q=0.9" gives pt_BR), or DefaultCodeLanguage.
func CodeLanguage(acceptLanguage string) string {
	first, _, _ := strings.Cut(acceptLanguage, ",")
	first, _, _ = strings.Cut(strings.TrimSpace(first), ";")
	lang, region, _ := strings.Cut(first, "-")
	code := strings.ToLower(lang)
	if region != "" {
		code += "_" + strings.ToUpper(region)
	}
	if !languagePattern.MatchString(code) || !strings.Contains(code, "_") {
		return DefaultCodeLanguage
	}
	return code
}

// codeRequests is what the database says about an inbox's recent code requests.
type codeRequests struct {
	times []time.Time // in the last hour, oldest first
}

func (r *Registrar) codeRequests(ctx context.Context, inboxID int64) (codeRequests, error) {
	times, err := r.store.VerificationRequestsSince(ctx, inboxID, r.now().Add(-time.Hour))
	if err != nil {
		return codeRequests{}, err
	}
	return codeRequests{times: times}, nil
}

// wait is how long until the next request may be sent (0: now).
func (c codeRequests) wait(now time.Time) (time.Duration, bool) {
	if n := len(c.times); n > 0 {
		if w := c.times[n-1].Add(CodeRequestInterval).Sub(now); w > 0 {
			return w, false
		}
		if n >= CodeRequestsPerHour {
			if w := c.times[n-CodeRequestsPerHour].Add(time.Hour).Sub(now); w > 0 {
				return w, true
			}
		}
	}
	return 0, false
}

// last is the newest request, or the zero time.
func (c codeRequests) last() time.Time {
	if len(c.times) == 0 {
		return time.Time{}
	}
	return c.times[len(c.times)-1]
}

// RequestVerificationCode asks Meta to send the number a verification code by SMS or
// voice call in a language, when a request is allowed now (one a minute, five an hour).
// A refused request returns a *CodeRequestWaitError or a validation error before any
// call; what Meta answers is in the CodeRequest.
func (r *Registrar) RequestVerificationCode(ctx context.Context, in db.Inbox, method, language string, req Request) (CodeRequest, error) {
	method = strings.ToUpper(strings.TrimSpace(method))
	if method != CodeBySMS && method != CodeByVoice {
		return CodeRequest{}, ErrInvalidCodeMethod
	}
	if language = strings.TrimSpace(language); language == "" {
		language = DefaultCodeLanguage
	}
	if !languagePattern.MatchString(language) {
		return CodeRequest{}, ErrInvalidCodeLanguage
	}
	defer r.forgetStatus(in.ID)
	release, err := r.lease(ctx, in.ID, "code")
	if errors.Is(err, db.ErrLeaseHeld) {
		return CodeRequest{}, ErrRegistrationInProgress
	}
	if err != nil {
		return CodeRequest{}, fmt.Errorf("health: request a code for inbox %d: %w", in.ID, err)
	}
	defer release()
	work, cancel := r.detach(ctx, lockedWorkTimeout)
	defer cancel()
	reqs, err := r.codeRequests(work, in.ID)
	if err != nil {
		return CodeRequest{}, fmt.Errorf("health: request a code for inbox %d: %w", in.ID, err)
	}
	if wait, hourly := reqs.wait(r.now()); wait > 0 {
		return CodeRequest{}, &CodeRequestWaitError{Wait: wait, Hourly: hourly}
	}
	secrets, err := r.store.Secrets(work, in.ID)
	if err != nil {
		return CodeRequest{}, fmt.Errorf("health: request a code for inbox %d: %w", in.ID, err)
	}
	callErr := r.graph.RequestCode(work, secrets.AccessToken, in.PhoneNumberID, method, language)
	res := CodeRequest{Sent: callErr == nil, RetryAfter: CodeRequestInterval}
	if callErr != nil {
		res.Kind = whatsapp.KindOf(callErr)
		res.Reason = res.Kind.Explain().Message
		if ge, ok := errors.AsType[*whatsapp.GraphError](callErr); ok {
			res.GraphError = ge
		}
	}
	// Counted whether or not Meta sent it: a refused request still counts at Meta.
	if _, err := r.store.AddVerificationRequest(work, db.VerificationRequest{InboxID: in.ID, UserID: req.UserID,
		Method: method, Language: language, Sent: res.Sent, ErrorKind: res.Kind}); err != nil {
		return res, fmt.Errorf("health: request a code for inbox %d: %w", in.ID, err)
	}
	r.log.Info("verification code requested", "inbox_id", in.ID, "method", method, "sent", res.Sent, "kind", res.Kind)
	return res, nil
}

// SubmitVerificationCode sends the code the person received to Meta; once Meta accepts
// it, health is refreshed at once and registration runs as usual (it registers if it
// can succeed, else says what is left). A wrong code is a failed Result of kind
// KindCodeWrong: the person may try again or ask for a new code.
func (r *Registrar) SubmitVerificationCode(ctx context.Context, in db.Inbox, code string, req Request) (Result, error) {
	code = strings.TrimSpace(code)
	if !isSixDigits(code) {
		return Result{}, ErrInvalidCode
	}
	secrets, err := r.store.Secrets(ctx, in.ID)
	if err != nil {
		return Result{}, fmt.Errorf("health: verify inbox %d: %w", in.ID, err)
	}
	work, cancel := r.detach(ctx, lockedWorkTimeout)
	defer cancel()
	if callErr := r.graph.VerifyCode(work, secrets.AccessToken, in.PhoneNumberID, code); callErr != nil {
		kind := whatsapp.KindOf(callErr)
		res := Result{Outcome: OutcomeFailed, State: whatsapp.StatePendingRegistration, Kind: kind, Reason: kind.Explain().Message}
		if ge, ok := errors.AsType[*whatsapp.GraphError](callErr); ok {
			res.GraphError = ge
		}
		r.log.Info("verification code refused", "inbox_id", in.ID, "kind", kind)
		return res, nil
	}
	r.log.Info("number verified", "inbox_id", in.ID)
	if _, err := r.health.Refresh(work, in, db.SourceFetch); err != nil {
		return Result{}, err
	}
	return r.Register(ctx, in, req)
}
