package graphsim

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Phone-number verification, steps 2 and 3 of Meta's "Registering business phone
// numbers" (https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/registering-phone-numbers/):
// POST /{phone-number-id}/request_code sends a one-time code by SMS or voice call, and
// POST /{phone-number-id}/verify_code {"code"} proves it arrived, after which
// code_verification_status is VERIFIED and register may be called.
//
// Limits. Meta's pages name the error (136024 "Request code error" on the request_code
// reference, https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account-to-number-current-status/request_code/)
// but publish no numbers for how often a code may be requested or how long it lasts.
// The simulator models, as its own choice:
//   - at most CodeRequestLimit codes per number in a moving CodeRequestWindow; a further
//     request is refused with 136024 and not counted;
//   - a code is valid for CodeTTL and only once; a new request replaces the old code;
//   - a number already VERIFIED is refused with 136024 (there is nothing to verify);
//   - wrong guesses are not limited.
const (
	CodeRequestLimit  = 3
	CodeRequestWindow = time.Hour
	CodeTTL           = 10 * time.Minute
)

// verification is one number's request_code / verify_code state.
type verification struct {
	code     string      // the code currently outstanding; "" after use
	expires  time.Time   // when code stops being accepted
	requests []time.Time // counted requests in the moving window, oldest first
	sent     int         // counted requests since loading
	method   string      // of the last code sent
	language string
}

func (v *verification) pruneRequests(now time.Time) {
	cut := 0
	for cut < len(v.requests) && !v.requests[cut].After(now.Add(-CodeRequestWindow)) {
		cut++
	}
	v.requests = v.requests[cut:]
}

func (v *verification) validCode(now time.Time) (string, bool) {
	if v.code == "" || !now.Before(v.expires) {
		return "", false
	}
	return v.code, true
}

// localePattern accepts Meta's language codes as its request_code reference shows them:
// "en_US", and the two-letter "en".
var localePattern = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z]{2})?$`)

// requestCodeLocked plays POST /{phone-number-id}/request_code. code_method (SMS or
// VOICE; the reference for newer versions adds IVR) and language are both required, as
// the request_code reference says, and may come as query parameters (its own example),
// a JSON or a form body. The answer is {"success":true}.
func (s *Server) requestCodeLocked(ns *numState, r *http.Request, body []byte, now time.Time) result {
	params, f, valid := requestParams(r, body)
	if !valid {
		return s.failed(f)
	}
	method, language := params["code_method"], params["language"]
	switch {
	case method == "":
		return s.failed(errParam("The parameter code_method is required.", ""))
	case method != "SMS" && method != "VOICE" && method != "IVR":
		return s.failed(errParam(`Param code_method must be one of {SMS, VOICE, IVR} - got "`+method+`".`, ""))
	case language == "":
		return s.failed(errParam("The parameter language is required.", ""))
	case !localePattern.MatchString(language):
		return s.failed(errParam("Invalid parameter", "Param language must be a locale such as en_US."))
	}
	n := &ns.n
	v := &ns.verification
	v.pruneRequests(now)
	switch {
	case n.CodeVerificationStatus == "VERIFIED":
		return s.failed(errCodeNotSent("This phone number is already verified; no code was sent."))
	case n.CodeRequestFails:
		return s.failed(errCodeNotSent("A verification code cannot be sent to this phone number by " + method + "."))
	case len(v.requests) >= CodeRequestLimit:
		return s.failed(errCodeNotSent(fmt.Sprintf(
			"Too many verification code requests for this phone number. Try again in %d minutes.",
			minutesUntil(now, v.requests[0].Add(CodeRequestWindow)))))
	}
	v.requests = append(v.requests, now)
	v.sent++
	v.code = fmt.Sprintf("%06d", s.rng.IntN(1_000_000))
	v.expires = now.Add(CodeTTL)
	v.method, v.language = method, language
	s.logger.Info("graphsim verification code sent", "phone_number_id", n.PhoneNumberID, "code_method", method, "language", language)
	return ok(map[string]bool{"success": true})
}

// verifyCodeLocked plays POST /{phone-number-id}/verify_code {"code":"123456"}: the
// outstanding code, before it expires, verifies the number once; anything else (a wrong
// code, one already used, one expired, or no code requested) is 136025.
func (s *Server) verifyCodeLocked(ns *numState, r *http.Request, body []byte, now time.Time) result {
	params, f, valid := requestParams(r, body)
	if !valid {
		return s.failed(f)
	}
	code := params["code"]
	if code == "" {
		return s.failed(errParam("The parameter code is required.", ""))
	}
	v := &ns.verification
	want, outstanding := v.validCode(now)
	if !outstanding || code != want {
		return s.failed(errCodeWrong())
	}
	v.code, v.expires = "", time.Time{}
	ns.n.CodeVerificationStatus = "VERIFIED"
	s.logger.Info("graphsim phone number verified", "phone_number_id", ns.n.PhoneNumberID)
	return ok(map[string]bool{"success": true})
}

func minutesUntil(now, t time.Time) int {
	return max(1, int((t.Sub(now)+time.Minute-1)/time.Minute))
}

// VerificationCode is the code currently valid for the number (sent by request_code,
// not yet used or expired), for tests and the demo; ok is false when there is none.
func (s *Server) VerificationCode(phoneNumberID string) (code string, ok bool) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.numbers[phoneNumberID]
	if ns == nil {
		return "", false
	}
	return ns.verification.validCode(now)
}

// CodesPath is the page, outside the version prefix, that lists every valid
// verification code: the simulator's stand-in for the SMS or call, so a demo visitor
// can complete verification.
const CodesPath = "/_sim/codes"

// serveCodes answers CodesPath with a small HTML page. It needs no token: the codes are
// the simulator's own and the page exists to show them.
func (s *Server) serveCodes(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	now := s.clock.Now()
	type row struct{ id, phone, code, method string }
	var rows []row
	s.mu.Lock()
	for _, bs := range s.businessOrderLocked() {
		for _, ns := range bs.numbers {
			if code, valid := ns.verification.validCode(now); valid {
				rows = append(rows, row{ns.n.PhoneNumberID, ns.n.DisplayPhoneNumber, code, ns.verification.method})
			}
		}
	}
	s.mu.Unlock()

	var b strings.Builder
	b.WriteString("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Simulated verification codes</title></head><body>\n")
	b.WriteString("<h1>Simulated verification codes</h1>\n")
	b.WriteString("<p>This page is the Graph API simulator's stand-in for the SMS or voice call Meta would send. " +
		"Each number below has a code from request_code that verify_code still accepts (valid once, for " +
		CodeTTL.String() + ").</p>\n")
	if len(rows) == 0 {
		b.WriteString("<p data-testid=\"no-codes\">No number has a valid code right now.</p>\n")
	} else {
		b.WriteString("<table>\n<tr><th>Phone number</th><th>Phone number id</th><th>Sent by</th><th>Code</th></tr>\n")
		for _, rw := range rows {
			fmt.Fprintf(&b, "<tr data-testid=\"code-%s\"><td>%s</td><td>%s</td><td>%s</td><td><code>%s</code></td></tr>\n",
				html.EscapeString(rw.id), html.EscapeString(rw.phone), html.EscapeString(rw.id),
				html.EscapeString(rw.method), html.EscapeString(rw.code))
		}
		b.WriteString("</table>\n")
	}
	b.WriteString("</body></html>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte(b.String()))
	}
}
