package graphsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// usage reads the two usage headers as Meta documents them (the test stays on Meta's
// side: it does not use the product's parser).
type usage struct {
	biz map[string][]struct {
		Type         string `json:"type"`
		CallCount    int    `json:"call_count"`
		RegainAccess int    `json:"estimated_time_to_regain_access"`
	}
	app struct {
		CallCount int `json:"call_count"`
	}
}

func usageOf(t *testing.T, h http.Header) usage {
	t.Helper()
	var u usage
	if err := json.Unmarshal([]byte(h.Get("X-Business-Use-Case-Usage")), &u.biz); err != nil {
		t.Fatalf("X-Business-Use-Case-Usage %q: %v", h.Get("X-Business-Use-Case-Usage"), err)
	}
	if v := h.Get("X-App-Usage"); v != "" {
		if err := json.Unmarshal([]byte(v), &u.app); err != nil {
			t.Fatalf("X-App-Usage %q: %v", v, err)
		}
	}
	return u
}

func TestBudgetIsReportedOnEveryAnswerAndEnforcedAsMetaDoes(t *testing.T) {
	sim, ts, clock := newSim(t, "connected")
	sim.SetBudget(Budget{BusinessCalls: 4, AppCalls: 100, Window: time.Hour})
	const token = "EAAsim-demo-token-padaria"
	for i := 1; i <= 4; i++ {
		a := call(t, ts, http.MethodGet, "/v24.0/109876543210003?fields=quality_rating", token, "")
		if a.status != http.StatusOK {
			t.Fatalf("call %d within the budget: want 200, got %d %s", i, a.status, a.raw)
		}
		u := usageOf(t, a.header)
		biz := u.biz["209876543210003"]
		if len(biz) != 1 || biz[0].CallCount != i*25 || biz[0].Type != "whatsapp_business_management" || u.app.CallCount != i {
			t.Fatalf("call %d: want the account at %d %% and the app at %d %%, got %+v (%v)", i, i*25, i, u, a.header)
		}
	}
	// The budget is spent: 80008, with the time to regain access in minutes.
	clock.Advance(20 * time.Minute)
	a := call(t, ts, http.MethodGet, "/v24.0/109876543210003", token, "")
	wantError(t, a, http.StatusBadRequest, CodeBusinessRateLimit, 0)
	if biz := usageOf(t, a.header).biz["209876543210003"]; len(biz) != 1 || biz[0].RegainAccess != 40 {
		t.Errorf("regain access: want 40 minutes (the first call leaves the window), got %v", a.header)
	}
	if sim.CountFaults("budget") != 1 {
		t.Errorf("want the refused call logged as a budget fault, got %d", sim.CountFaults("budget"))
	}
	// The window slides.
	clock.Advance(41 * time.Minute)
	if a := call(t, ts, http.MethodGet, "/v24.0/109876543210003", token, ""); a.status != http.StatusOK {
		t.Errorf("after the window: want 200, got %d %s", a.status, a.raw)
	}

	// The app's budget: code 4.
	sim.SetBudget(Budget{AppCalls: 1})
	call(t, ts, http.MethodGet, "/v24.0/109876543210003", token, "")
	a = call(t, ts, http.MethodGet, "/v24.0/209876543210003/phone_numbers", token, "")
	wantError(t, a, http.StatusBadRequest, CodeAppRateLimit, 0)
	if !strings.Contains(string(a.raw), "Application request limit reached") {
		t.Errorf("app limit: want Meta's message, got %s", a.raw)
	}
}
