package health

import (
	"context"
	"errors"
	"fmt"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Deregister and register again, Meta's way out of error 133000 ("a previous
// deregistration did not finish"). Both calls count toward Meta's 10 register and
// deregister calls per number in a moving 72 hours
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/registration/).

// ErrNoDeregistrationPending means the last register call did not fail with 133000,
// so deregistering would only take a working number off the Cloud API.
var ErrNoDeregistrationPending = errors.New("the last registration did not fail because of an unfinished deregistration")

// ErrNotEnoughCallsLeft means fewer than two of Meta's calls are left in the window.
var ErrNotEnoughCallsLeft = errors.New("deregistering and registering again needs two of Meta's 10 calls per 72 hours, and fewer are left")

// DeregisterAndRegister deregisters the inbox's number, then registers it again. It is
// for a person (req must be a banner or API request) and only after Meta answered
// 133000; it needs two calls left in Meta's window. What Meta answers is in the Result.
func (r *Registrar) DeregisterAndRegister(ctx context.Context, in db.Inbox, req Request) (Result, error) {
	if !req.byPerson() {
		return Result{}, errors.New("health: deregister and register again: only a person may ask")
	}
	res, done, err := r.deregister(ctx, in, req)
	if err != nil || !done {
		return res, err
	}
	// Meta's health must show the number unregistered before the decision is made.
	if _, err := r.health.Refresh(ctx, in, db.SourceRegistration); err != nil {
		return res, err
	}
	return r.Register(ctx, in, req)
}

func (r *Registrar) deregister(ctx context.Context, in db.Inbox, req Request) (res Result, done bool, err error) {
	defer r.forgetStatus(in.ID)
	release, err := r.lease(ctx, in.ID, "dereg")
	if errors.Is(err, db.ErrLeaseHeld) {
		return r.alreadyInProgress(ctx, in), false, nil
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("health: deregister inbox %d: %w", in.ID, err)
	}
	defer release()
	work, cancel := r.detach(ctx, lockedWorkTimeout)
	defer cancel()
	h, err := r.callHistory(work, in.ID)
	if err != nil {
		return Result{}, false, fmt.Errorf("health: deregister inbox %d: %w", in.ID, err)
	}
	if last := h.lastCall(); last == nil || last.ErrorKind != whatsapp.KindDeregistrationIncomplete {
		return Result{}, false, ErrNoDeregistrationPending
	}
	if used := len(h.callTimes); used > RegisterLimit-2 {
		return Result{}, false, ErrNotEnoughCallsLeft
	}
	secrets, err := r.store.Secrets(work, in.ID)
	if err != nil {
		return Result{}, false, fmt.Errorf("health: deregister inbox %d: %w", in.ID, err)
	}
	attempt, err := r.store.StartAttempt(work, in.ID, req.Trigger, req.UserID, true)
	if err != nil {
		return Result{}, false, fmt.Errorf("health: deregister inbox %d: %w", in.ID, err)
	}
	started := r.now()
	callErr := r.graph.Deregister(work, secrets.AccessToken, in.PhoneNumberID)
	callErr = withoutPINs(callErr, secrets.PIN)
	attempt.Duration = r.now().Sub(started)
	if callErr == nil {
		attempt.Outcome, attempt.Message = db.OutcomeDeregistered, "Deregistered, to register again after an unfinished deregistration."
	} else {
		res = Result{State: whatsapp.StateUnknown}
		recordCallFailure(&attempt, &res, callErr)
		attempt.Message = "Deregistering failed: " + attempt.Message
	}
	if err := r.store.FinishAttempt(work, attempt); err != nil {
		return res, false, err
	}
	res.Attempt = &attempt
	return res, callErr == nil, nil
}
