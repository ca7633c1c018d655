package graphsim

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestStrictFields(t *testing.T) {
	sim, ts, _ := newSim(t, "connected")
	cases := []struct {
		name, path string
		wantMsg    string // "" means success
	}{
		{"known fields", "/v24.0/" + connectedID + "?fields=" + allFields + ",is_on_biz_app,webhook_configuration", ""},
		{"nested selection and modifier", "/v24.0/" + connectedID + "?fields=health_status{can_send_message,entities},throughput.limit(1)", ""},
		{"unknown phone field", "/v24.0/" + connectedID + "?fields=id,quality_score",
			"(#100) Tried accessing nonexisting field (quality_score) on node type (WhatsAppBusinessPhoneNumber)"},
		{"unknown field in the list", "/v24.0/" + padariaWABA + "/phone_numbers?fields=id,bogus",
			"(#100) Tried accessing nonexisting field (bogus) on node type (WhatsAppBusinessPhoneNumber)"},
		{"unknown WABA field", "/v24.0/" + padariaWABA + "?fields=owner_business_info,nope",
			"(#100) Tried accessing nonexisting field (nope) on node type (WhatsAppBusinessAccount)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := call(t, ts, http.MethodGet, c.path, padariaToken, "")
			if c.wantMsg == "" {
				wantOK(t, a)
				return
			}
			e := wantError(t, a, http.StatusBadRequest, 100, 0)
			if str(e["message"]) != c.wantMsg {
				t.Errorf("want message %q, got %q", c.wantMsg, e["message"])
			}
		})
	}

	if err := sim.RetireField("messaging_limit_tier"); err != nil {
		t.Fatal(err)
	}
	e := wantError(t, call(t, ts, http.MethodGet, "/v24.0/"+connectedID+"?fields=status,messaging_limit_tier", padariaToken, ""), 400, 100, 0)
	if want := "(#100) Tried accessing nonexisting field (messaging_limit_tier) on node type (WhatsAppBusinessPhoneNumber)"; str(e["message"]) != want {
		t.Errorf("retired field: want %q, got %q", want, e["message"])
	}
	wantOK(t, call(t, ts, http.MethodGet, "/v24.0/"+connectedID+"?fields=status,whatsapp_business_manager_messaging_limit", padariaToken, ""))
	for _, f := range []string{"id", "not_a_field"} {
		if err := sim.RetireField(f); err == nil {
			t.Errorf("RetireField(%q): want an error", f)
		}
	}
}

func TestSetPINThenRegisterWithIt(t *testing.T) {
	sim, ts, _ := newSim(t, "pin_already_set")
	const token = "EAAsim-demo-token-harbor"
	wantError(t, register(t, ts, pinSetID, token, "111111"), 400, 133005, 0)
	for _, body := range []string{`{"pin":"12345"}`, `{"pin":""}`, `{"pin":"abcdef"}`, `{}`, `{not json`} {
		wantError(t, call(t, ts, http.MethodPost, "/v24.0/"+pinSetID, token, body), 400, 100, 0)
	}
	a := call(t, ts, http.MethodPost, "/v24.0/"+pinSetID, token, `{"pin":"111111"}`)
	wantOK(t, a)
	if a.body["success"] != true {
		t.Fatalf(`want {"success":true}, got %s`, a.raw)
	}
	wantOK(t, register(t, ts, pinSetID, token, "111111"))
	if st := mustNumber(t, sim, pinSetID); st.PIN != "111111" || st.PlatformType != "CLOUD_API" {
		t.Errorf("want registered with the new PIN, got PIN %q platform %s", st.PIN, st.PlatformType)
	}
}

func TestDeregisterCountsInTheWindowAndUnregisters(t *testing.T) {
	sim, ts, clock := newSim(t, "connected")
	deregister := func() answer {
		return call(t, ts, http.MethodPost, "/v24.0/"+connectedID+"/deregister", padariaToken, "")
	}
	a := deregister()
	wantOK(t, a)
	if a.body["success"] != true {
		t.Fatalf(`want {"success":true}, got %s`, a.raw)
	}
	st := mustNumber(t, sim, connectedID)
	if st.PlatformType != "NOT_APPLICABLE" || st.ThroughputLevel != "NOT_APPLICABLE" || st.RegisterCallsInWindow != 1 || st.Deregistrations != 1 {
		t.Fatalf("want unregistered with 1 call in the window, got platform %s throughput %s, %d calls",
			st.PlatformType, st.ThroughputLevel, st.RegisterCallsInWindow)
	}
	for range RegisterLimit - 2 {
		clock.Advance(time.Minute)
		wantOK(t, register(t, ts, connectedID, padariaToken, "424242"))
	}
	wantOK(t, deregister()) // the 10th call
	wantError(t, deregister(), 400, 133016, 0)
	wantError(t, register(t, ts, connectedID, padariaToken, "424242"), 400, 133016, 0)
	if st := mustNumber(t, sim, connectedID); st.RegisterCallsInWindow != RegisterLimit {
		t.Errorf("want refused calls not counted: %d in the window, got %d", RegisterLimit, st.RegisterCallsInWindow)
	}
}

func TestIncompleteDeregistrationUntilDeregister(t *testing.T) {
	sim, ts, _ := newSim(t, "pending_provisioning")
	if err := sim.UpdateNumber(pendingID, func(n *Number) { n.DeregistrationIncomplete = true }); err != nil {
		t.Fatal(err)
	}
	wantError(t, register(t, ts, pendingID, acmeToken, "123456"), 400, 133000, 0)
	wantError(t, register(t, ts, pendingID, acmeToken, "123456"), 400, 133000, 0)
	wantOK(t, call(t, ts, http.MethodPost, "/v24.0/"+pendingID+"/deregister", acmeToken, ""))
	wantOK(t, register(t, ts, pendingID, acmeToken, "123456"))
	if st := mustNumber(t, sim, pendingID); st.RegisterCallsInWindow != 4 {
		t.Errorf("want every call counted (2 refused, 1 deregister, 1 register), got %d", st.RegisterCallsInWindow)
	}
}

func TestCoexistenceNumberIsNotRegistered(t *testing.T) {
	sim, ts, _ := newSim(t, "pending_provisioning")
	if err := sim.UpdateNumber(pendingID, func(n *Number) { n.IsOnBizApp = true }); err != nil {
		t.Fatal(err)
	}
	a := call(t, ts, http.MethodGet, "/v24.0/"+pendingID+"?fields=is_on_biz_app", acmeToken, "")
	if a.body["is_on_biz_app"] != true {
		t.Fatalf("want is_on_biz_app true, got %s", a.raw)
	}
	wantError(t, register(t, ts, pendingID, acmeToken, "123456"), 400, 100, 0)
	if st := mustNumber(t, sim, pendingID); st.PlatformType == "CLOUD_API" || st.Registrations != 0 {
		t.Errorf("a coexistence number must stay as it is, got %+v", st)
	}
}

func TestNameChangeTakesEffectOnlyAfterAPostApprovalRegister(t *testing.T) {
	sim, ts, clock := newSim(t, "connected")
	hook, got := receiver(t, http.StatusOK)
	subscribe(t, sim, ts, padariaWABA, padariaToken, hook.URL)
	if err := sim.RequestNameChange(pendingID, "x", time.Minute); err == nil {
		t.Error("want an error for a number that does not exist in this scenario")
	}
	if err := sim.RequestNameChange(connectedID, "Padaria Central Café", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	st := mustNumber(t, sim, connectedID)
	oldName := st.VerifiedName
	if st.NewNameStatus != "PENDING_REVIEW" || st.NameChangeAwaitingRegister {
		t.Fatalf("want PENDING_REVIEW, nothing awaiting register, got %s %v", st.NewNameStatus, st.NameChangeAwaitingRegister)
	}
	// A register before approval succeeds but has no effect on the name.
	wantOK(t, register(t, ts, connectedID, padariaToken, "424242"))
	if st := mustNumber(t, sim, connectedID); st.VerifiedName != oldName || st.NewNameStatus != "PENDING_REVIEW" {
		t.Fatalf("register before approval: want name %q still in review, got %q %s", oldName, st.VerifiedName, st.NewNameStatus)
	}

	clock.Advance(2 * time.Minute)
	sim.Tick()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ds, err := sim.WaitDeliveries(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Field != "phone_number_name_update" || ds[0].URL != hook.URL {
		t.Fatalf("want the name update at the app callback, got %+v", ds[0])
	}
	var body nameUpdateBody
	json.Unmarshal(got()[0].body, &body)
	v := body.Entry[0].Changes[0].Value
	if string(v["decision"]) != `"APPROVED"` || string(v["requested_verified_name"]) != `"Padaria Central Café"` {
		t.Errorf("want APPROVED for the requested name, got %v", v)
	}
	st = mustNumber(t, sim, connectedID)
	if st.VerifiedName != oldName || st.NewNameStatus != "APPROVED" || !st.NameChangeAwaitingRegister {
		t.Fatalf("after approval: want old name, APPROVED, awaiting register; got %q %s %v", st.VerifiedName, st.NewNameStatus, st.NameChangeAwaitingRegister)
	}
	wantOK(t, register(t, ts, connectedID, padariaToken, "424242"))
	st = mustNumber(t, sim, connectedID)
	if st.VerifiedName != "Padaria Central Café" || st.NewNameStatus != "NONE" || st.NameChangeAwaitingRegister {
		t.Errorf("after the post-approval register: want the new name, NONE; got %q %s %v", st.VerifiedName, st.NewNameStatus, st.NameChangeAwaitingRegister)
	}
}

func TestDeclinedNameChangeKeepsTheName(t *testing.T) {
	sim, ts, _ := newSim(t, "connected")
	hook, got := receiver(t, http.StatusOK)
	subscribe(t, sim, ts, padariaWABA, padariaToken, hook.URL)
	oldName := mustNumber(t, sim, connectedID).VerifiedName
	if err := sim.RequestNameChange(connectedID, "Best Bread!!!", 0); err != nil {
		t.Fatal(err)
	}
	if err := sim.DeclineName(connectedID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := sim.WaitDeliveries(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var body nameUpdateBody
	json.Unmarshal(got()[0].body, &body)
	if v := body.Entry[0].Changes[0].Value; string(v["decision"]) != `"REJECTED"` || string(v["rejection_reason"]) == "null" {
		t.Errorf("want REJECTED with a reason, got %v", v)
	}
	wantOK(t, register(t, ts, connectedID, padariaToken, "424242"))
	if st := mustNumber(t, sim, connectedID); st.VerifiedName != oldName || st.NameChangeAwaitingRegister {
		t.Errorf("declined: want the old name kept, got %q awaiting %v", st.VerifiedName, st.NameChangeAwaitingRegister)
	}
}

func TestInjectedFailures(t *testing.T) {
	cases := []struct {
		name          string
		failure       Failure
		status        int
		code, subcode float64
	}{
		{"locked", FailureAccountLocked(), 400, 131031, 0},
		{"wrong PIN", FailurePINIncorrect(), 400, 131031, 0},
		{"incomplete deregistration", FailureIncompleteDeregistration(), 400, 133000, 0},
		{"not registered", FailureNotRegistered(), 400, 133010, 0},
		{"auth", FailureAuthException(), 401, 0, 0},
		{"expired", FailureTokenExpired(t0), 401, 190, 463},
		{"permission", FailurePermissionDenied("whatsapp_business_management"), 403, 10, 0},
		{"api permission", FailureAPIPermission("whatsapp_business_messaging"), 403, 200, 0},
		{"policy", FailurePolicyBlocked(), 400, 368, 0},
		{"pair rate limit", FailurePairRateLimit(), 400, 131056, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sim, ts, _ := newSim(t, "pending_provisioning")
			sim.Inject(http.MethodPost, "/"+pendingID+"/register", c.failure)
			wantError(t, register(t, ts, pendingID, acmeToken, "123456"), c.status, c.code, c.subcode)
			wantOK(t, register(t, ts, pendingID, acmeToken, "123456"))
		})
	}
}

func TestDemoCoexistenceAndNameChangeNumbers(t *testing.T) {
	sim, ts, clock := newSim(t, "demo")
	const bakeryID, outfittersID = "109876543210014", "109876543210015"
	a := call(t, ts, http.MethodGet, "/v24.0/"+bakeryID+"?fields=is_on_biz_app,platform_type", "EAAsim-demo-token-corner-bakery", "")
	if a.body["is_on_biz_app"] != true || str(a.body["platform_type"]) != "NOT_APPLICABLE" {
		t.Errorf("Corner Bakery: want a pending-looking coexistence number, got %s", a.raw)
	}
	wantError(t, register(t, ts, bakeryID, "EAAsim-demo-token-corner-bakery", "123456"), 400, 100, 0)

	st := mustNumber(t, sim, outfittersID)
	if st.InboxName != "Northwind Outfitters (name change)" || st.PlatformType != "CLOUD_API" ||
		st.NewNameStatus != "PENDING_REVIEW" || st.NameReviewDue != t0.Add(120*time.Second) {
		t.Fatalf("Northwind Outfitters: want registered with a name change due in 120 s, got %+v", st)
	}
	clock.Advance(120 * time.Second)
	sim.Tick()
	if st := mustNumber(t, sim, outfittersID); !st.NameChangeAwaitingRegister || st.VerifiedName != "Northwind Outfitters" {
		t.Fatalf("after review: want the approved name awaiting register, got %+v", st)
	}
	wantOK(t, register(t, ts, outfittersID, "EAAsim-demo-token-outfitters", "271828"))
	if st := mustNumber(t, sim, outfittersID); st.VerifiedName != "Northwind Outfitters & Co" {
		t.Errorf("want the new name after register, got %q", st.VerifiedName)
	}
}
