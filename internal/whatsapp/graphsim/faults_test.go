package graphsim

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func serveLocal(sim *Server, method, path, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	sim.ServeHTTP(w, req)
	return w
}

func TestServerErrorRateIsRoughlyRightAndRepeatable(t *testing.T) {
	run := func() []int {
		sim := New(Config{Seed: 7})
		defer sim.Close()
		sc, _ := LoadScenario("pending_provisioning")
		sim.Load(sc)
		sim.SetFaults(Faults{ServerErrorRate: 0.3})
		var statuses []int
		for range 2000 {
			w := serveLocal(sim, http.MethodGet, "/v24.0/"+pendingID, acmeToken)
			if w.Code == 500 && !strings.Contains(w.Body.String(), `"is_transient":true`) {
				t.Fatalf("want a transient 500 body, got %s", w.Body)
			}
			if w.Code == 500 && !strings.Contains(w.Body.String(), `"code":1,`) && !strings.Contains(w.Body.String(), `"code":2,`) {
				t.Fatalf("want code 1 or 2 in a 500, got %s", w.Body)
			}
			statuses = append(statuses, w.Code)
		}
		return statuses
	}
	first, second := run(), run()
	errs := 0
	for i, s := range first {
		if s == 500 {
			errs++
		} else if s != 200 {
			t.Fatalf("want 200 or 500, got %d", s)
		}
		if second[i] != s {
			t.Fatalf("want the same sequence with the same seed, request %d differs: %d vs %d", i, s, second[i])
		}
	}
	if share := float64(errs) / float64(len(first)); share < 0.25 || share > 0.35 {
		t.Errorf("want about 30%% server errors, got %.1f%% (%d of %d)", share*100, errs, len(first))
	}
}

func TestHangRespectsRequestContext(t *testing.T) {
	sim, ts, _ := newSim(t, "pending_provisioning")
	sim.SetFaults(Faults{HangRate: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/v24.0/"+pendingID, nil)
	req.Header.Set("Authorization", "Bearer "+acmeToken)
	start := time.Now()
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the client's deadline to end a hanging request, got %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("want the hang to end with the context, took %v", took)
	}
	waitFor(t, func() bool {
		r := sim.Requests()
		return len(r) == 1 && r[0].Fault == "hang" && r[0].Status == 0
	}, "the hanging request logged with fault hang and no status")
	sim.ClearFaults()
	wantOK(t, call(t, ts, http.MethodGet, "/v24.0/"+pendingID, acmeToken, ""))
}

func TestLatencyDelaysAndRespectsContext(t *testing.T) {
	sim, ts, _ := newSim(t, "pending_provisioning")
	sim.SetFaults(Faults{Latency: 60 * time.Millisecond})
	start := time.Now()
	wantOK(t, call(t, ts, http.MethodGet, "/v24.0/"+pendingID, acmeToken, ""))
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Errorf("want at least 60ms of latency, took %v", took)
	}
	sim.SetFaults(Faults{Latency: time.Hour})
	w := httptest.NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v24.0/"+pendingID, nil)
	req.Header.Set("Authorization", "Bearer "+acmeToken)
	done := make(chan struct{})
	go func() { sim.ServeHTTP(w, req); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("want latency to stop when the request context ends, it did not")
	}
}

func TestRateLimitFaultAndPerBusinessLimit(t *testing.T) {
	sim, ts, clock := newSim(t, "demo")
	sim.SetFaults(Faults{RateLimit: true, RateLimitMinutes: 7})
	a := call(t, ts, http.MethodGet, "/v24.0/"+pendingID, acmeToken, "")
	e := wantError(t, a, 400, 80008, 0)
	if e["is_transient"] != true {
		t.Errorf("want is_transient true, got %v", e["is_transient"])
	}
	h := a.header.Get("X-Business-Use-Case-Usage")
	if !strings.Contains(h, `"209876543210001":[`) || !strings.Contains(h, `"estimated_time_to_regain_access":7`) {
		t.Errorf("want X-Business-Use-Case-Usage for WABA 209876543210001 with 7 minutes, got %q", h)
	}
	sim.ClearFaults()

	sim.RateLimitBusiness("209876543210001", 3)
	a = call(t, ts, http.MethodPost, "/v24.0/"+pendingID+"/register", acmeToken, `{"messaging_product":"whatsapp","pin":"123456"}`)
	wantError(t, a, 400, 80008, 0)
	if h := a.header.Get("X-Business-Use-Case-Usage"); !strings.Contains(h, `"estimated_time_to_regain_access":3`) {
		t.Errorf("want 3 minutes to regain access, got %q", h)
	}
	if st := mustNumber(t, sim, pendingID); st.RegisterCalls != 0 {
		t.Errorf("want a rate-limited register not counted, got %d", st.RegisterCalls)
	}
	wantOK(t, call(t, ts, http.MethodGet, "/v24.0/109876543210003", "EAAsim-demo-token-padaria", ""))
	clock.Advance(90 * time.Second)
	a = call(t, ts, http.MethodGet, "/v24.0/209876543210001/phone_numbers", acmeToken, "")
	if h := a.header.Get("X-Business-Use-Case-Usage"); !strings.Contains(h, `"estimated_time_to_regain_access":2`) {
		t.Errorf("want 2 minutes left (rounded up) after 90 s, got %q", h)
	}
	clock.Advance(90 * time.Second)
	wantOK(t, call(t, ts, http.MethodGet, "/v24.0/"+pendingID, acmeToken, ""))
	if r := sim.Requests(); r[1].Fault != "rate_limit" || r[1].ErrorCode != 80008 {
		t.Errorf("want the limited request logged with fault rate_limit and code 80008, got %+v", r[1])
	}
}
