package graphsim

import (
	"fmt"
	"net/http"
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

// registerLocked plays Meta's register call
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/registration).
// Checks, in order: body (not counted); the moving 72 h limit shared with deregister
// (refused calls are not counted); then the call is counted and fails when the account
// is locked (131031), the number is not verified (133006), the number is a coexistence
// number on the WhatsApp Business app (#100, see errCoexistenceRegister), a previous
// deregistration did not finish (133000), a number not yet registered has no approved
// display name (100/2388001), or a different PIN is already set (133005); otherwise
// Meta stores the PIN and the number becomes registered on the Cloud API. On a number
// already registered, the call applies a display-name change approved since; one still
// in review is unaffected ("re-registering before approval has no effect").
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

// countCallLocked counts a register or deregister call in the shared moving window, or
// refuses it with 133016 when the window is full.
func (s *Server) countCallLocked(ns *numState, now time.Time) (failure, bool) {
	ns.pruneCalls(now)
	if len(ns.calls) >= RegisterLimit {
		return errRegisterRateLimited(), false
	}
	ns.calls = append(ns.calls, now)
	ns.totalCalls++
	return failure{}, true
}

func (s *Server) registerCheckedLocked(ns *numState, pin string, now time.Time) result {
	ns.receivedPIN = pin
	if f, counted := s.countCallLocked(ns, now); !counted {
		return s.failed(f)
	}
	n := &ns.n
	registered := n.PlatformType == "CLOUD_API"
	switch {
	case ns.biz.b.Locked:
		return s.failed(errAccountLocked())
	case n.CodeVerificationStatus != "" && n.CodeVerificationStatus != "VERIFIED":
		return s.failed(errNeedsVerification())
	case n.IsOnBizApp:
		return s.failed(errCoexistenceRegister())
	case n.DeregistrationIncomplete:
		return s.failed(errIncompleteDeregistration())
	}
	if name := effectiveNameStatus(*n); !registered && name != "APPROVED" && name != "AVAILABLE_WITHOUT_REVIEW" {
		return s.failed(errDisplayNameNotReady())
	}
	if n.PIN != "" && n.PIN != pin {
		return s.failed(errPINMismatch())
	}
	n.PIN = pin
	ns.registrations++
	if ns.nameChangeApproved {
		s.logger.Info("graphsim approved display name applied", "phone_number_id", n.PhoneNumberID)
		n.VerifiedName, n.RequestedVerifiedName, n.NewNameStatus = n.RequestedVerifiedName, "", "NONE"
		ns.nameChangeApproved = false
	}
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
// or form body (or the query string), as
// https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/registration
// describes it.
func parseRegisterBody(r *http.Request, body []byte) (pin string, f failure, valid bool) {
	params, f, valid := requestParams(r, body)
	if !valid {
		return "", f, false
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

// deregisterLocked plays POST /{phone-number-id}/deregister. It counts in the same
// moving window of 10 calls per 72 h as register (refused with 133016 when full,
// https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/registration),
// ends an incomplete deregistration, and leaves the number unregistered: platform_type
// and throughput NOT_APPLICABLE, as Meta shows a number registered with neither API.
// A number that is not registered is deregistered again without error.
func (s *Server) deregisterLocked(ns *numState, now time.Time) result {
	if f, counted := s.countCallLocked(ns, now); !counted {
		return s.failed(f)
	}
	n := &ns.n
	n.PlatformType, n.ThroughputLevel = "NOT_APPLICABLE", "NOT_APPLICABLE"
	n.DeregistrationIncomplete = false
	if n.Status == "CONNECTED" {
		n.Status = "PENDING"
	}
	ns.phone = HealthEntity{EntityType: EntityPhoneNumber, ID: n.PhoneNumberID}
	ns.deregistrations++
	s.logger.Info("graphsim number deregistered", "phone_number_id", n.PhoneNumberID, "waba_id", ns.biz.b.WABAID)
	return ok(map[string]bool{"success": true})
}

// RequestNameChange submits a new display name for a registered number, as editing it
// in WhatsApp Manager or via the API does
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/display-names):
// new_name_status becomes PENDING_REVIEW and verified_name stays the old name. The
// review completes after reviewDelay (zero or less: only ApproveName or DeclineName end
// it) and sends phone_number_name_update. An approved name takes effect at the next
// register call after approval.
func (s *Server) RequestNameChange(id, newName string, reviewDelay time.Duration) error {
	if strings.TrimSpace(newName) == "" {
		return fmt.Errorf("graphsim: number %s: new display name is empty", id)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.numbers[id]
	switch {
	case ns == nil:
		return fmt.Errorf("graphsim: number %s does not exist", id)
	case ns.n.PlatformType != "CLOUD_API":
		return fmt.Errorf("graphsim: number %s is not registered; its first display name is reviewed through name_status", id)
	}
	ns.n.RequestedVerifiedName, ns.n.NewNameStatus = newName, "PENDING_REVIEW"
	ns.nameChangeApproved = false
	delete(s.reviews, id)
	ns.reviewDue, ns.reviewOutcome = time.Time{}, "APPROVED"
	if reviewDelay > 0 {
		ns.reviewDue = now.Add(reviewDelay)
		s.reviews[id] = ns
	}
	s.logger.Info("graphsim display name change requested", "phone_number_id", id)
	return nil
}
