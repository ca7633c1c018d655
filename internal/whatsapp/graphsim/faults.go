package graphsim

import (
	"net/http"
	"time"
)

// Faults makes the simulator misbehave like a struggling Meta. Random choices come from
// the server's seeded source (Config.Seed), so a run is repeatable.
type Faults struct {
	// Latency delays every answer; a request whose context ends meanwhile gets none.
	Latency time.Duration
	// ServerErrorRate (0..1) is the share of requests answered HTTP 500 with a transient
	// code 1 or 2 body.
	ServerErrorRate float64
	// HangRate (0..1) is the share of requests never answered: they hang until the
	// request's context ends (or the server is closed).
	HangRate float64
	// RateLimit answers every authenticated request for a known object with 80008
	// (HTTP 400) and an X-Business-Use-Case-Usage header whose
	// estimated_time_to_regain_access is RateLimitMinutes (default 5).
	RateLimit        bool
	RateLimitMinutes int
}

// SetFaults replaces the global faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// ClearFaults removes the global faults, every per-WABA rate limit and every pending
// FailNext error.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = Faults{}
	clear(s.rateLimits)
	clear(s.injected)
}

// RateLimitBusiness answers 80008 to every request on the WABA and its numbers for the
// next minutes (by the server's clock); the header tells the minutes left, rounded up.
// minutes <= 0 lifts the limit.
func (s *Server) RateLimitBusiness(wabaID string, minutes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if minutes <= 0 {
		delete(s.rateLimits, wabaID)
		return
	}
	s.rateLimits[wabaID] = s.clock.Now().Add(time.Duration(minutes) * time.Minute)
}

func (s *Server) rateLimitLocked(wabaID string, now time.Time) (failure, bool) {
	if s.faults.RateLimit {
		minutes := s.faults.RateLimitMinutes
		if minutes <= 0 {
			minutes = 5
		}
		return errBusinessRateLimited(wabaID, minutes), true
	}
	until, limited := s.rateLimits[wabaID]
	if !limited {
		return failure{}, false
	}
	left := until.Sub(now)
	if left <= 0 {
		delete(s.rateLimits, wabaID)
		return failure{}, false
	}
	minutes := int((left + time.Minute - 1) / time.Minute)
	return errBusinessRateLimited(wabaID, minutes), true
}

type injection struct {
	status int
	err    GraphError
}

// FailNext makes the next request with this method and path (without the version
// prefix, e.g. "/109876543210001/register") that passes authentication answer the given
// HTTP status and error instead, without touching any state. Calls queue up: each error
// is used once. Use it for codes the simulator does not model (133008, 133015, 130429...).
// Type defaults to OAuthException.
func (s *Server) FailNext(method, path string, status int, e GraphError) {
	if e.Type == "" {
		e.Type = oauthException
	}
	if status == 0 {
		status = http.StatusBadRequest
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := method + " " + path
	s.injected[key] = append(s.injected[key], injection{status: status, err: e})
}

// Inject is FailNext with one of the Failure answers, e.g.
// sim.Inject(http.MethodPost, "/123/register", graphsim.FailurePolicyBlocked()).
func (s *Server) Inject(method, path string, f Failure) {
	s.FailNext(method, path, f.Status, f.Error)
}

func (s *Server) takeInjectionLocked(method, path string) (failure, bool) {
	key := method + " " + path
	q := s.injected[key]
	if len(q) == 0 {
		return failure{}, false
	}
	if len(q) == 1 {
		delete(s.injected, key)
	} else {
		s.injected[key] = q[1:]
	}
	return failure{status: q[0].status, err: q[0].err}, true
}

// HoldNext withholds the answer to the next request with this method and path (without
// the version prefix, e.g. "/109876543210001"): Meta decides it when it arrives, from
// the state then, but the HTTP answer is written only after release (or never, when
// the request's context ends first). Together with a later request answered at once it
// plays an answer overtaken by a newer one: a slow read that finishes after a fresher
// one. Holds queue up: each is used by one request. release may be called more than once.
func (s *Server) HoldNext(method, path string) (release func()) {
	h := &hold{ch: make(chan struct{})}
	key := method + " " + path
	s.mu.Lock()
	s.heldNext[key] = append(s.heldNext[key], h)
	s.mu.Unlock()
	return func() { h.once.Do(func() { close(h.ch) }) }
}

func (s *Server) takeHoldLocked(method, path string) *hold {
	key := method + " " + path
	q := s.heldNext[key]
	if len(q) == 0 {
		return nil
	}
	if len(q) == 1 {
		delete(s.heldNext, key)
	} else {
		s.heldNext[key] = q[1:]
	}
	return q[0]
}
