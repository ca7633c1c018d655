package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// The banner's "set a new PIN" path, as an administrator uses it after Meta said the
// PIN does not match (133005): the confirmation is required, the new PIN is set at Meta
// (POST /{phone-number-id} {pin}) and registration then succeeds with it.
func TestBannerSetsANewPINAfterConfirmationAndRegisters(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "pin_already_set")
	in := e.inbox(regPINSetInbox)
	admin := e.login("admin@reg.test")
	csrf := admin.csrf(regPath(in, ""))
	admin.htmxPost(regPath(in, "/registration"), url.Values{"from": {"settings"}}, csrf) // 133005
	setPINPath := "/" + in.PhoneNumberID

	// Without the confirmation nothing reaches Meta.
	_, doc, body := admin.htmxPost(regPath(in, "/pin"), url.Values{"pin": {"135790"}, "pin_mode": {"new"}, "from": {"settings"}}, csrf)
	if got := doc.Find(`[data-testid="pin-error"]`).Text(); !strings.Contains(got, "tick the box") {
		t.Fatalf("new PIN without confirmation: want the PIN form to ask for it, got %q", got)
	}
	if n := e.sim.CountRequests(http.MethodPost, setPINPath); n != 0 {
		t.Fatalf("new PIN without confirmation: want no call to Meta, got %d", n)
	}
	if strings.Contains(body, "135790") {
		t.Error("the PIN must never be rendered")
	}

	_, doc, body = admin.htmxPost(regPath(in, "/pin"), url.Values{"pin": {"135790"}, "pin_mode": {"new"},
		"confirm_reset": {"1"}, "from": {"settings"}}, csrf)
	if outcome, _ := doc.Find(`#registration-banner`).Attr("data-outcome"); outcome != "registered" {
		t.Fatalf("confirmed new PIN: want registered, got %q:\n%s", outcome, body)
	}
	if n := e.sim.CountRequests(http.MethodPost, setPINPath); n != 1 {
		t.Errorf("want exactly one set-PIN call, got %d", n)
	}
	st, _ := e.sim.Number(in.PhoneNumberID)
	if st.PIN != "135790" || e.pin(in) != "135790" {
		t.Errorf("Meta and the app must both hold the new PIN, got Meta %q, app %q", st.PIN, e.pin(in))
	}
	if strings.Contains(body, "135790") || strings.Contains(e.logs.String(), "135790") {
		t.Error("the PIN must never be rendered or logged")
	}
	attempts, err := e.store.Attempts(context.Background(), in.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) < 2 || attempts[0].Outcome != db.OutcomeRegistered || attempts[1].Outcome != db.OutcomePINSet || attempts[1].GraphCalled {
		t.Errorf("want a pin_set attempt (not counted as a register call) then a registered one, got %+v", attempts)
	}
}

func TestPINAPI(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "pin_already_set", "connected")
	in := e.inbox(regPINSetInbox)
	path := "/api/v1/accounts/" + itoa(e.admin.AccountID) + "/inboxes/" + itoa(in.ID) + "/pin"

	if rec := e.apiPost(e.admin.APIAccessToken, path, `{"pin":"12ab56"}`); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("malformed PIN: want 422, got %d %s", rec.Code, rec.Body)
	}
	if rec := e.apiPost(e.agent.APIAccessToken, path, `{"pin":"246810"}`); rec.Code != http.StatusForbidden {
		t.Errorf("agent: want 403, got %d", rec.Code)
	}
	if rec := e.apiPost(e.other.APIAccessToken, "/api/v1/accounts/"+itoa(e.other.AccountID)+"/inboxes/"+itoa(in.ID)+"/pin", `{"pin":"246810"}`); rec.Code != http.StatusNotFound {
		t.Errorf("another account's inbox: want 404, got %d", rec.Code)
	}
	// The PIN Meta already holds (the scenario's 246810) registers the number.
	rec := e.apiPost(e.admin.APIAccessToken, path, `{"pin":"246810"}`)
	var answer registrationAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("existing PIN: want 200 JSON, got %d %s", rec.Code, rec.Body)
	}
	if answer.Outcome != "registered" || strings.Contains(rec.Body.String(), "246810") {
		t.Errorf("existing PIN: want registered without echoing the PIN, got %s", rec.Body)
	}

	// A registered number's PIN may be stored ahead of a display-name change: no call.
	registered := e.inbox(regConnectedInbox)
	calls := e.registerCalls(registered)
	rec = e.apiPost(e.admin.APIAccessToken, "/api/v1/accounts/"+itoa(e.admin.AccountID)+"/inboxes/"+itoa(registered.ID)+"/pin", `{"pin":"111222"}`)
	if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Outcome != "skipped" || answer.State != "registered" {
		t.Errorf("PIN of a registered number: want skipped/registered, got %d %s", rec.Code, rec.Body)
	}
	if e.pin(registered) != "111222" || e.registerCalls(registered) != calls {
		t.Errorf("want the PIN stored and no register call, got PIN stored %v, %d new calls", e.pin(registered) == "111222", e.registerCalls(registered)-calls)
	}
}

func TestDeregisterAndRegisterAgainAfter133000(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(regPendingInbox)
	admin := e.login("admin@reg.test")
	csrf := admin.csrf(regPath(in, ""))

	// Offered only after Meta's 133000.
	_, doc, _ := admin.htmxPost(regPath(in, "/registration"), url.Values{"deregister_first": {"1"}, "from": {"settings"}}, csrf)
	if got := doc.Find(`[data-testid="registration-refusal"]`).Text(); !strings.Contains(got, "only offered after") {
		t.Errorf("deregister without 133000: want it refused in words, got %q", got)
	}
	if n := e.sim.CountRequests(http.MethodPost, "/"+in.PhoneNumberID+"/deregister"); n != 0 {
		t.Fatalf("deregister without 133000: want no call, got %d", n)
	}

	e.sim.Inject(http.MethodPost, "/"+in.PhoneNumberID+"/register", graphsim.FailureIncompleteDeregistration())
	_, doc, body := admin.htmxPost(regPath(in, "/registration"), url.Values{"from": {"settings"}}, csrf)
	if doc.Find(`[data-testid="deregister-and-register"]`).Length() != 1 || doc.Find(`[data-testid="complete-registration"]`).Length() != 0 {
		t.Fatalf("after 133000: want only the deregister-and-register button, got:\n%s", body)
	}
	_, doc, body = admin.htmxPost(regPath(in, "/registration"), url.Values{"deregister_first": {"1"}, "from": {"settings"}}, csrf)
	if outcome, _ := doc.Find(`#registration-banner`).Attr("data-outcome"); outcome != "registered" {
		t.Fatalf("deregister and register again: want registered, got %q:\n%s", outcome, body)
	}
	if d, r := e.sim.CountRequests(http.MethodPost, "/"+in.PhoneNumberID+"/deregister"), e.registerCalls(in); d != 1 || r != 2 {
		t.Errorf("want one deregister call and a second register call, got %d deregister, %d register", d, r)
	}
}
