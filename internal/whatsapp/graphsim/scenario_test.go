package graphsim

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

const allFields = "id,display_phone_number,verified_name,code_verification_status," +
	"name_status,new_name_status,platform_type,throughput,status,quality_rating," +
	"messaging_limit_tier,whatsapp_business_manager_messaging_limit,account_mode," +
	"last_onboarded_time,is_official_business_account,health_status"

func TestScenarioNamesHasEveryRequiredScenario(t *testing.T) {
	names := ScenarioNames()
	for _, want := range []string{"connected", "pending_provisioning", "name_in_review", "name_declined",
		"flagged_blocked", "token_expired", "pin_already_set", "register_limit_reached", "demo"} {
		if !slices.Contains(names, want) {
			t.Errorf("want scenario %q, have %v", want, names)
		}
	}
}

func TestEveryScenarioAnswersItsNumbersOverHTTP(t *testing.T) {
	for _, name := range ScenarioNames() {
		t.Run(name, func(t *testing.T) {
			sc, err := LoadScenario(name)
			if err != nil {
				t.Fatalf("LoadScenario: %v", err)
			}
			if sc.Description == "" || len(sc.Numbers) == 0 {
				t.Fatalf("want a description and numbers, got %q and %d numbers", sc.Description, len(sc.Numbers))
			}
			_, ts, _ := newSim(t, name)
			tokens := map[string]Business{}
			for _, b := range sc.Businesses {
				tokens[b.WABAID] = b
			}
			for _, n := range sc.Numbers {
				b := tokens[n.WABAID]
				a := call(t, ts, http.MethodGet, "/v24.0/"+n.PhoneNumberID+"?fields="+allFields, b.AccessToken, "")
				if b.TokenExpired {
					wantError(t, a, http.StatusUnauthorized, 190, 463)
					continue
				}
				wantOK(t, a)
				for field, want := range map[string]string{
					"id":                       n.PhoneNumberID,
					"display_phone_number":     n.DisplayPhoneNumber,
					"verified_name":            n.VerifiedName,
					"code_verification_status": n.CodeVerificationStatus,
					"name_status":              n.NameStatus,
					"platform_type":            n.PlatformType,
					"status":                   n.Status,
					"quality_rating":           n.QualityRating,
				} {
					if got := str(a.body[field]); got != want {
						t.Errorf("number %s: want %s %q, got %q", n.PhoneNumberID, field, want, got)
					}
				}
				tp, _ := a.body["throughput"].(map[string]any)
				if got := str(tp["level"]); got != n.ThroughputLevel {
					t.Errorf("number %s: want throughput.level %q, got %q", n.PhoneNumberID, n.ThroughputLevel, got)
				}
				hs, _ := a.body["health_status"].(map[string]any)
				ents, _ := hs["entities"].([]any)
				if str(hs["can_send_message"]) == "" || len(ents) < 3 {
					t.Errorf("number %s: want health_status with a verdict and >= 3 entities, got %v", n.PhoneNumberID, a.body["health_status"])
				}
			}
		})
	}
}

func TestDemoIsEveryScenarioTogetherWithSharedBusinesses(t *testing.T) {
	demo, err := LoadScenario("demo")
	if err != nil {
		t.Fatalf("LoadScenario(demo): %v", err)
	}
	ids := map[string]bool{}
	for _, n := range demo.Numbers {
		ids[n.PhoneNumberID] = true
	}
	for _, name := range ScenarioNames() {
		if name == "demo" {
			continue
		}
		sc, _ := LoadScenario(name)
		for _, n := range sc.Numbers {
			if !ids[n.PhoneNumberID] {
				t.Errorf("want demo to hold %s's number %s, it does not", name, n.PhoneNumberID)
			}
		}
	}
	perWABA := map[string]int{}
	phones := map[string]bool{}
	for _, n := range demo.Numbers {
		perWABA[n.WABAID]++
		if phones[n.PhoneNumber] {
			t.Errorf("phone number %s appears twice in demo", n.PhoneNumber)
		}
		phones[n.PhoneNumber] = true
		if !strings.HasPrefix(n.PhoneNumber, "+1") || !strings.Contains(n.PhoneNumber, "55501") {
			t.Errorf("want a clearly fake +1 NPA 555-01xx number, got %s", n.PhoneNumber)
		}
	}
	shared := 0
	for _, c := range perWABA {
		if c >= 2 {
			shared++
		}
	}
	if shared < 2 {
		t.Errorf("want at least 2 WABAs with several numbers in demo, got %d (%v)", shared, perWABA)
	}
	tokens := map[string]bool{}
	for _, b := range demo.Businesses {
		if tokens[b.AccessToken] {
			t.Errorf("token of %s is shared; want one token per WABA in demo", b.WABAID)
		}
		tokens[b.AccessToken] = true
	}
}

func TestLoadScenarioRejectsUnknownNames(t *testing.T) {
	for _, name := range []string{"nope", "../demo", ""} {
		if _, err := LoadScenario(name); err == nil {
			t.Errorf("LoadScenario(%q): want an error, got none", name)
		}
	}
}

func TestLoadRejectsBadScenarioWithoutChangingState(t *testing.T) {
	sim := New(Config{})
	defer sim.Close()
	bad := &Scenario{Name: "bad",
		Businesses: []Business{{WABAID: "201", Name: "X", AccessToken: "t"}},
		Numbers: []Number{
			{PhoneNumber: "+15550100001", PhoneNumberID: "101", WABAID: "201"},
			{PhoneNumber: "5550100002", PhoneNumberID: "102", WABAID: "201"}, // no +
		}}
	if err := sim.Load(bad); err == nil {
		t.Fatal("want an error for a phone number without +, got none")
	}
	if _, found := sim.Business("201"); found {
		t.Error("want no business after a failed Load, found one")
	}
	if _, found := sim.Number("101"); found {
		t.Error("want no number after a failed Load, found one")
	}
}

func TestDefaultFieldsLeaveOutHealthStatus(t *testing.T) {
	_, ts, _ := newSim(t, "connected")
	a := call(t, ts, http.MethodGet, "/v24.0/109876543210003", "EAAsim-demo-token-padaria", "")
	wantOK(t, a)
	if _, has := a.body["health_status"]; has {
		t.Errorf("want no health_status without fields, got %s", a.raw)
	}
	if str(a.body["verified_name"]) != "Padaria Central" {
		t.Errorf("want default fields to include verified_name, got %s", a.raw)
	}
	a = call(t, ts, http.MethodGet, "/v24.0/109876543210003?fields=status,health_status{can_send_message}", "EAAsim-demo-token-padaria", "")
	wantOK(t, a)
	if len(a.body) != 3 || a.body["health_status"] == nil || str(a.body["status"]) != "CONNECTED" {
		t.Errorf("want exactly id, status and health_status, got %s", a.raw)
	}
}

func TestBusinessHealthOfBlockedAccount(t *testing.T) {
	_, ts, _ := newSim(t, "flagged_blocked")
	a := call(t, ts, http.MethodGet, "/v24.0/209876543210004?fields=health_status", "EAAsim-demo-token-quickloans", "")
	wantOK(t, a)
	hs, _ := a.body["health_status"].(map[string]any)
	if str(a.body["id"]) != "209876543210004" || str(hs["can_send_message"]) != "BLOCKED" {
		t.Fatalf("want WABA 209876543210004 BLOCKED, got %s", a.raw)
	}
	ents, _ := hs["entities"].([]any)
	waba, _ := ents[0].(map[string]any)
	errs, _ := waba["errors"].([]any)
	if str(waba["entity_type"]) != "WABA" || len(errs) != 1 || errs[0].(map[string]any)["error_code"] != float64(141006) {
		t.Errorf("want first entity WABA with error 141006, got %v", ents[0])
	}

	a = call(t, ts, http.MethodGet, "/v24.0/109876543210004?fields=health_status,status,quality_rating", "EAAsim-demo-token-quickloans", "")
	wantOK(t, a)
	hs, _ = a.body["health_status"].(map[string]any)
	if str(hs["can_send_message"]) != "BLOCKED" || str(a.body["status"]) != "FLAGGED" || str(a.body["quality_rating"]) != "RED" {
		t.Errorf("want number BLOCKED, FLAGGED, RED, got %s", a.raw)
	}
	ents, _ = hs["entities"].([]any)
	var types []string
	for _, e := range ents {
		types = append(types, str(e.(map[string]any)["entity_type"]))
	}
	if want := []string{"PHONE_NUMBER", "WABA", "BUSINESS", "APP"}; !slices.Equal(types, want) {
		t.Errorf("want entities %v, got %v", want, types)
	}
}
