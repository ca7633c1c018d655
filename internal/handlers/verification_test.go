package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const regNotVerifiedInbox = "Acme Sales" // demo: code_verification_status NOT_VERIFIED

// The banner's verification flow, as an administrator walks it: ask for a code, wait
// before asking again, a wrong code refused next to the field, the right one verifies
// the number and registers it with one call.
func TestBannerVerifiesTheNumberThenRegisters(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "demo")
	in := e.inbox(regNotVerifiedInbox)
	e.refresh(in)
	admin := e.login("admin@reg.test")
	_, doc, _ := admin.getDoc(regPath(in, ""))
	if doc.Find(`[data-testid="code-request-form"]`).Length() != 1 || doc.Find(`[data-testid="complete-registration"]`).Length() != 0 {
		t.Fatalf("not verified: want the code request and no register button, got %q", doc.Find(`#registration-banner`).Text())
	}
	csrf := admin.csrf(regPath(in, ""))

	_, doc, body := admin.htmxPost(regPath(in, "/verification"), url.Values{"method": {"SMS"}, "language": {"en_US"}, "from": {"settings"}}, csrf)
	if doc.Find(`[data-testid="registration-notice"]`).Length() != 1 || doc.Find(`[data-testid="code-form"]`).Length() != 1 {
		t.Fatalf("after a code request: want the notice and the code field, got:\n%s", body)
	}
	if doc.Find(`[data-testid="request-code"][disabled]`).Length() != 1 {
		t.Errorf("send again must be disabled right after a request")
	}
	if got := doc.Find(`[data-testid="code-note"]`).Text(); !strings.Contains(got, "less than a minute ago") {
		t.Errorf("send again: want the wait shown, got %q", got)
	}
	code, ok := e.sim.VerificationCode(in.PhoneNumberID)
	if !ok {
		t.Fatal("the simulator sent no code")
	}
	if strings.Contains(body, code) {
		t.Error("the code must never be rendered by the app")
	}

	_, doc, _ = admin.htmxPost(regPath(in, "/verification"), url.Values{"method": {"SMS"}, "from": {"settings"}}, csrf)
	if got := doc.Find(`[data-testid="registration-refusal"]`).Text(); !strings.Contains(got, "less than a minute ago") {
		t.Errorf("a second request within a minute: want it refused with the wait, got %q", got)
	}
	if n := e.sim.CountRequests(http.MethodPost, "/"+in.PhoneNumberID+"/request_code"); n != 1 {
		t.Errorf("want exactly one code request sent to Meta, got %d", n)
	}

	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	_, doc, _ = admin.htmxPost(regPath(in, "/verification/code"), url.Values{"code": {wrong}, "from": {"settings"}}, csrf)
	if doc.Find(`[data-testid="code-error"]`).Length() != 1 || doc.Find(`[data-testid="code-form"]`).Length() != 1 {
		t.Fatalf("wrong code: want it refused next to the field, and the field again; got %q", doc.Find(`#registration-banner`).Text())
	}
	if n := e.registerCalls(in); n != 0 {
		t.Fatalf("wrong code: want no register call, got %d", n)
	}

	_, doc, body = admin.htmxPost(regPath(in, "/verification/code"), url.Values{"code": {code}, "from": {"settings"}}, csrf)
	if outcome, _ := doc.Find(`#registration-banner`).Attr("data-outcome"); outcome != "registered" {
		t.Fatalf("right code: want the number registered, got %q:\n%s", outcome, body)
	}
	if n := e.registerCalls(in); n != 1 {
		t.Errorf("want exactly one register call, got %d", n)
	}
	if strings.Contains(e.logs.String(), code) {
		t.Error("the code must never be logged")
	}
}

func TestVerificationAPI(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "demo")
	in := e.inbox(regNotVerifiedInbox)
	e.refresh(in)
	base := "/api/v1/accounts/" + itoa(e.admin.AccountID) + "/inboxes/" + itoa(in.ID) + "/verification"

	if rec := e.apiPost(e.agent.APIAccessToken, base, `{"method":"SMS"}`); rec.Code != http.StatusForbidden {
		t.Errorf("agent: want 403, got %d", rec.Code)
	}
	if rec := e.apiPost(e.other.APIAccessToken, "/api/v1/accounts/"+itoa(e.other.AccountID)+"/inboxes/"+itoa(in.ID)+"/verification", `{"method":"SMS"}`); rec.Code != http.StatusNotFound {
		t.Errorf("another account's inbox: want 404, got %d", rec.Code)
	}
	if rec := e.apiPost(e.admin.APIAccessToken, base, `{"method":"PIGEON"}`); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("unknown method: want 422, got %d %s", rec.Code, rec.Body)
	}
	rec := e.apiPost(e.admin.APIAccessToken, base, `{"method":"VOICE","language":"pt_BR"}`)
	var sent verificationAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &sent); err != nil || rec.Code != http.StatusOK || !sent.Sent || sent.RetryAfter != 60 {
		t.Fatalf("code request: want 200 {sent:true, retry_after_s:60}, got %d %s", rec.Code, rec.Body)
	}
	if rec := e.apiPost(e.admin.APIAccessToken, base, `{"method":"SMS"}`); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("second request within a minute: want 429 with Retry-After, got %d %s", rec.Code, rec.Body)
	}

	rec = e.apiPost(e.admin.APIAccessToken, base+"/code", `{"code":"12345"}`)
	if rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("a 5-digit code: want 422, got %d", rec.Code)
	}
	code, _ := e.sim.VerificationCode(in.PhoneNumberID)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	var answer registrationAnswer
	rec = e.apiPost(e.admin.APIAccessToken, base+"/code", `{"code":"`+wrong+`"}`)
	if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Outcome != "failed" || answer.Error == nil || answer.Error.Type != "code_wrong" {
		t.Errorf("wrong code: want failed code_wrong, got %d %s", rec.Code, rec.Body)
	}
	rec = e.apiPost(e.admin.APIAccessToken, base+"/code", `{"code":"`+code+`"}`)
	if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Outcome != "registered" {
		t.Errorf("right code: want registered, got %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), code) {
		t.Error("the code must never be echoed")
	}
}
