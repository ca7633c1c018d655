package graphsim

import "time"

// Request is one request the simulator received. It never holds the access token or a
// PIN.
type Request struct {
	Method       string
	Path         string    // without version prefix and query, e.g. "/109876543210001/register"
	ObjectID     string    // first path segment: the phone-number or WABA id asked for
	WABAID       string    // business account of the object, when the token could see it
	Time         time.Time // by the server's clock, when received
	Status       int       // HTTP status answered; 0 while in flight or when none was written
	ErrorCode    int       // Graph error code answered, 0 on success
	ErrorSubcode int
	ValidToken   bool   // the request carried a known, unexpired token
	Fault        string // "", "latency", "hang", "server_error", "rate_limit", "budget", "injected" or "held"
	// OverrideCallbackURI is the webhook override the request asked for (POST
	// /{waba-id}/subscribed_apps or POST /{phone-number-id}), whether or not Meta
	// accepted it; "" when it asked for none.
	OverrideCallbackURI string
}

func (s *Server) appendRequestLocked(rec *Request) {
	if s.maxRequests > 0 && len(s.requests) >= s.maxRequests {
		keep := s.requests[len(s.requests)/2:]
		s.requests = append(make([]*Request, 0, s.maxRequests), keep...)
	}
	s.requests = append(s.requests, rec)
}

// Requests returns copies of the logged requests, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = *r
	}
	return out
}

// CountRequests counts logged requests with this method ("" for any) and exactly this
// path without the version prefix, e.g. CountRequests("POST", "/123/register").
func (s *Server) CountRequests(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if (method == "" || r.Method == method) && r.Path == path {
			n++
		}
	}
	return n
}

// ResetRequests empties the request log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}
