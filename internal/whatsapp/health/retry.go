package health

// retry.go holds automatic retries and Meta's call budget: the retry plan and its
// backoff, the history of past calls the budget is counted on, and the sweep's round
// of due retries.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// scheduleAfter keeps the automatic retry plan (next_retry_at, backoff step) in step
// with a result: cleared when no retry can help, otherwise the kind's own wait or the
// backoff, 15 minutes doubling to 24 hours.
func (r *Registrar) scheduleAfter(ctx context.Context, in db.Inbox, req Request, res *Result, callErr error) error {
	next, step, keep := r.nextRetry(in, req, *res, callErr)
	if keep {
		res.NextRetryAt = in.RegistrationNextRetryAt
		return nil
	}
	res.NextRetryAt = next
	return r.store.SetRegistrationSchedule(ctx, in.ID, next, step)
}

// nextRetry decides the retry plan; keep means leave it as it is.
func (r *Registrar) nextRetry(in db.Inbox, req Request, res Result, callErr error) (next *time.Time, step int, keep bool) {
	now := r.now()
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	switch {
	case res.Outcome == OutcomeRegistered || res.Outcome == OutcomeSkipped:
		return nil, 0, false
	case res.Outcome == OutcomeDeferred && res.NextRetryAt != nil: // the window frees then
		return res.NextRetryAt, in.RegistrationBackoffStep, false
	case res.Outcome == OutcomeDeferred && req.byPerson():
		return nil, 0, true // a person waiting to confirm changes nothing for machines
	case res.Outcome == OutcomeDeferred:
		// Checking again costs no register call (the monitor keeps health fresh anyway),
		// so it need not back off: an approved name is picked up within minutes.
		return at(firstRetryDelay), in.RegistrationBackoffStep, false
	case res.Kind == whatsapp.KindRecentlyDeleted:
		return at(whatsapp.RetryDelay(callErr)), in.RegistrationBackoffStep, false
	case res.Kind == whatsapp.KindRegisterRateLimited:
		return at(whatsapp.RetryDelay(callErr)), in.RegistrationBackoffStep, false
	case res.Outcome == OutcomeFailed && !res.Kind.Retryable():
		return nil, 0, false // a person must act: PIN, verification, lock, token
	}
	wait := max(backoff(in.RegistrationBackoffStep), whatsapp.RetryDelay(callErr))
	return at(wait), in.RegistrationBackoffStep + 1, false
}

// backoff is the wait before automatic retry number step+1.
func backoff(step int) time.Duration {
	d := firstRetryDelay
	for range step {
		d *= 2
		if d >= maxRetryDelay {
			return maxRetryDelay
		}
	}
	return d
}

// budgetBlockedUntil is when the request may call next if it may not call now: Meta's
// 133016 refusal, our own count of the window, and for machines the calls kept for
// people.
func (r *Registrar) budgetBlockedUntil(req Request, h callHistory) time.Time {
	limit := RegisterLimit
	if !req.byPerson() {
		limit -= ReservedForPeople
	}
	until := h.limitFreesAt(limit)
	if meta := h.metaBlockedUntil(); meta.After(until) {
		until = meta
	}
	if !until.After(r.now()) {
		return time.Time{}
	}
	return until
}

func budgetReason(req Request, until time.Time) string {
	when := until.UTC().Format("2006-01-02 15:04 UTC")
	if req.byPerson() {
		return "Meta allows 10 registration attempts per number in any 72 hours and they are used up. Registration can be tried again after " + when + "."
	}
	return fmt.Sprintf("Automatic attempts are paused until %s, keeping the last %d of Meta's 10 attempts per 72 hours for you.", when, ReservedForPeople)
}

// callHistory is what the registrar needs to know about past register calls.
type callHistory struct {
	callTimes []time.Time // register calls sent in the moving window, oldest first
	recent    []db.RegistrationAttempt
}

func (r *Registrar) callHistory(ctx context.Context, inboxID int64) (callHistory, error) {
	_, times, err := r.store.GraphCallsSince(ctx, inboxID, r.now().Add(-RegisterWindow))
	if err != nil {
		return callHistory{}, err
	}
	recent, err := r.store.Attempts(ctx, inboxID, 50)
	if err != nil {
		return callHistory{}, err
	}
	return callHistory{callTimes: times, recent: recent}, nil
}

// lastCall is the newest attempt that reached Meta, if any.
func (h callHistory) lastCall() *db.RegistrationAttempt {
	for i := range h.recent {
		if h.recent[i].GraphCalled {
			return &h.recent[i]
		}
	}
	return nil
}

// limitFreesAt says when fewer than limit calls will be left in the window (zero time
// when that is already so).
func (h callHistory) limitFreesAt(limit int) time.Time {
	used := len(h.callTimes)
	if used < limit {
		return time.Time{}
	}
	return h.callTimes[used-limit].Add(RegisterWindow)
}

// metaBlockedUntil is when Meta's own 133016 refusal ends: Meta may count calls we
// never made (another tool, support staff), so its word wins over our count.
func (h callHistory) metaBlockedUntil() time.Time {
	last := h.lastCall()
	if last == nil || last.ErrorKind != whatsapp.KindRegisterRateLimited {
		return time.Time{}
	}
	wait := whatsapp.RetryDelay(&whatsapp.GraphError{Kind: whatsapp.KindRegisterRateLimited, Message: last.Message})
	return last.StartedAt.Add(wait)
}

// registeredSince reports whether the newest call succeeded after the snapshot was
// taken (or the snapshot is a failed fetch): health has not caught up yet, and a
// second call would only spend one of Meta's ten.
func (h callHistory) registeredSince(snap *db.HealthSnapshot) bool {
	last := h.lastCall()
	if last == nil || last.Outcome != db.OutcomeRegistered || last.FinishedAt == nil {
		return false
	}
	return snap == nil || !snap.OK || !snap.CheckedAt.After(*last.FinishedAt)
}

// RetryDue retries registration of every inbox whose automatic retry is due (the
// monitor calls it after each sweep, on fresh health). Register itself only calls
// Meta for pending_registration numbers (and registered numbers whose new display name
// needs a register call) and keeps the calls reserved for people.
func (r *Registrar) RetryDue(ctx context.Context) error {
	if _, err := r.MarkInterrupted(ctx); err != nil {
		return err
	}
	var errs []error
	err := r.store.EachInboxPage(ctx, func(page []db.Inbox) error {
		errs = append(errs, r.retryPage(ctx, page)...)
		return ctx.Err()
	})
	if err != nil && ctx.Err() == nil {
		errs = append(errs, fmt.Errorf("health: retry registrations: %w", err))
	}
	return errors.Join(errs...)
}

// retryPage is RetryDue for one page of inboxes. The newest snapshots that
// planFirstRetry needs are read for the page in one statement, without filling the
// store's cache (a fleet's worth of snapshots nobody views would crowd it out).
func (r *Registrar) retryPage(ctx context.Context, page []db.Inbox) []error {
	var unplanned []int64
	for _, in := range page {
		if in.RegistrationNextRetryAt == nil && in.NameChangeApprovedAt == nil && in.PINState != db.PINStateMismatch {
			unplanned = append(unplanned, in.ID)
		}
	}
	var snaps map[int64]db.HealthSnapshot
	if len(unplanned) > 0 {
		var err error
		if snaps, err = r.store.LatestSnapshotsOf(ctx, unplanned, false); err != nil {
			return []error{fmt.Errorf("health: plan registration retry: %w", err)}
		}
	}
	var errs []error
	for _, in := range page {
		if ctx.Err() != nil {
			break
		}
		var err error
		switch next := in.RegistrationNextRetryAt; {
		case next == nil && in.NameChangeApprovedAt != nil:
			// Meta approved a new name and nothing is planned: register once now.
			_, err = r.Register(ctx, in, Request{Trigger: db.TriggerNameChange})
		case next == nil:
			if snap, ok := snaps[in.ID]; ok {
				err = r.planFirstRetry(ctx, in, snap)
			}
		case !next.After(r.now()):
			_, err = r.Register(ctx, in, Request{Trigger: automaticTrigger(in)})
		default:
			var approved bool
			if approved, err = r.nameApprovedSinceLastCall(ctx, in); approved {
				_, err = r.Register(ctx, in, Request{Trigger: automaticTrigger(in)})
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// nameApprovedSinceLastCall reports whether a backoff that waited for Meta's display-name
// review has lost its reason: the last register call failed because the name was not
// ready (100/2388001), and the latest health says the number can be registered now.
// Without the approval webhook (a Meta app whose callback is not set up yet) this is
// how a sweep ends a wait of up to 24 hours at once.
func (r *Registrar) nameApprovedSinceLastCall(ctx context.Context, in db.Inbox) (bool, error) {
	recent, err := r.store.Attempts(ctx, in.ID, 10)
	if err != nil {
		return false, fmt.Errorf("health: retry registrations: %w", err)
	}
	last := callHistory{recent: recent}.lastCall()
	if last == nil || last.ErrorKind != whatsapp.KindDisplayNameNotReady {
		return false, nil
	}
	snap, err := r.store.LatestSnapshot(ctx, in.ID)
	if errors.Is(err, db.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("health: retry registrations: %w", err)
	}
	return snap.CheckedAt.After(last.StartedAt) && DecisionFor(in, &snap).State == whatsapp.StatePendingRegistration, nil
}

// automaticTrigger is what a machine-started registration is recorded as: a name
// change when one waits for its register call.
func automaticTrigger(in db.Inbox) string {
	if in.NameChangeApprovedAt != nil {
		return db.TriggerNameChange
	}
	return db.TriggerAutomatic
}

// planFirstRetry puts a stuck number that has no retry plan on the schedule, one
// backoff step away rather than at once, so a customer looking at the banner can act
// first. Numbers a person must fix (a PIN Meta refused, an expired token, a locked
// account: the last attempt failed for a reason no retry helps) stay off it. snap is
// the inbox's newest snapshot.
func (r *Registrar) planFirstRetry(ctx context.Context, in db.Inbox, snap db.HealthSnapshot) error {
	if in.PINState == db.PINStateMismatch {
		return nil
	}
	if state := DecisionFor(in, &snap).State; state != whatsapp.StatePendingRegistration && state != whatsapp.StateWaitingForDisplayName {
		return nil
	}
	last, err := r.store.Attempts(ctx, in.ID, 1)
	if err != nil {
		return fmt.Errorf("health: plan registration retry: %w", err)
	}
	if len(last) == 1 && last[0].Outcome == db.OutcomeFailed && !last[0].ErrorKind.Retryable() {
		return nil
	}
	next := r.now().Add(firstRetryDelay)
	if err := r.store.SetRegistrationSchedule(ctx, in.ID, &next, 0); err != nil {
		return fmt.Errorf("health: plan registration retry: %w", err)
	}
	return nil
}

// OnSwept is the monitor's hook (MonitorOptions.OnSwept): it retries the registrations
// that are due, on the health the sweep just stored.
func (r *Registrar) OnSwept(ctx context.Context) {
	if err := r.RetryDue(ctx); err != nil && ctx.Err() == nil {
		r.log.Error("automatic registration retries", "error", err)
	}
	r.CheckAppSubscriptions(ctx)
}
