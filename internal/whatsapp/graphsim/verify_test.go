package graphsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRequestCodeParameters(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		query, body string
		wantCode    float64 // 0: success
	}{
		{"json body", "application/json", "", `{"code_method":"SMS","language":"en_US"}`, 0},
		{"form body", "application/x-www-form-urlencoded", "", "code_method=VOICE&language=en_US", 0},
		{"query string, two-letter language", "", "?code_method=SMS&language=en", "", 0},
		{"another locale", "application/json", "", `{"code_method":"VOICE","language":"pt_BR"}`, 0},
		{"missing code_method", "application/json", "", `{"language":"en_US"}`, 100},
		{"unknown code_method", "application/json", "", `{"code_method":"EMAIL","language":"en_US"}`, 100},
		{"lower-case code_method", "application/json", "", `{"code_method":"sms","language":"en_US"}`, 100},
		{"missing language", "application/json", "", `{"code_method":"SMS"}`, 100},
		{"malformed language", "application/json", "", `{"code_method":"SMS","language":"english"}`, 100},
		{"not JSON", "application/json", "", `{code_method`, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts, _ := newSim(t, "demo")
			a := post(t, ts.URL+"/v24.0/"+unverifiedID+"/request_code"+tt.query, tt.contentType, tt.body)
			st := mustNumber(t, sim, unverifiedID)
			if tt.wantCode == 0 {
				wantOK(t, a)
				if a.body["success"] != true {
					t.Fatalf(`want {"success":true}, got %s`, a.raw)
				}
				code, found := sim.VerificationCode(unverifiedID)
				if !found || !regexp.MustCompile(`^\d{6}$`).MatchString(code) {
					t.Fatalf("want a 6-digit code remembered, got %q (found %v)", code, found)
				}
				if st.CodeRequests != 1 || st.CodeMethod == "" || st.CodeLanguage == "" {
					t.Errorf("want 1 request with method and language recorded, got %d %q %q", st.CodeRequests, st.CodeMethod, st.CodeLanguage)
				}
				return
			}
			wantError(t, a, http.StatusBadRequest, tt.wantCode, 0)
			if _, found := sim.VerificationCode(unverifiedID); found || st.CodeRequests != 0 {
				t.Errorf("want no code and no counted request after a refused call, got found %v, %d requests", found, st.CodeRequests)
			}
		})
	}
}

// post sends one authenticated POST as acmeToken with the given content type.
func post(t *testing.T, target, contentType, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+acmeToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("POST %s: body is not a JSON object: %v\n%s", target, err, raw)
	}
	return a
}

func TestRequestCodeRefusals(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, sim *Server)
		id      string
		details string // a word the details must contain
	}{
		{"already verified", nil, pendingID, "already verified"},
		{"number cannot receive codes", func(t *testing.T, sim *Server) {
			st := mustNumber(t, sim, unverifiedID)
			st.Number.CodeRequestFails = true
			if err := sim.AddNumber(st.Number); err != nil {
				t.Fatal(err)
			}
		}, unverifiedID, "cannot be sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts, _ := newSim(t, "demo", "pending_provisioning")
			if tt.setup != nil {
				tt.setup(t, sim)
			}
			a := call(t, ts, http.MethodPost, "/v24.0/"+tt.id+"/request_code", acmeToken, `{"code_method":"SMS","language":"en_US"}`)
			e := wantError(t, a, http.StatusBadRequest, 136024, 0)
			if str(e["message"]) != "(#136024) Request code error" {
				t.Errorf("want Meta's title, got %q", e["message"])
			}
			details := str(e["error_data"].(map[string]any)["details"])
			if !strings.Contains(details, tt.details) {
				t.Errorf("want details mentioning %q, got %q", tt.details, details)
			}
			if _, found := sim.VerificationCode(tt.id); found {
				t.Error("want no code after a refusal")
			}
		})
	}
}

func TestScenarioFieldCodeRequestFails(t *testing.T) {
	sim, ts, _ := newSim(t, "demo")
	st := mustNumber(t, sim, unverifiedID)
	st.Number.CodeRequestFails = true
	if err := sim.AddNumber(st.Number); err != nil {
		t.Fatal(err)
	}
	if !mustNumber(t, sim, unverifiedID).CodeRequestFails {
		t.Fatal("want code_request_fails kept on the number")
	}
	wantError(t, call(t, ts, http.MethodPost, "/v24.0/"+unverifiedID+"/request_code?code_method=VOICE&language=en_US", acmeToken, ""),
		http.StatusBadRequest, 136024, 0)
}

func TestRequestCodeRateLimit(t *testing.T) {
	sim, ts, clock := newSim(t, "demo")
	req := func() answer {
		return call(t, ts, http.MethodPost, "/v24.0/"+unverifiedID+"/request_code", acmeToken, `{"code_method":"SMS","language":"en_US"}`)
	}
	var last string
	for range CodeRequestLimit {
		wantOK(t, req())
		last, _ = sim.VerificationCode(unverifiedID)
		clock.Advance(time.Minute)
	}
	e := wantError(t, req(), http.StatusBadRequest, 136024, 0)
	if d := str(e["error_data"].(map[string]any)["details"]); !strings.Contains(d, "Too many") {
		t.Errorf("want a too-many-requests detail, got %q", d)
	}
	if got, _ := sim.VerificationCode(unverifiedID); got != last {
		t.Errorf("want the last code still valid after a refused request, got %q want %q", got, last)
	}
	if st := mustNumber(t, sim, unverifiedID); st.CodeRequests != CodeRequestLimit {
		t.Errorf("want %d counted requests (the refused one not counted), got %d", CodeRequestLimit, st.CodeRequests)
	}
	clock.Advance(CodeRequestWindow - time.Duration(CodeRequestLimit-1)*time.Minute)
	wantOK(t, req()) // the oldest request left the moving window
}

func TestVerifyCode(t *testing.T) {
	tests := []struct {
		name     string
		prepare  func(sim *Server, clock *FakeClock, code string) string // returns the code to send
		wantCode float64                                                 // 0: success
	}{
		{"right code", func(_ *Server, _ *FakeClock, code string) string { return code }, 0},
		{"wrong code", func(_ *Server, _ *FakeClock, code string) string { return wrongCode(code) }, 136025},
		{"expired code", func(_ *Server, clock *FakeClock, code string) string { clock.Advance(CodeTTL); return code }, 136025},
		{"missing code", func(_ *Server, _ *FakeClock, _ string) string { return "" }, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts, clock := newSim(t, "demo")
			wantOK(t, call(t, ts, http.MethodPost, "/v24.0/"+unverifiedID+"/request_code", acmeToken, `{"code_method":"SMS","language":"en_US"}`))
			code, _ := sim.VerificationCode(unverifiedID)
			send := tt.prepare(sim, clock, code)
			body := `{}`
			if send != "" {
				body = `{"code":"` + send + `"}`
			}
			a := call(t, ts, http.MethodPost, "/v24.0/"+unverifiedID+"/verify_code", acmeToken, body)
			st := mustNumber(t, sim, unverifiedID)
			if tt.wantCode != 0 {
				wantError(t, a, http.StatusBadRequest, tt.wantCode, 0)
				if st.CodeVerificationStatus != "NOT_VERIFIED" {
					t.Errorf("want the number still NOT_VERIFIED, got %s", st.CodeVerificationStatus)
				}
				return
			}
			wantOK(t, a)
			if a.body["success"] != true || st.CodeVerificationStatus != "VERIFIED" {
				t.Fatalf("want success and VERIFIED, got %s and %s", a.raw, st.CodeVerificationStatus)
			}
			if _, found := sim.VerificationCode(unverifiedID); found {
				t.Error("want the code used up after verification")
			}
			// The same code a second time is used: 136025.
			wantError(t, call(t, ts, http.MethodPost, "/v24.0/"+unverifiedID+"/verify_code", acmeToken, body), http.StatusBadRequest, 136025, 0)
			// Verified, the number can now register (it got 133006 before).
			wantOK(t, register(t, ts, unverifiedID, acmeToken, "123456"))
		})
	}
}

func TestVerifyCodeWithoutRequest(t *testing.T) {
	_, ts, _ := newSim(t, "demo")
	e := wantError(t, call(t, ts, http.MethodPost, "/v24.0/"+unverifiedID+"/verify_code", acmeToken, `{"code":"123456"}`), http.StatusBadRequest, 136025, 0)
	if str(e["message"]) != "(#136025) Verify code error" {
		t.Errorf("want the 136025 title, got %q", e["message"])
	}
}

func TestNewCodeReplacesOld(t *testing.T) {
	sim, ts, _ := newSim(t, "demo")
	wantOK(t, call(t, ts, http.MethodPost, "/v24.0/"+unverifiedID+"/request_code", acmeToken, `{"code_method":"SMS","language":"en_US"}`))
	first, _ := sim.VerificationCode(unverifiedID)
	wantOK(t, call(t, ts, http.MethodPost, "/v24.0/"+unverifiedID+"/request_code", acmeToken, `{"code_method":"VOICE","language":"en_US"}`))
	second, _ := sim.VerificationCode(unverifiedID)
	if first == second {
		t.Fatalf("want a fresh code from the seeded source, got %s twice", first)
	}
	if st := mustNumber(t, sim, unverifiedID); st.CodeMethod != "VOICE" {
		t.Errorf("want the last method VOICE recorded, got %q", st.CodeMethod)
	}
	wantError(t, call(t, ts, http.MethodPost, "/v24.0/"+unverifiedID+"/verify_code", acmeToken, `{"code":"`+first+`"}`), http.StatusBadRequest, 136025, 0)
	wantOK(t, call(t, ts, http.MethodPost, "/v24.0/"+unverifiedID+"/verify_code", acmeToken, `{"code":"`+second+`"}`))
}

func TestVerificationEdgesNeedPOSTAndToken(t *testing.T) {
	_, ts, _ := newSim(t, "demo")
	for _, edge := range []string{"request_code", "verify_code"} {
		wantError(t, call(t, ts, http.MethodGet, "/v24.0/"+unverifiedID+"/"+edge, acmeToken, ""), http.StatusBadRequest, 100, 33)
		wantError(t, call(t, ts, http.MethodPost, "/v24.0/"+unverifiedID+"/"+edge, "", `{}`), http.StatusUnauthorized, 190, 0)
	}
}

func TestCodesPage(t *testing.T) {
	sim, ts, _ := newSim(t, "demo")
	get := func() (int, string, string) {
		resp, err := http.Get(ts.URL + CodesPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	status, ct, page := get()
	if status != http.StatusOK || !strings.HasPrefix(ct, "text/html") || !strings.Contains(page, "stand-in for the SMS") || !strings.Contains(page, `data-testid="no-codes"`) {
		t.Fatalf("want an HTML page saying it stands in for the SMS and has no codes, got %d %s:\n%s", status, ct, page)
	}
	wantOK(t, call(t, ts, http.MethodPost, "/v24.0/"+unverifiedID+"/request_code", acmeToken, `{"code_method":"SMS","language":"en_US"}`))
	code, _ := sim.VerificationCode(unverifiedID)
	_, _, page = get()
	if !strings.Contains(page, `data-testid="code-`+unverifiedID+`"`) || !strings.Contains(page, "<code>"+code+"</code>") {
		t.Fatalf("want the number's row with code %s, got:\n%s", code, page)
	}
	resp, err := http.Post(ts.URL+CodesPath, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("want POST refused with 405, got %d", resp.StatusCode)
	}
	for _, r := range sim.Requests() {
		if r.Path == CodesPath {
			t.Errorf("want the codes page kept out of the request log, found %+v", r)
		}
	}
}

func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}
