package health

import (
	"context"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Meta's rate-limit budget. Every Graph answer may carry X-Business-Use-Case-Usage (per
// business account, for WhatsApp the WABA) and X-App-Usage (the app), each figure the
// percentage of a budget used over Meta's moving window; at 100 % Meta answers 80008
// (the account) or 4 (the app) until the window slides
// (https://developers.facebook.com/docs/graph-api/overview/rate-limiting). The monitor
// and refreshes read them on every answer (whatsapp.WithUsageReport) and slow down
// before that:
//
//   - an account above BudgetSlowDownAt % gets no call for BudgetHoldOff (one default
//     sweep: its next sweep skips it, so its share is halved), and above
//     BudgetStopAt % for BudgetStopFor, Meta's window, or for as long as Meta says
//     access takes to regain; its inboxes keep their last snapshot meanwhile;
//   - with the app above BudgetSlowDownAt %, a sweep spreads the business accounts it
//     has still to fetch over its interval instead of fetching them at once, and above
//     BudgetStopAt % it leaves the rest for the next sweep.
const (
	BudgetSlowDownAt = 75
	BudgetStopAt     = 90
	BudgetHoldOff    = DefaultSweepInterval
	BudgetStopFor    = time.Hour
)

// budgetState is what the answers said about the app's budget.
type budgetState struct {
	appPercent int64
	appSeen    time.Time
}

// appBudgetStale is how long an app usage figure is believed without a newer answer.
const appBudgetStale = 5 * time.Minute

// noteUsage takes in the usage one answer reported.
func (s *Service) noteUsage(u whatsapp.Usage) {
	now := s.now()
	for _, b := range u.BusinessUseCases {
		pct := b.Highest()
		var hold time.Duration
		switch {
		case b.RegainAccessIn > 0:
			hold = b.RegainAccessIn
		case pct >= BudgetStopAt:
			hold = BudgetStopFor
		case pct >= BudgetSlowDownAt:
			hold = BudgetHoldOff
		default:
			continue
		}
		s.slowDown(b.BusinessID, now.Add(hold), pct)
	}
	if u.App != nil {
		s.backoffMu.Lock()
		s.budget.appPercent, s.budget.appSeen = u.App.Highest(), now
		s.backoffMu.Unlock()
	}
}

// slowDown stops calls about a business account until then (a later hold stays).
func (s *Service) slowDown(wabaID string, until time.Time, pct int64) {
	s.backoffMu.Lock()
	defer s.backoffMu.Unlock()
	if s.slowUntil.extend(wabaID, until) {
		s.log.Info("business account near Meta's rate limit; slowing down", "waba_id", wabaID, "usage_percent", pct, "until", until)
	}
}

// appUsage is the app's latest reported usage in percent (0 when none is recent).
func (s *Service) appUsage() int64 {
	s.backoffMu.Lock()
	defer s.backoffMu.Unlock()
	if s.budget.appSeen.IsZero() || s.now().Sub(s.budget.appSeen) > appBudgetStale {
		return 0
	}
	return s.budget.appPercent
}

// slowedUntil reports until when the account gets no call because its budget is
// nearly spent.
func (s *Service) slowedUntil(wabaID string) (time.Time, bool) {
	s.backoffMu.Lock()
	defer s.backoffMu.Unlock()
	return s.slowUntil.active(wabaID, s.now())
}

// reporting makes the calls made with ctx report Meta's usage to the service.
func (s *Service) reporting(ctx context.Context) context.Context {
	return whatsapp.WithUsageReport(ctx, s.noteUsage)
}
