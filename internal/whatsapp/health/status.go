package health

// status.go holds the registration status read-out for the banner and the API,
// and the short-lived cache in front of it.

import (
	"context"
	"fmt"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// Status is what the banner and the API say about an inbox's registration besides
// its health: the last attempt, the retry plan and the calls left.
type Status struct {
	LastAttempt *db.RegistrationAttempt
	// NextRetryAt is the planned automatic retry (nil: none planned).
	NextRetryAt *time.Time
	// AttemptsLeft is how many of Meta's 10 calls per 72 h are left now.
	AttemptsLeft int
	// AutomaticAttemptsLeft is how many of them automatic retries may still use.
	AutomaticAttemptsLeft int
	// Recent are the newest attempts (up to 50), newest first, for the attempts table.
	Recent []db.RegistrationAttempt
	// BlockedUntil is when a person may call again if the limit is reached (nil: now).
	BlockedUntil *time.Time
	// CodeRequests are the verification-code requests of the last hour, oldest first.
	CodeRequests []time.Time
}

// Status reads an inbox's registration status.
func (r *Registrar) Status(ctx context.Context, in db.Inbox) (Status, error) {
	now := r.now()
	r.statusMu.Lock()
	cached, ok := r.statuses[in.ID]
	r.statusMu.Unlock()
	if !ok || now.Sub(cached.at) > cached.lifetime || now.Before(cached.at) {
		st, err := r.readStatus(ctx, in.ID)
		if err != nil {
			return Status{}, err
		}
		cached = cachedStatus{status: st, at: now, lifetime: db.SpreadLifetime(statusCacheTTL)}
		r.statusMu.Lock()
		if r.statuses == nil || len(r.statuses) > 50_000 {
			r.statuses = map[int64]cachedStatus{}
		}
		r.statuses[in.ID] = cached
		r.statusMu.Unlock()
	}
	st := cached.status
	st.NextRetryAt = in.RegistrationNextRetryAt
	if st.LastAttempt != nil {
		last := *st.LastAttempt
		st.LastAttempt = &last
	}
	st.Recent = append([]db.RegistrationAttempt(nil), st.Recent...)
	st.CodeRequests = append([]time.Time(nil), st.CodeRequests...)
	return st, nil
}

func (r *Registrar) readStatus(ctx context.Context, inboxID int64) (Status, error) {
	h, err := r.callHistory(ctx, inboxID)
	if err != nil {
		return Status{}, fmt.Errorf("health: registration status of inbox %d: %w", inboxID, err)
	}
	codes, err := r.codeRequests(ctx, inboxID)
	if err != nil {
		return Status{}, fmt.Errorf("health: registration status of inbox %d: %w", inboxID, err)
	}
	st := Status{Recent: h.recent, CodeRequests: codes.times}
	if len(h.recent) > 0 {
		st.LastAttempt = &h.recent[0]
	}
	used := len(h.callTimes)
	st.AttemptsLeft = max(RegisterLimit-used, 0)
	st.AutomaticAttemptsLeft = max(RegisterLimit-ReservedForPeople-used, 0)
	if until := r.budgetBlockedUntil(Request{Trigger: db.TriggerBanner}, h); !until.IsZero() {
		st.BlockedUntil = &until
		st.AttemptsLeft, st.AutomaticAttemptsLeft = 0, 0
	}
	return st, nil
}

func (r *Registrar) forgetStatus(inboxID int64) {
	r.statusMu.Lock()
	delete(r.statuses, inboxID)
	r.statusMu.Unlock()
}

func (r *Registrar) forgetAllStatuses() {
	r.statusMu.Lock()
	clear(r.statuses)
	r.statusMu.Unlock()
}

// statusCacheTTL bounds how long a displayed status may lag another process's
// attempt; this process's own attempts clear it at once. Each entry lives between half
// of it and all of it (db.SpreadLifetime), so the statuses of inboxes read together are
// not all read again together.
const statusCacheTTL = 2 * time.Second

type cachedStatus struct {
	status   Status
	at       time.Time
	lifetime time.Duration
}
