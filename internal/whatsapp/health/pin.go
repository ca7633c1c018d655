package health

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// The two-step verification PIN: entering the one Meta holds, or setting a new one.
//
// Meta's answer to a forgotten PIN is to set a new one with POST /{phone-number-id}
// {"pin"} (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/two-step-verification/);
// the old PIN then stops working everywhere the number is used, so the product does
// it only on an administrator's explicit, confirmed request.

// ErrInvalidPIN is a PIN that is not exactly 6 digits.
var ErrInvalidPIN = errors.New("the two-step verification PIN must be exactly 6 digits")

// ErrRegistrationInProgress means the PIN cannot change while a register call that
// uses the old one is in flight.
var ErrRegistrationInProgress = errors.New("a registration for this number is in progress; try again in a moment")

// SetPIN stores the existing two-step PIN an administrator entered, encrypted, as
// "provided": after Meta said 133005, or ahead of time for a registered number (a
// display-name change needs a new register call with it). The caller then retries
// registration. It is refused while a registration is in flight, whose outcome would
// otherwise be credited to the wrong PIN.
func (r *Registrar) SetPIN(ctx context.Context, in db.Inbox, pin string, userID int64) error {
	defer r.forgetStatus(in.ID)
	pin = strings.TrimSpace(pin)
	if !isSixDigits(pin) {
		return ErrInvalidPIN
	}
	release, err := r.lease(ctx, in.ID, "pin")
	if errors.Is(err, db.ErrLeaseHeld) {
		return ErrRegistrationInProgress
	}
	if err != nil {
		return fmt.Errorf("health: set PIN of inbox %d: %w", in.ID, err)
	}
	defer release()
	if err := r.store.SetPIN(ctx, in.ID, pin, db.PINStateProvided); err != nil {
		return fmt.Errorf("health: set PIN of inbox %d: %w", in.ID, err)
	}
	r.log.Info("two-step PIN provided", "inbox_id", in.ID, "user_id", userID)
	return nil
}

func isSixDigits(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ErrNewPINNotConfirmed is a request for a new PIN without the confirmation that the
// old one stops working everywhere.
var ErrNewPINNotConfirmed = errors.New("a new PIN was asked for without confirming that the old one stops working")

// PINChange is what an administrator asks of the two-step PIN.
type PINChange struct {
	PIN string
	// SetAtMeta: set PIN as a new PIN at Meta (the old one stops working), then register;
	// otherwise PIN is the one Meta already holds.
	SetAtMeta bool
	// Confirmed: the person confirmed what a new PIN does.
	Confirmed bool
}

// ApplyPIN stores the PIN Meta holds, or sets a new one at Meta (only when confirmed),
// then registers. The errors of SetPIN and ResetPIN refuse it before any call.
func (r *Registrar) ApplyPIN(ctx context.Context, in db.Inbox, p PINChange, req Request) (Result, error) {
	if p.SetAtMeta {
		if !p.Confirmed {
			return Result{}, ErrNewPINNotConfirmed
		}
		return r.ResetPIN(ctx, in, p.PIN, req)
	}
	var userID int64
	if req.UserID != nil {
		userID = *req.UserID
	}
	if err := r.SetPIN(ctx, in, p.PIN, userID); err != nil {
		return Result{}, err
	}
	r.recordChange(ctx, in.ID, db.ChangePINProvided, req.Actor, []db.FieldChange{{Field: "pin", Secret: true}})
	return r.Register(ctx, in, req)
}

// ResetPIN sets a new two-step PIN at Meta for the inbox's number, then registers with
// it: the new PIN is stored (encrypted) before Meta is called, so Meta never holds a
// PIN the app could lose, and the change is recorded as an attempt. The old PIN stops
// working everywhere; the caller must have had an administrator confirm that. Refused
// while a registration is in flight. What Meta answers is in the Result.
func (r *Registrar) ResetPIN(ctx context.Context, in db.Inbox, pin string, req Request) (Result, error) {
	pin = strings.TrimSpace(pin)
	if !isSixDigits(pin) {
		return Result{}, ErrInvalidPIN
	}
	res, set, err := r.setPINAtMeta(ctx, in, pin, req)
	if err != nil || !set {
		return res, err
	}
	r.recordChange(ctx, in.ID, db.ChangePINReset, req.Actor, []db.FieldChange{{Field: "pin", Secret: true}})
	return r.Register(ctx, in, req)
}

// setPINAtMeta is ResetPIN's first half, under the inbox's lease; set reports whether
// Meta accepted the new PIN.
func (r *Registrar) setPINAtMeta(ctx context.Context, in db.Inbox, pin string, req Request) (res Result, set bool, err error) {
	defer r.forgetStatus(in.ID)
	release, err := r.lease(ctx, in.ID, "newpin")
	if errors.Is(err, db.ErrLeaseHeld) {
		return Result{}, false, ErrRegistrationInProgress
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("health: set a new PIN for inbox %d: %w", in.ID, err)
	}
	defer release()
	work, cancel := r.detach(ctx, lockedWorkTimeout)
	defer cancel()
	before, err := r.store.Secrets(work, in.ID)
	if err != nil {
		return Result{}, false, fmt.Errorf("health: set a new PIN for inbox %d: %w", in.ID, err)
	}
	if err := r.store.SetPIN(work, in.ID, pin, db.PINStateProvided); err != nil {
		return Result{}, false, fmt.Errorf("health: set a new PIN for inbox %d: %w", in.ID, err)
	}
	attempt, err := r.store.StartAttempt(work, in.ID, req.Trigger, req.UserID, false)
	if err != nil {
		return Result{}, false, fmt.Errorf("health: set a new PIN for inbox %d: %w", in.ID, err)
	}
	started := r.now()
	callErr := r.graph.SetTwoStepPIN(work, before.AccessToken, in.PhoneNumberID, pin)
	callErr = withoutPINs(callErr, pin, before.PIN)
	attempt.Duration = r.now().Sub(started)
	if callErr == nil {
		attempt.Outcome = db.OutcomePINSet
		attempt.Message = "A new two-step verification PIN was set at Meta."
		r.log.Info("two-step PIN set at Meta", "inbox_id", in.ID, "user_id", req.UserID)
	} else {
		// Meta still holds the PIN it had: the one we knew before stays the truth.
		if err := r.restorePIN(work, in.ID, before); err != nil {
			return Result{}, false, err
		}
		res = Result{State: whatsapp.StateUnknown, NeedsPIN: true}
		recordCallFailure(&attempt, &res, callErr)
		attempt.Message = "Setting a new PIN failed: " + attempt.Message
		res.Reason = "Meta did not accept the new PIN: " + res.Reason + " The PIN Meta held before still applies."
	}
	if err := r.store.FinishAttempt(work, attempt); err != nil {
		return res, false, err
	}
	res.Attempt = &attempt
	return res, callErr == nil, nil
}

// restorePIN puts back the PIN (and its state) the inbox had before a refused reset.
func (r *Registrar) restorePIN(ctx context.Context, inboxID int64, before db.InboxSecrets) error {
	if err := r.store.SetPIN(ctx, inboxID, before.PIN, before.PINState); err != nil {
		return fmt.Errorf("health: restore PIN of inbox %d: %w", inboxID, err)
	}
	return nil
}

// withoutPINs is a Graph call's error with every PIN the inbox has had taken out of
// its text and of Meta's fields. The client already removes the PIN it sent, but
// Meta's error text may repeat another one (the PIN it holds, the one being replaced)
// and the error is recorded in attempts, shown in results and logged.
func withoutPINs(err error, pins ...string) error {
	if err == nil {
		return nil
	}
	pins = slices.DeleteFunc(slices.Clone(pins), func(p string) bool { return p == "" })
	if len(pins) == 0 {
		return err
	}
	scrubbed := &pinFreeError{msg: redactPINs(err.Error(), pins), cause: err}
	if ge, ok := errors.AsType[*whatsapp.GraphError](err); ok {
		clean := *ge
		for _, s := range []*string{&clean.Type, &clean.Message, &clean.UserTitle, &clean.UserMessage, &clean.Details, &clean.FBTraceID} {
			*s = redactPINs(*s, pins)
		}
		scrubbed.graph = &clean
	}
	return scrubbed
}

func redactPINs(s string, pins []string) string {
	for _, p := range pins {
		s = strings.ReplaceAll(s, p, "[redacted]")
	}
	return s
}

// pinFreeError is an error whose text holds no PIN; errors.As finds its cleaned
// GraphError (so KindOf classifies it as before), errors.Is reaches the cause.
type pinFreeError struct {
	msg   string
	graph *whatsapp.GraphError
	cause error
}

func (e *pinFreeError) Error() string { return e.msg }

func (e *pinFreeError) Unwrap() []error {
	if e.graph != nil {
		return []error{e.graph, e.cause}
	}
	return []error{e.cause}
}
