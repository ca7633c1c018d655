package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// Inboxes of the simulator's scenarios.
const (
	regPendingInbox   = "Acme Support"              // pending_provisioning
	regInReviewInbox  = "Blue Harbor Travel"        // name_in_review
	regPINSetInbox    = "Harbor Pharmacy"           // pin_already_set: Meta holds 246810
	regConnectedInbox = "Padaria Central — Support" // connected
)

func TestRegistrationAgentsCannotTrigger(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(regPendingInbox)
	agent := e.login("agent@reg.test")

	_, doc, _ := agent.getDoc(regPath(in, ""))
	banner := doc.Find(`[data-testid="registration-banner"]`)
	if banner.Length() != 1 {
		t.Fatal("agents see the banner too (what is wrong), want it on the page")
	}
	if banner.Find(`[data-testid="complete-registration"], form`).Length() != 0 {
		t.Error("agents must not see the registration button or any form in the banner")
	}
	if banner.Find(`[data-testid="registration-admin-only"]`).Length() != 1 {
		t.Error("agents should be told an administrator can complete registration")
	}

	csrf := agent.csrf(regPath(in, ""))
	resp, _ := agent.post(regPath(in, "/registration"), url.Values{"_csrf": {csrf}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent posting the banner: want 403, got %d", resp.StatusCode)
	}
	resp, _, _ = agent.htmxPost(regPath(in, "/registration"), url.Values{}, csrf)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent posting with htmx: want 403, got %d", resp.StatusCode)
	}
	resp, _ = agent.post(regPath(in, "/pin"), url.Values{"_csrf": {csrf}, "pin": {"123456"}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent posting a PIN: want 403, got %d", resp.StatusCode)
	}
	if rec := e.apiPost(e.agent.APIAccessToken, regAPIPath(in.AccountID, in), ""); rec.Code != http.StatusForbidden {
		t.Errorf("agent calling the API: want 403, got %d %s", rec.Code, rec.Body)
	}
	if n := e.registerCalls(in); n != 0 {
		t.Fatalf("agents made %d register calls, want 0", n)
	}
}

func TestRegistrationCSRFEnforced(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(regPendingInbox)
	admin := e.login("admin@reg.test")

	resp, _ := admin.post(regPath(in, "/registration"), url.Values{"from": {"settings"}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without a CSRF token: want 403, got %d", resp.StatusCode)
	}
	resp, _ = admin.post(regPath(in, "/registration"), url.Values{"_csrf": {"forged"}}, map[string]string{"HX-Request": "true"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST with a wrong CSRF token: want 403, got %d", resp.StatusCode)
	}
	resp, _ = admin.post(regPath(in, "/pin"), url.Values{"pin": {"123456"}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site PIN post: want 403, got %d", resp.StatusCode)
	}
	if n := e.registerCalls(in); n != 0 {
		t.Fatalf("refused posts made %d register calls, want 0", n)
	}
	resp, _ = admin.post(regPath(in, "/registration"), url.Values{"_csrf": {admin.csrf(regPath(in, ""))}}, nil)
	if resp.StatusCode != http.StatusSeeOther || e.registerCalls(in) != 1 {
		t.Errorf("with the token: want 303 and one register call, got %d and %d", resp.StatusCode, e.registerCalls(in))
	}
}

func TestRegistrationBannerHTMXSwapsResultAndBadges(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(regPendingInbox)
	admin := e.login("admin@reg.test")

	_, doc, _ := admin.getDoc(regPath(in, "/health"))
	form := doc.Find(`#registration-banner form[data-testid="registration-form"]`)
	for attr, want := range map[string]string{
		"hx-post": regPath(in, "/registration"), "hx-target": "#registration-banner", "hx-swap": "outerHTML",
		"hx-select": "#registration-banner", "hx-select-oob": "#inbox-status,#health-panel,#health-changes,#registration-attempts", "hx-disabled-elt": "find button",
		"method": "post", "action": regPath(in, "/registration"),
	} {
		if got, _ := form.Attr(attr); got != want {
			t.Errorf("banner form %s: want %q, got %q", attr, want, got)
		}
	}
	if form.Find(`button .spinner`).Length() != 1 {
		t.Error("the button must hold a spinner shown while the request is in flight")
	}
	from, _ := form.Find(`input[name="from"]`).Attr("value")

	csrf := admin.csrf(regPath(in, "/health"))
	resp, answer, body := admin.htmxPost(regPath(in, "/registration"), url.Values{"from": {from}}, csrf)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("htmx post: want 200 (htmx swaps only 2xx), got %d: %s", resp.StatusCode, body)
	}
	banner := answer.Find(`#registration-banner`)
	if outcome, _ := banner.Attr("data-outcome"); outcome != "registered" || !strings.Contains(banner.Text(), "Registered") {
		t.Errorf("answer banner: want the green Registered confirmation, got outcome %q: %s", outcome, banner.Text())
	}
	if tone, _ := banner.Attr("data-tone"); tone != "green" {
		t.Error("the confirmation must be green")
	}
	if status, _ := answer.Find(`#inbox-status [data-testid="overall-status"]`).Attr("data-status"); status == "" {
		t.Error("the answer must carry the new overall badge (#inbox-status) for the out-of-band swap")
	}
	if answer.Find(`#health-panel`).Length() != 1 {
		t.Error("on the Account Health tab the answer must carry the new badges panel (#health-panel)")
	}
	if rows := answer.Find(`#registration-attempts [data-testid="registration-attempt"]`); rows.Length() != 1 {
		t.Errorf("on the Account Health tab the answer must carry the attempts table with the new attempt, got %d rows", rows.Length())
	}
	if pin := e.pin(in); pin == "" || strings.Contains(body, pin) || strings.Contains(e.logs.String(), pin) {
		t.Error("the PIN must be stored, and never appear in HTML or logs")
	}

	// Registered: the pages show no banner any more.
	_, doc, _ = admin.getDoc(regPath(in, ""))
	if doc.Find(`[data-testid="registration-banner"]`).Length() != 0 {
		t.Error("a registered number must show no banner")
	}
}

func TestRegistrationWithoutJavaScriptRedirectsWithFlash(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning", "name_in_review")
	admin := e.login("admin@reg.test")

	review := e.inbox(regInReviewInbox)
	admin.getDoc(regPath(review, "/health")) // the Account Health tab checks the number with Meta
	csrf := admin.csrf(regPath(review, ""))
	_, doc, _ := admin.getDoc(regPath(review, ""))
	// Before any click: the expected wait up front, and the single explicit "Try
	// anyway" (sending confirm=1) with what it costs.
	if got := doc.Find(`[data-testid="registration-banner"]`).Text(); !strings.Contains(got, "Meta is still reviewing your display name") ||
		!strings.Contains(got, "a few hours to a couple of days") {
		t.Errorf("banner: want the plain-language explanation with the expected wait, got %q", got)
	}
	confirm := doc.Find(`form[data-testid="registration-form"] input[name="confirm"]`)
	if v, _ := confirm.Attr("value"); v != "1" || !strings.Contains(doc.Find(`[data-testid="complete-registration"]`).Text(), "Try anyway") {
		t.Fatal("while the name is in review the one button must be an explicit Try anyway sending confirm=1")
	}
	if doc.Find(`[data-testid="registration-confirm-note"]`).Length() != 1 {
		t.Error("Try anyway must say what it costs")
	}
	// A post without the confirmation (an old page) makes no call and records no attempt.
	resp, _ := admin.post(regPath(review, "/registration"), url.Values{"_csrf": {csrf}, "from": {"settings"}}, nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || loc != regPath(review, "")+"?confirm_registration=1" {
		t.Fatalf("unconfirmed click while in review: want 303 back to the banner, got %d %q", resp.StatusCode, loc)
	}
	if n := e.registerCalls(review); n != 0 {
		t.Fatalf("an unconfirmed click must not call Meta, got %d calls", n)
	}
	if attempts, err := e.store.Attempts(context.Background(), review.ID, 10); err != nil || len(attempts) != 0 {
		t.Fatalf("a click that made no register call must not be recorded as an attempt, got %d (%v)", len(attempts), err)
	}
	resp, _ = admin.post(regPath(review, "/registration"), url.Values{"_csrf": {csrf}, "confirm": {"1"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || e.registerCalls(review) != 1 {
		t.Fatalf("try anyway: want 303 and exactly one call, got %d and %d", resp.StatusCode, e.registerCalls(review))
	}
	_, doc, _ = admin.getDoc(resp.Header.Get("Location"))
	if flash := doc.Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "display name") {
		t.Errorf("flash after try anyway: want the reason in plain words, got %q", flash)
	}

	pending := e.inbox(regPendingInbox)
	resp, _ = admin.post(regPath(pending, "/registration"), url.Values{"_csrf": {csrf}, "from": {"health"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != regPath(pending, "/health") {
		t.Fatalf("want 303 back to the Account Health tab, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, doc, _ = admin.getDoc(resp.Header.Get("Location"))
	if flash := doc.Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "Registered") {
		t.Errorf("flash: want Registered, got %q", flash)
	}
	rows := doc.Find(`[data-testid="registration-attempts"] [data-testid="registration-attempt"]`)
	if rows.Length() != 1 || !strings.Contains(rows.Text(), "Complete registration button") || !strings.Contains(rows.Text(), "admin@reg.test") {
		t.Errorf("attempts table: want one row by the button with who clicked, got %q", rows.Text())
	}
}

func TestRegistrationPINMismatchAsksForThePIN(t *testing.T) {
	e := newRegEnv(t, "pin_already_set")
	in := e.inbox(regPINSetInbox)
	admin := e.login("admin@reg.test")
	csrf := admin.csrf(regPath(in, ""))

	resp, doc, body := admin.htmxPost(regPath(in, "/registration"), url.Values{"from": {"settings"}}, csrf)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a failed registration is still swapped: want 200, got %d", resp.StatusCode)
	}
	if outcome, _ := doc.Find(`#registration-banner`).Attr("data-outcome"); outcome != "failed" {
		t.Errorf("want outcome failed, got %q", outcome)
	}
	if doc.Find(`form[data-testid="pin-form"] input[name="pin"][type="password"]`).Length() != 1 {
		t.Fatalf("after 133005 the banner must ask for the existing PIN, got:\n%s", body)
	}
	if doc.Find(`[data-testid="complete-registration"]`).Length() != 0 {
		t.Error("no plain retry while the PIN is unknown: it would fail again")
	}
	generated := e.pin(in)
	if strings.Contains(body, generated) {
		t.Error("the PIN must never be rendered")
	}

	// The PIN form says what each try costs, and how many of Meta's 10 are left.
	if note := doc.Find(`[data-testid="pin-note"]`).Text(); !strings.Contains(note, "10 registration attempts per 72 hours") || !strings.Contains(note, "9 of 10 are left") {
		t.Errorf("PIN form: want each try's cost and the attempts left, got %q", note)
	}
	if by, _ := doc.Find(`#registration-pin`).Attr("aria-describedby"); !strings.Contains(by, "registration-pin-note") {
		t.Errorf("the PIN field must be described by the note, got %q", by)
	}

	_, doc, _ = admin.htmxPost(regPath(in, "/pin"), url.Values{"pin": {"12ab56"}, "from": {"settings"}}, csrf)
	if doc.Find(`[data-testid="pin-error"]`).Length() != 1 {
		t.Error("a malformed PIN must be refused next to the field")
	}
	if inv, _ := doc.Find(`#registration-pin`).Attr("aria-invalid"); inv != "true" {
		t.Error("the refused PIN field must be aria-invalid")
	}
	if by, _ := doc.Find(`#registration-pin`).Attr("aria-describedby"); !strings.Contains(by, "registration-pin-error") {
		t.Errorf("the PIN field must be described by its error, got %q", by)
	}
	if e.pin(in) != generated || e.registerCalls(in) != 1 {
		t.Fatal("a malformed PIN must change nothing and call nobody")
	}

	// A PIN Meta refuses (not the one it holds) is answered next to the field too.
	_, doc, _ = admin.htmxPost(regPath(in, "/pin"), url.Values{"pin": {"135790"}, "from": {"settings"}}, csrf)
	if got := doc.Find(`[data-testid="pin-error"]`).Text(); !strings.Contains(got, "Meta did not accept this PIN") {
		t.Errorf("a wrong PIN: want Meta's refusal next to the field, got %q", got)
	}
	if note := doc.Find(`[data-testid="pin-note"]`).Text(); !strings.Contains(note, "8 of 10 are left") {
		t.Errorf("after a wrong PIN: want one attempt fewer left, got %q", note)
	}

	resp, doc, body = admin.htmxPost(regPath(in, "/pin"), url.Values{"pin": {"246810"}, "from": {"settings"}}, csrf)
	if outcome, _ := doc.Find(`#registration-banner`).Attr("data-outcome"); resp.StatusCode != http.StatusOK || outcome != "registered" {
		t.Fatalf("with Meta's PIN: want registered, got %d %q: %s", resp.StatusCode, outcome, body)
	}
	if strings.Contains(body, "246810") || strings.Contains(e.logs.String(), "246810") || strings.Contains(e.logs.String(), generated) {
		t.Error("PINs must never appear in HTML or logs")
	}
}

func TestRegistrationAPI(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning", "name_in_review", "connected")
	token := e.admin.APIAccessToken

	pending := e.inbox(regPendingInbox)
	rec := e.apiPost(token, regAPIPath(pending.AccountID, pending), "")
	got := decodeRegAnswer(t, rec)
	if rec.Code != http.StatusOK || got["outcome"] != "registered" || got["state"] != "registered" || got["error"] != nil {
		t.Fatalf("pending number: want 200 registered without error, got %d %v", rec.Code, got)
	}
	if reason, _ := got["reason"].(string); reason == "" {
		t.Error("reason must say what happened")
	}
	h, _ := got["health"].(map[string]any)
	if h == nil || h["registration_state"] != "registered" || h["overall_status"] == "" {
		t.Errorf("health: want the fresh health saying registered, got %v", got["health"])
	}
	if rec := e.apiPost(token, regAPIPath(pending.AccountID, pending), "{}"); decodeRegAnswer(t, rec)["outcome"] != "skipped" {
		t.Errorf("second call: want skipped, got %s", rec.Body)
	}

	review := e.inbox(regInReviewInbox)
	got = decodeRegAnswer(t, e.apiPost(token, regAPIPath(review.AccountID, review), ""))
	errObj, _ := got["error"].(map[string]any)
	if got["outcome"] != "deferred" || got["state"] != "waiting_for_display_name" || got["needs_confirmation"] != true ||
		errObj == nil || errObj["type"] != "display_name_not_ready" {
		t.Errorf("name in review: want deferred waiting_for_display_name needing confirmation, got %v", got)
	}
	got = decodeRegAnswer(t, e.apiPost(token, regAPIPath(review.AccountID, review), `{"confirm": true}`))
	errObj, _ = got["error"].(map[string]any)
	if got["outcome"] != "failed" || errObj == nil || errObj["code"] != float64(100) || errObj["subcode"] != float64(2388001) || errObj["remedy"] == "" {
		t.Errorf("confirmed: want failed with Meta's 100/2388001 and a remedy, got %v", got)
	}
	if n := e.registerCalls(review); n != 1 {
		t.Errorf("name in review: want exactly the one confirmed call, got %d", n)
	}

	connected := e.inbox(regConnectedInbox)
	if got := decodeRegAnswer(t, e.apiPost(token, regAPIPath(connected.AccountID, connected), "")); got["outcome"] != "skipped" {
		t.Errorf("provisioned number: want skipped, got %v", got)
	}
	if n := e.registerCalls(connected); n != 0 {
		t.Errorf("provisioned number: want no call, got %d", n)
	}

	if rec := e.apiPost(e.other.APIAccessToken, regAPIPath(pending.AccountID, pending), ""); rec.Code != http.StatusNotFound {
		t.Errorf("another account's administrator: want 404, got %d", rec.Code)
	}
	if rec := e.apiPost(e.other.APIAccessToken, regAPIPath(e.other.AccountID, pending), ""); rec.Code != http.StatusNotFound {
		t.Errorf("an inbox of another account under one's own: want 404, got %d", rec.Code)
	}
	if rec := e.apiPost(token, regAPIPath(pending.AccountID, pending), `{"confrim": true}`); rec.Code != http.StatusBadRequest {
		t.Errorf("a misspelt field: want 400, got %d", rec.Code)
	}
}

func decodeRegAnswer(t *testing.T, rec interface{ Result() *http.Response }) map[string]any {
	t.Helper()
	resp := rec.Result()
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return out
}

func TestNewInboxIsSetUpInTheBackground(t *testing.T) {
	e := newRegEnv(t)
	sc, err := graphsim.LoadScenario("pending_provisioning")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Load(sc); err != nil {
		t.Fatal(err)
	}
	n, b := sc.Numbers[0], sc.Businesses[0]
	body, _ := json.Marshal(map[string]string{"name": n.InboxName, "phone_number": n.PhoneNumber,
		"phone_number_id": n.PhoneNumberID, "waba_id": n.WABAID, "business_id": b.BusinessID, "access_token": b.AccessToken + "-0123456789"})
	if err := e.sim.UpdateBusiness(b.WABAID, func(biz *graphsim.Business) {
		biz.AccessToken = b.AccessToken + "-0123456789" // the API wants a token of 20 characters or more
	}); err != nil {
		t.Fatal(err)
	}
	rec := e.apiPost(e.admin.APIAccessToken, "/api/v1/accounts/"+itoa(e.admin.AccountID)+"/inboxes", string(body))
	if rec.Code != http.StatusCreated {
		t.Fatalf("create inbox: want 201, got %d %s", rec.Code, rec.Body)
	}
	e.reg.Wait()

	in, err := e.store.InboxByPhoneNumber(context.Background(), n.PhoneNumber)
	if err != nil {
		t.Fatal(err)
	}
	if calls := e.registerCalls(in); calls != 1 {
		t.Errorf("setup of a stuck number: want 1 register call, got %d", calls)
	}
	if in.WebhookSubscribedAt == nil || in.WebhookSubscriptionError != "" {
		t.Errorf("setup must subscribe the webhook, got subscribed %v error %q", in.WebhookSubscribedAt, in.WebhookSubscriptionError)
	}
	attempts, err := e.store.Attempts(context.Background(), in.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) != 1 || attempts[0].Trigger != "setup" || attempts[0].Outcome != "registered" {
		t.Errorf("want one registered attempt by setup, got %+v", attempts)
	}
}
