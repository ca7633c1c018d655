package graphsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

type hold struct {
	ch   chan struct{}
	once sync.Once
}

// HoldRegister holds register calls for the number until release is called: Meta's side
// completes at once (the call is counted, the PIN stored, the number registered, or the
// error decided), but the HTTP answer is withheld until release or until the request's
// context ends (then nothing is written). It simulates a crash or timeout after Meta
// acted. release may be called more than once.
func (s *Server) HoldRegister(id string) (release func()) {
	h := &hold{ch: make(chan struct{})}
	s.mu.Lock()
	s.holds[id] = h
	s.mu.Unlock()
	return func() {
		h.once.Do(func() {
			s.mu.Lock()
			if s.holds[id] == h {
				delete(s.holds, id)
			}
			s.mu.Unlock()
			close(h.ch)
		})
	}
}

// registerLocked plays Meta's register call. Checks, in order: body (not counted);
// the moving 72 h limit (refused calls are not counted); then the call is counted and
// fails when the account is locked (131031), the number is not verified (133006), the
// display name is not APPROVED/AVAILABLE_WITHOUT_REVIEW (100/2388001), or a different
// PIN is already set (133005); otherwise Meta stores the PIN and the number becomes
// registered on the Cloud API.
func (s *Server) registerLocked(ns *numState, r *http.Request, body []byte, now time.Time) result {
	pin, f, valid := parseRegisterBody(r, body)
	if !valid {
		return s.failed(f)
	}
	res := s.registerCheckedLocked(ns, pin, now)
	if h := s.holds[ns.n.PhoneNumberID]; h != nil {
		res.hold = h.ch
	}
	return res
}

func (s *Server) registerCheckedLocked(ns *numState, pin string, now time.Time) result {
	ns.receivedPIN = pin
	ns.pruneCalls(now)
	if len(ns.calls) >= RegisterLimit {
		return s.failed(errRegisterRateLimited())
	}
	ns.calls = append(ns.calls, now)
	ns.totalCalls++
	n := &ns.n
	switch {
	case ns.biz.b.Locked:
		return s.failed(errAccountLocked())
	case n.CodeVerificationStatus != "" && n.CodeVerificationStatus != "VERIFIED":
		return s.failed(errNeedsVerification())
	}
	if name := effectiveNameStatus(*n); name != "APPROVED" && name != "AVAILABLE_WITHOUT_REVIEW" {
		return s.failed(errDisplayNameNotReady())
	}
	if n.PIN != "" && n.PIN != pin {
		return s.failed(errPINMismatch())
	}
	n.PIN = pin
	ns.registrations++
	if n.PlatformType != "CLOUD_API" {
		n.PlatformType = "CLOUD_API"
		n.ThroughputLevel = "STANDARD"
		if n.LastOnboardedTime == "" {
			n.LastOnboardedTime = now.UTC().Format("2006-01-02T15:04:05-0700")
		}
		ns.phone = HealthEntity{EntityType: EntityPhoneNumber, ID: n.PhoneNumberID, CanSendMessage: CanSendAvailable}
	}
	if n.ThroughputLevel == "" || n.ThroughputLevel == "NOT_APPLICABLE" {
		n.ThroughputLevel = "STANDARD"
	}
	switch n.Status {
	case "", "PENDING", "UNVERIFIED", "DISCONNECTED", "UNKNOWN":
		// Registration connects a number that was not live; a FLAGGED, RESTRICTED or
		// BANNED number keeps its status.
		n.Status = "CONNECTED"
	}
	s.logger.Info("graphsim number registered", "phone_number_id", n.PhoneNumberID, "waba_id", ns.biz.b.WABAID)
	return ok(map[string]bool{"success": true})
}

// parseRegisterBody reads {"messaging_product":"whatsapp","pin":"123456"} from a JSON
// or form body.
func parseRegisterBody(r *http.Request, body []byte) (pin string, f failure, valid bool) {
	params := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", errParam("Invalid parameter", "Request body is not a valid form."), false
		}
		for k := range form {
			params[k] = form.Get(k)
		}
	} else {
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil {
			return "", errParam("Invalid parameter", "Request body is not valid JSON."), false
		}
		for k, v := range in {
			sv, isString := v.(string)
			if !isString {
				return "", errParam("Param "+k+" must be a string", ""), false
			}
			params[k] = sv
		}
	}
	mp, hasMP := params["messaging_product"]
	switch {
	case !hasMP || mp == "":
		return "", errParam("The parameter messaging_product is required.", ""), false
	case !strings.EqualFold(mp, "whatsapp"):
		return "", errParam(`Param messaging_product must be one of {WHATSAPP} - got "`+mp+`".`, ""), false
	}
	pin, hasPIN := params["pin"]
	switch {
	case !hasPIN || pin == "":
		return "", errParam("The parameter pin is required.", ""), false
	case !isPIN(pin):
		return "", errParam("Invalid parameter", "Param pin must be a 6-digit number."), false
	}
	return pin, failure{}, true
}
