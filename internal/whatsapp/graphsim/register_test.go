package graphsim

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	acmeToken    = "EAAsim-demo-token-acme"
	pendingID    = "109876543210001"
	inReviewID   = "109876543210002"
	pinSetID     = "109876543210007"
	limitID      = "109876543210008"
	lockedID     = "109876543210009"
	unverifiedID = "109876543210012"
)

func TestRegisterFailsWhileDisplayNameNotApproved(t *testing.T) {
	sim, ts, _ := newSim(t, "name_in_review")
	a := register(t, ts, inReviewID, acmeToken, "123456")
	e := wantError(t, a, http.StatusBadRequest, 100, 2388001)
	if str(e["error_user_title"]) != "Cannot Create Certificate" ||
		str(e["error_user_msg"]) != "Your display name could not be processed. Please edit your display name and try again." {
		t.Errorf("want Meta's user title and message, got %s", a.raw)
	}
	st := mustNumber(t, sim, inReviewID)
	if st.PlatformType != "NOT_APPLICABLE" || st.PIN != "" {
		t.Errorf("want the number unregistered and without PIN, got platform %s PIN %q", st.PlatformType, st.PIN)
	}
	if st.RegisterCallsInWindow != 1 {
		t.Errorf("want the failed call counted (1 in window), got %d", st.RegisterCallsInWindow)
	}
}

func TestRegisterDeclinedNameFails(t *testing.T) {
	_, ts, _ := newSim(t, "name_declined")
	wantError(t, register(t, ts, "109876543210005", "EAAsim-demo-token-northwind", "123456"), http.StatusBadRequest, 100, 2388001)
}

func TestRegisterSucceedsWhenNameApproved(t *testing.T) {
	sim, ts, _ := newSim(t, "pending_provisioning")
	a := register(t, ts, pendingID, acmeToken, "123456")
	wantOK(t, a)
	if a.body["success"] != true {
		t.Fatalf(`want {"success":true}, got %s`, a.raw)
	}
	st := mustNumber(t, sim, pendingID)
	if st.PIN != "123456" || st.PlatformType != "CLOUD_API" || st.ThroughputLevel != "STANDARD" || st.Status != "CONNECTED" {
		t.Errorf("want PIN 123456, CLOUD_API, STANDARD, CONNECTED; got PIN %q, %s, %s, %s",
			st.PIN, st.PlatformType, st.ThroughputLevel, st.Status)
	}
	if st.HealthStatus.Entities[0].CanSendMessage != "AVAILABLE" || st.HealthStatus.CanSendMessage != "AVAILABLE" {
		t.Errorf("want number health AVAILABLE, got %+v", st.HealthStatus)
	}
	if st.Registrations != 1 || st.RegisterCalls != 1 {
		t.Errorf("want 1 call and 1 registration, got %d and %d", st.RegisterCalls, st.Registrations)
	}
	a = call(t, ts, http.MethodGet, "/v24.0/"+pendingID+"?fields=platform_type,throughput,status,health_status", acmeToken, "")
	wantOK(t, a)
	if str(a.body["platform_type"]) != "CLOUD_API" || str(a.body["status"]) != "CONNECTED" {
		t.Errorf("want GET to show the registration, got %s", a.raw)
	}
}

func TestRegisterPINMismatchKeepsMetasPIN(t *testing.T) {
	sim, ts, _ := newSim(t, "pin_already_set")
	a := register(t, ts, pinSetID, "EAAsim-demo-token-harbor", "111111")
	e := wantError(t, a, http.StatusBadRequest, 133005, 0)
	if !strings.Contains(str(e["message"]), "Two step verification PIN Mismatch") {
		t.Errorf("want the PIN mismatch message, got %q", e["message"])
	}
	st := mustNumber(t, sim, pinSetID)
	if st.PIN != "246810" || st.PlatformType != "NOT_APPLICABLE" {
		t.Errorf("want PIN 246810 kept and the number unregistered, got PIN %q platform %s", st.PIN, st.PlatformType)
	}
	if got := sim.ReceivedPIN(pinSetID); got != "111111" {
		t.Errorf("want ReceivedPIN 111111, got %q", got)
	}
	wantOK(t, register(t, ts, pinSetID, "EAAsim-demo-token-harbor", "246810"))
	if st := mustNumber(t, sim, pinSetID); st.Status != "CONNECTED" {
		t.Errorf("want CONNECTED after the right PIN, got %s", st.Status)
	}
}

func TestRegisterEleventhCallIn72HoursIsRefused(t *testing.T) {
	const id, token = "109876543210005", "EAAsim-demo-token-northwind" // name DECLINED, no review scheduled
	sim, ts, clock := newSim(t, "name_declined")
	for range RegisterLimit {
		wantError(t, register(t, ts, id, token, "123456"), http.StatusBadRequest, 100, 2388001)
		clock.Advance(time.Hour)
	}
	if err := sim.ApproveName(id); err != nil {
		t.Fatal(err)
	}
	e := wantError(t, register(t, ts, id, token, "123456"), http.StatusBadRequest, 133016, 0)
	if !strings.Contains(str(e["message"]), "rate limit") {
		t.Errorf("want the register rate-limit message, got %q", e["message"])
	}
	if st := mustNumber(t, sim, id); st.RegisterCallsInWindow != 10 || st.RegisterCalls != 10 {
		t.Errorf("want the refused call not counted (10 in window, 10 total), got %d and %d", st.RegisterCallsInWindow, st.RegisterCalls)
	}
	// The first call was at t0; at t0+72h it leaves the moving window.
	clock.Set(t0.Add(RegisterWindow))
	wantOK(t, register(t, ts, id, token, "123456"))
	wantError(t, register(t, ts, id, token, "123456"), http.StatusBadRequest, 133016, 0)
}

func TestRegisterLimitReachedScenarioFreesAfter72Hours(t *testing.T) {
	sim, ts, clock := newSim(t, "register_limit_reached")
	wantError(t, register(t, ts, limitID, "EAAsim-demo-token-cedar", "123456"), http.StatusBadRequest, 133016, 0)
	clock.Advance(RegisterWindow - time.Second)
	wantError(t, register(t, ts, limitID, "EAAsim-demo-token-cedar", "123456"), http.StatusBadRequest, 133016, 0)
	clock.Advance(time.Second)
	wantOK(t, register(t, ts, limitID, "EAAsim-demo-token-cedar", "123456"))
	if st := mustNumber(t, sim, limitID); st.RegisterCallsInWindow != 1 {
		t.Errorf("want 1 call in the window after it freed, got %d", st.RegisterCallsInWindow)
	}
}

func TestRegisterLockedAndUnverified(t *testing.T) {
	_, ts, _ := newSim(t, "demo")
	wantError(t, register(t, ts, lockedID, "EAAsim-demo-token-summit", "123456"), http.StatusBadRequest, 131031, 0)
	wantError(t, register(t, ts, unverifiedID, acmeToken, "123456"), http.StatusBadRequest, 133006, 0)
}

func TestRegisterValidatesBodyWithoutCounting(t *testing.T) {
	sim, ts, _ := newSim(t, "pending_provisioning")
	for _, body := range []string{
		`{"messaging_product":"whatsapp","pin":"12345"}`,
		`{"messaging_product":"whatsapp","pin":"12345a"}`,
		`{"messaging_product":"whatsapp","pin":123456}`,
		`{"messaging_product":"whatsapp"}`,
		`{"pin":"123456"}`,
		`{"messaging_product":"sms","pin":"123456"}`,
		`{not json`,
	} {
		a := call(t, ts, http.MethodPost, "/v24.0/"+pendingID+"/register", acmeToken, body)
		if a.status != http.StatusBadRequest || a.body["error"].(map[string]any)["code"] != float64(100) {
			t.Errorf("body %s: want HTTP 400 code 100, got %d %s", body, a.status, a.raw)
		}
	}
	if st := mustNumber(t, sim, pendingID); st.RegisterCalls != 0 || st.PIN != "" || st.ReceivedPIN != "" {
		t.Errorf("want invalid bodies neither counted nor stored, got %d calls, PIN %q, received %q", st.RegisterCalls, st.PIN, st.ReceivedPIN)
	}
}

func TestHoldRegisterCompletesAtMetaButWithholdsTheAnswer(t *testing.T) {
	sim, ts, _ := newSim(t, "pending_provisioning")
	release := sim.HoldRegister(pendingID)
	done := make(chan answer, 1)
	go func() { done <- register(t, ts, pendingID, acmeToken, "654321") }()

	deadline := time.Now().Add(5 * time.Second)
	for mustNumber(t, sim, pendingID).PIN != "654321" {
		if time.Now().After(deadline) {
			t.Fatal("want Meta's side to store the PIN while the answer is held, it did not")
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := mustNumber(t, sim, pendingID)
	if st.PlatformType != "CLOUD_API" || st.RegisterCallsInWindow != 1 {
		t.Errorf("want the number registered and the call counted while held, got %s and %d", st.PlatformType, st.RegisterCallsInWindow)
	}
	if got := sim.ReceivedPIN(pendingID); got != "654321" {
		t.Errorf("want ReceivedPIN 654321, got %q", got)
	}
	if n := sim.CountRequests(http.MethodPost, "/"+pendingID+"/register"); n != 1 {
		t.Errorf("want 1 register request logged while held, got %d", n)
	}
	select {
	case a := <-done:
		t.Fatalf("want no answer while held, got HTTP %d %s", a.status, a.raw)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	release() // idempotent
	select {
	case a := <-done:
		wantOK(t, a)
	case <-time.After(5 * time.Second):
		t.Fatal("want the answer after release, none came")
	}
}

func TestHoldRegisterGivesUpWhenTheClientDoes(t *testing.T) {
	sim, ts, _ := newSim(t, "pending_provisioning")
	release := sim.HoldRegister(pendingID)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v24.0/"+pendingID+"/register",
		strings.NewReader(`{"messaging_product":"whatsapp","pin":"777777"}`))
	req.Header.Set("Authorization", "Bearer "+acmeToken)
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the client to time out, got %v", err)
	}
	if st := mustNumber(t, sim, pendingID); st.PIN != "777777" || st.Status != "CONNECTED" {
		t.Errorf("want Meta to hold PIN 777777 and the number CONNECTED after the lost answer, got %q %s", st.PIN, st.Status)
	}
	waitFor(t, func() bool {
		reqs := sim.Requests()
		return len(reqs) == 1 && reqs[0].Fault == "held" && reqs[0].Status == 0
	}, "the held request logged with fault held and no status")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("want %s, timed out", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
