package graphsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 10, 1, 9, 0, 0, 0, time.UTC)

const testSecret = "test-app-secret"

// newSim starts a simulator with a fake clock behind an httptest server, loaded with
// the given scenarios.
func newSim(t *testing.T, scenarios ...string) (*Server, *httptest.Server, *FakeClock) {
	t.Helper()
	clock := NewFakeClock(t0)
	sim := New(Config{AppSecret: testSecret, Clock: clock, Seed: 42})
	for _, name := range scenarios {
		sc, err := LoadScenario(name)
		if err != nil {
			t.Fatalf("LoadScenario(%q): %v", name, err)
		}
		if err := sim.Load(sc); err != nil {
			t.Fatalf("Load(%q): %v", name, err)
		}
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(func() {
		ts.Close()
		sim.Close()
	})
	return sim, ts, clock
}

type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// call makes one request to the simulator. path includes the version prefix.
func call(t *testing.T, ts *httptest.Server, method, path, token, body string) answer {
	t.Helper()
	return callURL(t, method, ts.URL+path, token, body)
}

func callURL(t *testing.T, method, url, token, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, url, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", method, url, err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, url, err, raw)
	}
	return a
}

func register(t *testing.T, ts *httptest.Server, id, token, pin string) answer {
	t.Helper()
	return call(t, ts, http.MethodPost, "/v24.0/"+id+"/register", token,
		`{"messaging_product":"whatsapp","pin":"`+pin+`"}`)
}

// wantOK fails unless the answer is HTTP 200.
func wantOK(t *testing.T, a answer) {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("want HTTP 200, got %d: %s", a.status, a.raw)
	}
}

// wantError fails unless the answer is Meta's error envelope with this status, code and
// subcode (0: no subcode), and returns the error object.
func wantError(t *testing.T, a answer, status int, code, subcode float64) map[string]any {
	t.Helper()
	e, isObject := a.body["error"].(map[string]any)
	if !isObject {
		t.Fatalf("want error envelope with code %v, got HTTP %d: %s", code, a.status, a.raw)
	}
	gotSub, _ := e["error_subcode"].(float64)
	if a.status != status || e["code"] != code || gotSub != subcode {
		t.Fatalf("want HTTP %d code %v subcode %v, got HTTP %d code %v subcode %v: %s",
			status, code, subcode, a.status, e["code"], gotSub, a.raw)
	}
	wantType := "OAuthException"
	if code == CodeInvalidParameter && subcode == SubcodeUnknownObject {
		wantType = "GraphMethodException" // see errUnknownObject
	}
	if e["type"] != wantType {
		t.Errorf("want type %s, got %v", wantType, e["type"])
	}
	if s, _ := e["fbtrace_id"].(string); s == "" {
		t.Errorf("want an fbtrace_id, got none: %s", a.raw)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("want a message, got none: %s", a.raw)
	}
	return e
}

func mustNumber(t *testing.T, sim *Server, id string) NumberState {
	t.Helper()
	st, found := sim.Number(id)
	if !found {
		t.Fatalf("number %s not in the simulator", id)
	}
	return st
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
