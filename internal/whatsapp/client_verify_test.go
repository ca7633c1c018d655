package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

func TestRequestCodeWireFormat(t *testing.T) {
	tests := []struct {
		method, language string
	}{
		{CodeMethodSMS, "en_US"},
		{CodeMethodVoice, "pt_BR"},
		{CodeMethodSMS, "en"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.language, func(t *testing.T) {
			var calls atomic.Int32
			client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				checkAuth(t, r)
				if r.Method != http.MethodPost || r.URL.Path != "/v24.0/1001/request_code" {
					t.Errorf("request = %s %s, want POST /v24.0/1001/request_code", r.Method, r.URL.Path)
				}
				var body map[string]any
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
					t.Errorf("decode body: %v", err)
				}
				if want := map[string]any{"code_method": tt.method, "language": tt.language}; !reflect.DeepEqual(body, want) {
					t.Errorf("body = %v, want %v", body, want)
				}
				writeJSON(w, http.StatusOK, []byte(`{"success":true}`))
			})
			if err := client.RequestCode(context.Background(), testToken, "1001", tt.method, tt.language); err != nil {
				t.Fatalf("RequestCode: want no error, got %v", err)
			}
			if got := calls.Load(); got != 1 {
				t.Errorf("HTTP calls = %d, want 1", got)
			}
		})
	}
}

func TestVerifyCodeWireFormat(t *testing.T) {
	client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		checkAuth(t, r)
		if r.Method != http.MethodPost || r.URL.Path != "/v24.0/1001/verify_code" {
			t.Errorf("request = %s %s, want POST /v24.0/1001/verify_code", r.Method, r.URL.Path)
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("decode body: %v", err)
		}
		if want := map[string]any{"code": "024680"}; !reflect.DeepEqual(body, want) {
			t.Errorf("body = %v, want %v", body, want)
		}
		writeJSON(w, http.StatusOK, []byte(`{"success":true}`))
	})
	if err := client.VerifyCode(context.Background(), testToken, "1001", "024680"); err != nil {
		t.Fatalf("VerifyCode: want no error, got %v", err)
	}
}

func TestVerificationInputsCheckedBeforeAnyCall(t *testing.T) {
	tests := []struct {
		name string
		call func(c *Client) error
		want error
	}{
		{"empty method", func(c *Client) error { return c.RequestCode(context.Background(), testToken, "1001", "", "en_US") }, errCodeMethod},
		{"lower-case method", func(c *Client) error { return c.RequestCode(context.Background(), testToken, "1001", "sms", "en_US") }, errCodeMethod},
		{"IVR", func(c *Client) error { return c.RequestCode(context.Background(), testToken, "1001", "IVR", "en_US") }, errCodeMethod},
		{"empty language", func(c *Client) error {
			return c.RequestCode(context.Background(), testToken, "1001", CodeMethodSMS, "")
		}, errCodeLanguage},
		{"language with a dash", func(c *Client) error {
			return c.RequestCode(context.Background(), testToken, "1001", CodeMethodSMS, "en-US")
		}, errCodeLanguage},
		{"language with a query", func(c *Client) error {
			return c.RequestCode(context.Background(), testToken, "1001", CodeMethodVoice, "en&x=1")
		}, errCodeLanguage},
		{"empty code", func(c *Client) error { return c.VerifyCode(context.Background(), testToken, "1001", "") }, errCodeFormat},
		{"5 digits", func(c *Client) error { return c.VerifyCode(context.Background(), testToken, "1001", "12345") }, errCodeFormat},
		{"7 digits", func(c *Client) error { return c.VerifyCode(context.Background(), testToken, "1001", "1234567") }, errCodeFormat},
		{"letter", func(c *Client) error { return c.VerifyCode(context.Background(), testToken, "1001", "12345a") }, errCodeFormat},
		{"dash", func(c *Client) error { return c.VerifyCode(context.Background(), testToken, "1001", "123-456") }, errCodeFormat},
		{"wide digits", func(c *Client) error {
			return c.VerifyCode(context.Background(), testToken, "1001", "１２３４５６")
		}, errCodeFormat},
	}
	var calls atomic.Int32
	client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		writeJSON(w, http.StatusOK, []byte(`{"success":true}`))
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(client); !errors.Is(err, tt.want) {
				t.Errorf("want %v, got %v", tt.want, err)
			}
		})
	}
	if got := calls.Load(); got != 0 {
		t.Errorf("HTTP calls = %d, want 0 (invalid input must not reach Meta)", got)
	}
}

func TestVerificationCallsAreNeverRetried(t *testing.T) {
	tests := []struct {
		name string
		call func(c *Client) error
	}{
		{"request code", func(c *Client) error {
			return c.RequestCode(context.Background(), testToken, "1001", CodeMethodSMS, "en_US")
		}},
		{"verify code", func(c *Client) error { return c.VerifyCode(context.Background(), testToken, "1001", "123456") }},
	}
	for _, tt := range tests {
		for _, status := range []int{500, 503} {
			t.Run(fmt.Sprintf("%s %d", tt.name, status), func(t *testing.T) {
				var calls atomic.Int32
				client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
					calls.Add(1)
					writeJSON(w, status, []byte(`{"error":{"code":2,"message":"Service temporarily unavailable","is_transient":true}}`))
				}, WithRetry(5, time.Millisecond, time.Millisecond))
				if err := tt.call(client); KindOf(err) != KindTransient {
					t.Errorf("KindOf = %q, want transient", KindOf(err))
				}
				if got := calls.Load(); got != 1 {
					t.Errorf("HTTP calls = %d, want 1 (each call sends a real SMS or call)", got)
				}
			})
		}
	}
}

func TestVerificationCodeNeverLeaks(t *testing.T) {
	const code = "864213"
	// Meta, or a proxy, echoing the whole request back in every text field.
	echo := func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		secret := r.Header.Get("Authorization") + " " + string(raw)
		b, _ := json.Marshal(map[string]any{"error": map[string]any{
			"message": "(#136025) bad " + secret, "error_user_title": secret, "error_user_msg": "code " + code + " is wrong",
			"code": 136025, "fbtrace_id": "trace", "error_data": map[string]string{"details": "The code " + code + " does not match"},
		}})
		writeJSON(w, http.StatusBadRequest, b)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client, _ := newTestClient(t, echo, WithLogger(logger))
	err := client.VerifyCode(context.Background(), testToken, "1001", code)
	ge, ok := errors.AsType[*GraphError](err)
	if !ok {
		t.Fatalf("want a *GraphError, got %v", err)
	}
	if ge.Kind != KindCodeWrong {
		t.Errorf("Kind = %q, want %q", ge.Kind, KindCodeWrong)
	}
	all := err.Error() + fmt.Sprintf("%+v", *ge) + logs.String()
	for _, secret := range []string{code, testToken} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q leaked into error or logs:\n%s", secret, all)
		}
	}
	if !strings.Contains(ge.Details, "[redacted]") {
		t.Errorf("Details = %q, want the echoed code replaced by [redacted]", ge.Details)
	}
}

// TestVerificationAgainstSimulator walks Meta's steps 2-4 (request a code, verify it,
// register) through the simulator, the way the product meets Meta.
func TestVerificationAgainstSimulator(t *testing.T) {
	const (
		token      = "EAAsim-demo-token-acme"
		unverified = "109876543210012" // demo: NOT_VERIFIED
		verified   = "109876543210001" // pending_provisioning: VERIFIED
	)
	newSim := func(t *testing.T) (*graphsim.Server, *Client) {
		t.Helper()
		sim := graphsim.New(graphsim.Config{Clock: graphsim.NewFakeClock(time.Date(2025, 10, 1, 9, 0, 0, 0, time.UTC)), Seed: 7})
		for _, name := range []string{"demo", "pending_provisioning"} {
			sc, err := graphsim.LoadScenario(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := sim.Load(sc); err != nil {
				t.Fatal(err)
			}
		}
		srv := httptest.NewServer(sim)
		t.Cleanup(func() { srv.Close(); sim.Close() })
		return sim, NewClient(srv.URL+sim.Prefix(), srv.Client())
	}
	ctx := context.Background()

	t.Run("request, wrong code, right code, register", func(t *testing.T) {
		sim, client := newSim(t)
		if err := client.Register(ctx, token, unverified, "123456"); KindOf(err) != KindNeedsVerification {
			t.Fatalf("Register before verification: want %q, got %v", KindNeedsVerification, err)
		}
		if err := client.RequestCode(ctx, token, unverified, CodeMethodSMS, "en_US"); err != nil {
			t.Fatalf("RequestCode: %v", err)
		}
		code, found := sim.VerificationCode(unverified)
		if !found {
			t.Fatal("want the simulator to hold a code after RequestCode")
		}
		wrong := "000000"
		if code == wrong {
			wrong = "000001"
		}
		err := client.VerifyCode(ctx, token, unverified, wrong)
		if KindOf(err) != KindCodeWrong || KindOf(err).Retryable() {
			t.Fatalf("VerifyCode with a wrong code: want %q, not retryable; got %v", KindCodeWrong, err)
		}
		if err := client.VerifyCode(ctx, token, unverified, code); err != nil {
			t.Fatalf("VerifyCode with the right code: %v", err)
		}
		n, err := client.PhoneNumber(ctx, token, unverified)
		if err != nil {
			t.Fatal(err)
		}
		if n.CodeVerificationStatus != "VERIFIED" {
			t.Errorf("code_verification_status = %q, want VERIFIED", n.CodeVerificationStatus)
		}
		if err := client.VerifyCode(ctx, token, unverified, code); KindOf(err) != KindCodeWrong {
			t.Errorf("VerifyCode with a used code: want %q, got %v", KindCodeWrong, err)
		}
		if err := client.Register(ctx, token, unverified, "123456"); err != nil {
			t.Errorf("Register after verification: %v", err)
		}
	})

	refusals := []struct {
		name  string
		id    string
		setup func(t *testing.T, sim *graphsim.Server)
	}{
		{"already verified", verified, nil},
		{"number cannot receive a code", unverified, func(t *testing.T, sim *graphsim.Server) {
			st, _ := sim.Number(unverified)
			st.Number.CodeRequestFails = true
			if err := sim.AddNumber(st.Number); err != nil {
				t.Fatal(err)
			}
		}},
		{"too many requests", unverified, nil}, // after graphsim.CodeRequestLimit codes, below
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			sim, client := newSim(t)
			if tt.setup != nil {
				tt.setup(t, sim)
			}
			if tt.name == "too many requests" {
				for i := range graphsim.CodeRequestLimit {
					if err := client.RequestCode(ctx, token, tt.id, CodeMethodVoice, "en_US"); err != nil {
						t.Fatalf("request %d: %v", i+1, err)
					}
				}
			}
			err := client.RequestCode(ctx, token, tt.id, CodeMethodSMS, "en_US")
			ge, ok := errors.AsType[*GraphError](err)
			if !ok || ge.Kind != KindCodeNotSent || ge.Code != 136024 || ge.Kind.Retryable() {
				t.Fatalf("want 136024 as %q, not retryable; got %v", KindCodeNotSent, err)
			}
			if ge.Kind.Explain().Title == "" || ge.MetaText() == "" {
				t.Errorf("want an explanation and Meta's text, got %+v / %q", ge.Kind.Explain(), ge.MetaText())
			}
		})
	}
}
