package health

// register_call.go holds the register call itself: the PIN it sends, the attempt it
// records before and after, and what follows a success or a failure; and the record of
// a request settled without a call.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// settleWithoutCall keeps the automatic retry schedule in step with the reason a
// request made no call, and records it only for the setup of a new inbox (whose
// table would otherwise not say why nothing was tried).
func (r *Registrar) settleWithoutCall(ctx context.Context, in db.Inbox, req Request, res Result) (Result, error) {
	if err := r.scheduleAfter(ctx, in, req, &res, nil); err != nil {
		return res, err
	}
	if req.Trigger != db.TriggerSetup {
		// A click or retry that makes no register call is no attempt: the banner
		// already said why (the same advice), and the table lists only what reached
		// Meta, so it never shows an "attempt" that spent nothing.
		return res, nil
	}
	a, err := r.store.StartAttempt(ctx, in.ID, req.Trigger, req.UserID, false)
	if err != nil {
		return res, err
	}
	a.Outcome, a.ErrorKind, a.Message = string(res.Outcome), res.Kind, res.Reason
	if err := r.store.FinishAttempt(ctx, a); err != nil {
		return res, err
	}
	res.Attempt = &a
	return res, nil
}

// call makes the register call: PIN stored first, attempt recorded before and after.
func (r *Registrar) call(ctx context.Context, in db.Inbox, req Request, snap *db.HealthSnapshot, h callHistory) (Result, error) {
	secrets, err := r.store.Secrets(ctx, in.ID)
	if err != nil {
		return Result{}, err
	}
	pin, err := r.pinForCall(ctx, in.ID, secrets)
	if err != nil {
		return Result{}, err
	}
	attempt, err := r.store.StartAttempt(ctx, in.ID, req.Trigger, req.UserID, true)
	if err != nil {
		return Result{}, err
	}
	started := r.now()
	callErr := r.graph.Register(ctx, secrets.AccessToken, in.PhoneNumberID, pin)
	callErr = withoutPINs(callErr, pin, secrets.PIN)
	attempt.Duration = r.now().Sub(started)
	res := Result{State: DecisionFor(in, snap).State, Snapshot: snap}
	recordCallOutcome(&attempt, &res, callErr)
	if callErr != nil && errors.Is(ctx.Err(), context.Canceled) {
		// This process is stopping (Close): whether Meta acted is unknown, and a
		// retry must stay possible.
		attempt.Outcome = db.OutcomeInterrupted
		attempt.Message = "The app stopped while this registration was in progress; Meta may have received it."
	}
	// Recorded even when this process is stopping: what Meta answered must not be lost.
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.store.FinishAttempt(finishCtx, attempt); err != nil {
		return res, err
	}
	res.Attempt = &attempt
	if callErr == nil {
		return r.afterSuccess(ctx, in, res)
	}
	return r.afterFailure(ctx, in, req, res, callErr, h)
}

// pinForCall returns the PIN to send: the stored one when we have one, else a new
// 6-digit PIN, stored (encrypted) before Meta ever sees it, so a crash cannot lose a
// PIN that Meta holds.
func (r *Registrar) pinForCall(ctx context.Context, inboxID int64, s db.InboxSecrets) (string, error) {
	if db.PINUsable(s.PINState) && s.PIN != "" {
		return s.PIN, nil
	}
	pin, err := newPIN()
	if err != nil {
		return "", err
	}
	if err := r.store.SetPIN(ctx, inboxID, pin, db.PINStateGenerated); err != nil {
		return "", err
	}
	return pin, nil
}

func newPIN() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("make PIN: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// recordCallOutcome fills the attempt and result from the register call's error.
func recordCallOutcome(a *db.RegistrationAttempt, res *Result, callErr error) {
	if callErr == nil {
		a.Outcome = db.OutcomeRegistered
		res.Outcome, res.State = OutcomeRegistered, whatsapp.StateRegistered
		res.Reason = "This number is registered with the WhatsApp Cloud API and can send messages."
		return
	}
	recordCallFailure(a, res, callErr)
}

// recordCallFailure fills the attempt and result from a failed call to Meta (register,
// deregister, set PIN): the kind, Meta's code and words, and the plain reason.
func recordCallFailure(a *db.RegistrationAttempt, res *Result, callErr error) {
	kind := whatsapp.KindOf(callErr)
	a.Outcome, a.ErrorKind, a.Message = db.OutcomeFailed, kind, callErr.Error()
	res.Outcome, res.Kind = OutcomeFailed, kind
	res.Reason = kind.Explain().Message
	if ge, ok := errors.AsType[*whatsapp.GraphError](callErr); ok {
		a.GraphCode, a.GraphSubcode = ge.Code, ge.Subcode
		if ge.Details != "" {
			// Kept for support and for the wait Meta names ("blocked for 72 hours").
			a.Message += " — " + ge.Details
		}
		res.GraphError = ge
	}
}

// afterSuccess confirms the PIN, refreshes health at once and clears the retry plan.
func (r *Registrar) afterSuccess(ctx context.Context, in db.Inbox, res Result) (Result, error) {
	if err := r.store.SetPINState(ctx, in.ID, db.PINStateConfirmed); err != nil {
		return res, err
	}
	if err := r.store.SetRegistrationSchedule(ctx, in.ID, nil, 0); err != nil {
		return res, err
	}
	if res.Attempt != nil {
		// The register call made after Meta approved a new display name is the one
		// that makes it show.
		if err := r.store.ClearNameChangeApproved(ctx, in.ID, res.Attempt.StartedAt); err != nil {
			return res, err
		}
		// The refresh below derives the stored registration state from the inbox: with
		// the approval still on it, a registered number would read as still needing its
		// register call.
		current, err := r.store.InboxByID(ctx, in.ID)
		if err != nil {
			return res, err
		}
		in = current
	}
	snap, err := r.health.Refresh(ctx, in, db.SourceRegistration)
	if err != nil {
		// Registered all the same; the next read refreshes health.
		r.log.Warn("refresh health after registration", "inbox_id", in.ID, "error", err)
		return res, nil
	}
	res.Snapshot = &snap
	return res, nil
}

// afterFailure applies the error table: the PIN state on a mismatch and the retry plan.
func (r *Registrar) afterFailure(ctx context.Context, in db.Inbox, req Request, res Result, callErr error, h callHistory) (Result, error) {
	switch res.Kind {
	case whatsapp.KindPINMismatch:
		// The stored PIN stays as it is: Meta may yet hold it after a reset, and a new
		// one would only mismatch again. An administrator enters the existing PIN.
		if err := r.store.SetPINState(ctx, in.ID, db.PINStateMismatch); err != nil {
			return res, err
		}
		res.NeedsPIN = true
	case whatsapp.KindDisplayNameNotReady:
		res.State = whatsapp.StateWaitingForDisplayName
	case whatsapp.KindRateLimited:
		// Every caller, not only the registrar, must now leave this account alone.
		r.health.HoldOff(in.WABAID, whatsapp.RetryDelay(callErr))
	}
	if err := r.scheduleAfter(ctx, in, req, &res, callErr); err != nil {
		return res, err
	}
	return res, nil
}
