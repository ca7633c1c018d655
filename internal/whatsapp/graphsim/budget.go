package graphsim

import (
	"fmt"
	"net/http"
	"time"
)

// Budget makes the simulator count calls against Meta's rate-limit budgets and report
// them as Meta does (https://developers.facebook.com/docs/graph-api/overview/rate-limiting):
// every answer about a business account (WABA) or one of its numbers carries
// X-Business-Use-Case-Usage for that account (use case whatsapp_business_management)
// and X-App-Usage for the app, each figure the percentage of the budget used in the
// last Window. Meta does not publish the WhatsApp management budgets as call counts;
// the simulator's are whatever the test sets. A call that finds a budget spent is
// answered as Meta does and not counted: 80008 with estimated_time_to_regain_access
// for the account, code 4 ("Application request limit reached") for the app.
type Budget struct {
	// BusinessCalls is the calls per WABA per Window; 0: no business budget.
	BusinessCalls int
	// AppCalls is the calls of the whole app per Window; 0: no app budget.
	AppCalls int
	// Window is the moving window the budgets count in; one hour when zero.
	Window time.Duration
}

// SetBudget replaces the budgets (the zero Budget turns them off) and forgets the calls
// counted so far.
func (s *Server) SetBudget(b Budget) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.Window <= 0 {
		b.Window = time.Hour
	}
	s.budget = b
	clear(s.bizCalls)
	s.appCalls = nil
}

func (s *Server) budgetOnLocked() bool { return s.budget.BusinessCalls > 0 || s.budget.AppCalls > 0 }

func prune(calls []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(calls) && !calls[i].After(since) {
		i++
	}
	return calls[i:]
}

// spendBudgetLocked counts a call about the WABA, or refuses it when a budget is spent.
func (s *Server) spendBudgetLocked(wabaID string, now time.Time) (failure, bool) {
	if !s.budgetOnLocked() {
		return failure{}, false
	}
	since := now.Add(-s.budget.Window)
	s.bizCalls[wabaID] = prune(s.bizCalls[wabaID], since)
	s.appCalls = prune(s.appCalls, since)
	if b := s.budget.BusinessCalls; b > 0 && len(s.bizCalls[wabaID]) >= b {
		regain := s.bizCalls[wabaID][0].Add(s.budget.Window).Sub(now)
		return errBusinessRateLimited(wabaID, int((regain+time.Minute-1)/time.Minute)), true
	}
	if a := s.budget.AppCalls; a > 0 && len(s.appCalls) >= a {
		return errAppRateLimited(), true
	}
	s.bizCalls[wabaID] = append(s.bizCalls[wabaID], now)
	s.appCalls = append(s.appCalls, now)
	return failure{}, false
}

// usageHeadersLocked adds the usage headers of an answer about the WABA to h.
func (s *Server) usageHeadersLocked(wabaID string, h http.Header) http.Header {
	if !s.budgetOnLocked() {
		return h
	}
	if h == nil {
		h = http.Header{}
	}
	percent := func(n, of int) int {
		if of <= 0 {
			return 0
		}
		return min(100, n*100/of)
	}
	if h.Get("X-Business-Use-Case-Usage") == "" {
		p := percent(len(s.bizCalls[wabaID]), s.budget.BusinessCalls)
		h.Set("X-Business-Use-Case-Usage", fmt.Sprintf(
			`{%q:[{"type":"whatsapp_business_management","call_count":%d,"total_cputime":%d,"total_time":%d,"estimated_time_to_regain_access":0}]}`,
			wabaID, p, p/4, p/3))
	}
	p := percent(len(s.appCalls), s.budget.AppCalls)
	h.Set("X-App-Usage", fmt.Sprintf(`{"call_count":%d,"total_cputime":%d,"total_time":%d}`, p, p/4, p/3))
	return h
}

// CountFaults counts the logged requests answered with the given fault ("budget",
// "rate_limit", "injected"...).
func (s *Server) CountFaults(fault string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Fault == fault {
			n++
		}
	}
	return n
}

// errAppRateLimited is Meta's app-level throttle: code 4, "Application request limit
// reached" (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
func errAppRateLimited() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message:     "(#4) Application request limit reached",
		Type:        oauthException,
		Code:        CodeAppRateLimit,
		IsTransient: boolPtr(true),
	}}
}
