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
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testToken = "EAAGtestTOKENsecret123"

// graphFixture reads a Graph API payload copied from shared/fixtures/graph.
func graphFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// newTestClient starts a server running h and returns a client for its /v24.0 base,
// with fast retries so tests stay quick.
func newTestClient(t *testing.T, h http.HandlerFunc, opts ...Option) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts = append([]Option{WithRetry(3, time.Millisecond, 5*time.Millisecond), WithTimeout(5 * time.Second)}, opts...)
	return NewClient(srv.URL+"/v24.0", srv.Client(), opts...), srv
}

// checkAuth fails the test unless the request authenticates only by header.
func checkAuth(t *testing.T, r *http.Request) {
	t.Helper()
	if got, want := r.Header.Get("Authorization"), "Bearer "+testToken; got != want {
		t.Errorf("Authorization header = %q, want %q", got, want)
	}
	if strings.Contains(r.URL.String(), testToken) || r.URL.Query().Has("access_token") {
		t.Errorf("token or access_token in URL %q", r.URL.String())
	}
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

func TestPhoneNumberParsesFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		want    PhoneNumber
	}{
		{
			fixture: "phone_connected.json",
			want: PhoneNumber{
				ID: "109876543210003", DisplayPhoneNumber: "+55 11 95555-0199", VerifiedName: "Padaria Central",
				CodeVerificationStatus: "VERIFIED", NameStatus: "APPROVED", Status: "CONNECTED", QualityRating: "GREEN",
				MessagingLimitTier: "TIER_1K", BusinessMessagingLimit: "TIER_2K", PlatformType: "CLOUD_API",
				Throughput: Throughput{Level: "STANDARD"}, AccountMode: "LIVE", LastOnboardedTime: "2025-03-02T08:00:01+0000",
				HealthStatus: &HealthStatus{CanSendMessage: "AVAILABLE", Entities: []HealthEntity{
					{EntityType: "PHONE_NUMBER", ID: "109876543210003", CanSendMessage: "AVAILABLE"},
					{EntityType: "WABA", ID: "209876543210003", CanSendMessage: "AVAILABLE"},
					{EntityType: "BUSINESS", ID: "309876543210003", CanSendMessage: "AVAILABLE"},
					{EntityType: "APP", ID: "409876543210001", CanSendMessage: "AVAILABLE"},
				}},
			},
		},
		{
			fixture: "phone_flagged_blocked.json",
			want: PhoneNumber{
				ID: "109876543210004", DisplayPhoneNumber: "+91 98765 00004", VerifiedName: "Quick Loans Desk",
				CodeVerificationStatus: "VERIFIED", NameStatus: "APPROVED", Status: "FLAGGED", QualityRating: "RED",
				BusinessMessagingLimit: "TIER_250", PlatformType: "CLOUD_API", Throughput: Throughput{Level: "STANDARD"},
				AccountMode: "LIVE",
				HealthStatus: &HealthStatus{CanSendMessage: "BLOCKED", Entities: []HealthEntity{
					{EntityType: "PHONE_NUMBER", ID: "109876543210004", CanSendMessage: "AVAILABLE"},
					{EntityType: "WABA", ID: "209876543210004", CanSendMessage: "BLOCKED", Errors: []HealthError{{
						ErrorCode:        141006,
						ErrorDescription: "There is an error with the payment method.",
						PossibleSolution: "Add a valid payment method to the WhatsApp Business Account in Business Settings.",
					}}},
					{EntityType: "BUSINESS", ID: "309876543210004", CanSendMessage: "AVAILABLE"},
					{EntityType: "APP", ID: "409876543210001", CanSendMessage: "AVAILABLE"},
				}},
			},
		},
		{
			fixture: "phone_name_in_review.json",
			want: PhoneNumber{
				ID: "109876543210002", DisplayPhoneNumber: "+44 20 7946 0018", VerifiedName: "Blue Harbor Travel",
				CodeVerificationStatus: "VERIFIED", NameStatus: "PENDING_REVIEW", Status: "PENDING", QualityRating: "NA",
				PlatformType: "NOT_APPLICABLE", Throughput: Throughput{Level: "NOT_APPLICABLE"}, AccountMode: "LIVE",
				HealthStatus: &HealthStatus{CanSendMessage: "LIMITED", Entities: []HealthEntity{
					{EntityType: "PHONE_NUMBER", ID: "109876543210002", CanSendMessage: "LIMITED", AdditionalInfo: []string{
						"Your display name has not been approved yet. Your message limit will be increased after the display name is approved.",
					}},
					{EntityType: "WABA", ID: "209876543210001", CanSendMessage: "AVAILABLE"},
					{EntityType: "BUSINESS", ID: "309876543210001", CanSendMessage: "AVAILABLE"},
					{EntityType: "APP", ID: "409876543210001", CanSendMessage: "AVAILABLE"},
				}},
			},
		},
		{
			fixture: "phone_pending_provisioning.json",
			want: PhoneNumber{
				ID: "109876543210001", DisplayPhoneNumber: "+1 415-555-0142", VerifiedName: "Acme Support",
				CodeVerificationStatus: "VERIFIED", NameStatus: "APPROVED", Status: "PENDING", QualityRating: "UNKNOWN",
				PlatformType: "NOT_APPLICABLE", Throughput: Throughput{Level: "NOT_APPLICABLE"}, AccountMode: "LIVE",
				LastOnboardedTime: "2025-09-29T10:12:44+0000",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			body := graphFixture(t, tt.fixture)
			client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				checkAuth(t, r)
				if r.Method != http.MethodGet || r.URL.Path != "/v24.0/"+tt.want.ID {
					t.Errorf("request = %s %s, want GET /v24.0/%s", r.Method, r.URL.Path, tt.want.ID)
				}
				if got := r.URL.Query().Get("fields"); got != PhoneNumberFields {
					t.Errorf("fields = %q, want %q", got, PhoneNumberFields)
				}
				writeJSON(w, http.StatusOK, body)
			})
			got, err := client.PhoneNumber(context.Background(), testToken, tt.want.ID)
			if err != nil {
				t.Fatalf("PhoneNumber: want no error, got %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("PhoneNumber parsed\n got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestPhoneNumberToleratesTypesAndUnknownValues(t *testing.T) {
	body := `{
		"id": "1", "status": "SOMETHING_NEW", "quality_rating": "PURPLE", "platform_type": "HOLOGRAM",
		"throughput": {"level": "LUDICROUS", "extra": 1},
		"is_official_business_account": "true",
		"brand_new_field": {"nested": [1, 2, 3]},
		"health_status": {"can_send_message": "MAYBE", "entities": [
			{"entity_type": "GALAXY", "id": "9", "can_send_message": "MAYBE",
			 "errors": [{"error_code": "141006"}, {"error_code": 131031.0}, {"error_code": null}]}
		]}
	}`
	client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []byte(body))
	})
	got, err := client.PhoneNumber(context.Background(), testToken, "1")
	if err != nil {
		t.Fatalf("PhoneNumber: want no error for unknown values, got %v", err)
	}
	checks := []struct{ field, got, want string }{
		{"status", got.Status, "SOMETHING_NEW"},
		{"quality_rating", got.QualityRating, "PURPLE"},
		{"platform_type", got.PlatformType, "HOLOGRAM"},
		{"throughput.level", got.Throughput.Level, "LUDICROUS"},
		{"health_status.can_send_message", got.HealthStatus.CanSendMessage, "MAYBE"},
		{"entity_type", got.HealthStatus.Entities[0].EntityType, "GALAXY"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q kept as sent", c.field, c.got, c.want)
		}
	}
	if !got.IsOfficialBusinessAccount {
		t.Errorf(`is_official_business_account "true": got false, want true`)
	}
	var codes []int64
	for _, e := range got.HealthStatus.Entities[0].Errors {
		codes = append(codes, e.ErrorCode)
	}
	if want := []int64{141006, 131031, 0}; !reflect.DeepEqual(codes, want) {
		t.Errorf("error_code from string, float and null: got %v, want %v", codes, want)
	}
}

func TestBusinessPhoneNumbersFollowsPaging(t *testing.T) {
	var calls atomic.Int32
	var srvURL string
	client, srv := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		checkAuth(t, r)
		n := calls.Add(1)
		if r.URL.Path != "/v24.0/2001/phone_numbers" {
			t.Errorf("page %d path = %q, want /v24.0/2001/phone_numbers", n, r.URL.Path)
		}
		q := r.URL.Query()
		if q.Get("limit") != "100" || q.Get("fields") != PhoneNumberFields {
			t.Errorf("page %d query = %q, want limit=100 and fields=PhoneNumberFields", n, r.URL.RawQuery)
		}
		if n > 1 && q.Get("after") != fmt.Sprintf("cursor%d", n-1) {
			t.Errorf("page %d after = %q, want cursor%d", n, q.Get("after"), n-1)
		}
		page := map[string]any{"data": []map[string]string{
			{"id": fmt.Sprintf("%d-a", n), "status": "CONNECTED"},
			{"id": fmt.Sprintf("%d-b", n), "status": "PENDING"},
		}}
		if n < 3 {
			// Meta echoes the token into next when it came in the query; ours must not.
			next := fmt.Sprintf("%s/v24.0/2001/phone_numbers?access_token=%s&fields=%s&limit=100&after=cursor%d",
				srvURL, testToken, PhoneNumberFields, n)
			page["paging"] = map[string]any{"cursors": map[string]string{"after": "x"}, "next": next}
		}
		b, _ := json.Marshal(page)
		writeJSON(w, http.StatusOK, b)
	})
	srvURL = srv.URL

	numbers, err := client.BusinessPhoneNumbers(context.Background(), testToken, "2001")
	if err != nil {
		t.Fatalf("BusinessPhoneNumbers: want no error, got %v", err)
	}
	var ids []string
	for _, p := range numbers {
		ids = append(ids, p.ID)
	}
	if want := []string{"1-a", "1-b", "2-a", "2-b", "3-a", "3-b"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids across pages = %v, want %v", ids, want)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("HTTP calls = %d, want 3 (one per page)", got)
	}
}

func TestBusinessPhoneNumbersRefusesForeignPagingHost(t *testing.T) {
	var foreignCalls atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignCalls.Add(1)
		writeJSON(w, http.StatusOK, []byte(`{"data":[]}`))
	}))
	defer foreign.Close()
	for _, next := range []string{
		foreign.URL + "/v24.0/2001/phone_numbers?after=x",
		"https://evil.example.com/v24.0/2001/phone_numbers?after=x",
		strings.Replace(foreign.URL, "http://", "https://", 1) + "/x",
	} {
		client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			b, _ := json.Marshal(map[string]any{"data": []map[string]string{{"id": "1"}}, "paging": map[string]string{"next": next}})
			writeJSON(w, http.StatusOK, b)
		})
		numbers, err := client.BusinessPhoneNumbers(context.Background(), testToken, "2001")
		if !errors.Is(err, errForeignPagingURL) {
			t.Errorf("next %q: want errForeignPagingURL, got numbers %v, error %v", next, numbers, err)
		}
	}
	if n := foreignCalls.Load(); n != 0 {
		t.Errorf("foreign host called %d times, want 0", n)
	}
}

func TestBusinessPhoneNumbersBoundsPages(t *testing.T) {
	var calls atomic.Int32
	var srvURL string
	client, srv := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		b, _ := json.Marshal(map[string]any{"data": []map[string]string{{"id": "1"}}, "paging": map[string]string{"next": srvURL + r.URL.String()}})
		writeJSON(w, http.StatusOK, b)
	})
	srvURL = srv.URL
	_, err := client.BusinessPhoneNumbers(context.Background(), testToken, "2001")
	if !errors.Is(err, errTooManyPages) {
		t.Errorf("endless paging: want errTooManyPages, got %v", err)
	}
	if got := calls.Load(); got != maxPages {
		t.Errorf("HTTP calls = %d, want %d", got, maxPages)
	}
}

func TestBusinessHealth(t *testing.T) {
	client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		checkAuth(t, r)
		if r.URL.Path != "/v24.0/2001" || r.URL.Query().Get("fields") != "health_status" {
			t.Errorf("request = %s, want /v24.0/2001?fields=health_status", r.URL)
		}
		writeJSON(w, http.StatusOK, []byte(`{"id":"2001","health_status":{"can_send_message":"LIMITED","entities":[
			{"entity_type":"WABA","id":"2001","can_send_message":"LIMITED","errors":[{"error_code":"131031","error_description":"locked"}]}]}}`))
	})
	got, err := client.BusinessHealth(context.Background(), testToken, "2001")
	if err != nil {
		t.Fatalf("BusinessHealth: want no error, got %v", err)
	}
	want := &HealthStatus{CanSendMessage: "LIMITED", Entities: []HealthEntity{{
		EntityType: "WABA", ID: "2001", CanSendMessage: "LIMITED",
		Errors: []HealthError{{ErrorCode: 131031, ErrorDescription: "locked"}},
	}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("BusinessHealth\n got %+v\nwant %+v", got, want)
	}

	client, _ = newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"id":"2001"}`))
	})
	if _, err := client.BusinessHealth(context.Background(), testToken, "2001"); err == nil {
		t.Error("BusinessHealth without health_status: want an error, got none")
	}
}

func TestRegisterSendsPINOnce(t *testing.T) {
	var calls atomic.Int32
	client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		checkAuth(t, r)
		if r.Method != http.MethodPost || r.URL.Path != "/v24.0/1001/register" {
			t.Errorf("request = %s %s, want POST /v24.0/1001/register", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("decode body: %v", err)
		}
		if want := map[string]any{"messaging_product": "whatsapp", "pin": "123456"}; !reflect.DeepEqual(body, want) {
			t.Errorf("body = %v, want %v", body, want)
		}
		writeJSON(w, http.StatusOK, []byte(`{"success":true}`))
	})
	if err := client.Register(context.Background(), testToken, "1001", "123456"); err != nil {
		t.Fatalf("Register: want no error, got %v", err)
	}
	for _, pin := range []string{"", "12345", "1234567", "12345a", "１２３４５６"} {
		if err := client.Register(context.Background(), testToken, "1001", pin); err == nil {
			t.Errorf("Register with PIN %q: want an error before any call, got none", pin)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("HTTP calls = %d, want 1 (invalid PINs must not reach Meta)", got)
	}
}

func TestPostsRequireSuccessTrue(t *testing.T) {
	for _, body := range []string{`{"success":false}`, `{}`, `not json`, `{"success":"true"}`} {
		client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, []byte(body))
		})
		err := client.Register(context.Background(), testToken, "1001", "123456")
		if wantErr := body != `{"success":"true"}`; (err != nil) != wantErr {
			t.Errorf("Register answered %s: want error=%v, got %v", body, wantErr, err)
		}
	}
}

// TestSubscribeAppSendsNoOverride: the app is subscribed with an empty POST, never with
// override_callback_uri, which would pull the customer's message webhooks away from
// their chat platform.
func TestSubscribeAppSendsNoOverride(t *testing.T) {
	var calls atomic.Int32
	client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		checkAuth(t, r)
		if r.Method != http.MethodPost || r.URL.Path != "/v24.0/2001/subscribed_apps" {
			t.Errorf("request = %s %s, want POST /v24.0/2001/subscribed_apps", r.Method, r.URL.Path)
		}
		body, _ := io.ReadAll(r.Body)
		if len(body) != 0 || r.ContentLength > 0 {
			t.Errorf("body = %q (Content-Length %d), want none", body, r.ContentLength)
		}
		if r.URL.RawQuery != "" || strings.Contains(string(body), "override_callback_uri") {
			t.Errorf("request carries parameters (query %q, body %q), want none", r.URL.RawQuery, body)
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			t.Errorf("Content-Type = %q, want none for an empty body", ct)
		}
		writeJSON(w, http.StatusOK, []byte(`{"success":true}`))
	})
	if err := client.SubscribeApp(context.Background(), testToken, "2001"); err != nil {
		t.Fatalf("SubscribeApp: want no error, got %v", err)
	}
	if err := client.SubscribeApp(context.Background(), testToken, "../x"); err == nil {
		t.Error("SubscribeApp with a bad WABA id: want an error, got none")
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("HTTP calls = %d, want 1", got)
	}
}

func TestSetTwoStepPIN(t *testing.T) {
	var calls atomic.Int32
	client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		checkAuth(t, r)
		if r.Method != http.MethodPost || r.URL.Path != "/v24.0/1001" {
			t.Errorf("request = %s %s, want POST /v24.0/1001", r.Method, r.URL.Path)
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("decode body: %v", err)
		}
		if want := map[string]any{"pin": "654321"}; !reflect.DeepEqual(body, want) {
			t.Errorf("body = %v, want %v", body, want)
		}
		writeJSON(w, http.StatusOK, []byte(`{"success":true}`))
	})
	if err := client.SetTwoStepPIN(context.Background(), testToken, "1001", "654321"); err != nil {
		t.Fatalf("SetTwoStepPIN: want no error, got %v", err)
	}
	for _, pin := range []string{"", "12345", "1234567", "12345a", " 123456"} {
		if err := client.SetTwoStepPIN(context.Background(), testToken, "1001", pin); err == nil {
			t.Errorf("SetTwoStepPIN with PIN %q: want an error before any call, got none", pin)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("HTTP calls = %d, want 1 (invalid PINs must not reach Meta)", got)
	}
}

func TestDeregister(t *testing.T) {
	client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		checkAuth(t, r)
		if r.Method != http.MethodPost || r.URL.Path != "/v24.0/1001/deregister" {
			t.Errorf("request = %s %s, want POST /v24.0/1001/deregister", r.Method, r.URL.Path)
		}
		writeJSON(w, http.StatusOK, []byte(`{"success":true}`))
	})
	if err := client.Deregister(context.Background(), testToken, "1001"); err != nil {
		t.Fatalf("Deregister: want no error, got %v", err)
	}
}

func TestBusinessOwner(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    string
		wantErr bool
	}{
		{"string id", `{"owner_business_info":{"id":"3001","name":"Acme"},"id":"2001"}`, "3001", false},
		{"numeric id", `{"owner_business_info":{"id":3001},"id":"2001"}`, "3001", false},
		{"missing", `{"id":"2001"}`, "", true},
		{"not json", `nope`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				checkAuth(t, r)
				if r.URL.Path != "/v24.0/2001" || r.URL.Query().Get("fields") != "owner_business_info" {
					t.Errorf("request = %s?%s, want /v24.0/2001?fields=owner_business_info", r.URL.Path, r.URL.RawQuery)
				}
				writeJSON(w, http.StatusOK, []byte(tt.body))
			})
			got, err := client.BusinessOwner(context.Background(), testToken, "2001")
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("BusinessOwner = %q, %v; want %q, error=%v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

const (
	testAppID     = "4001"
	testAppSecret = "s3cr3tAPPsecretValue"
)

func TestAppSubscriptions(t *testing.T) {
	client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if got, want := r.Header.Get("Authorization"), "Bearer "+testAppID+"|"+testAppSecret; got != want {
			t.Errorf("Authorization = %q, want %q", got, want)
		}
		if strings.Contains(r.URL.String(), testAppSecret) || r.URL.Query().Has("access_token") {
			t.Errorf("app secret or access_token in URL %q", r.URL.String())
		}
		if r.Method != http.MethodGet || r.URL.Path != "/v24.0/4001/subscriptions" {
			t.Errorf("request = %s %s, want GET /v24.0/4001/subscriptions", r.Method, r.URL.Path)
		}
		writeJSON(w, http.StatusOK, []byte(`{"data":[
			{"object":"whatsapp_business_account","callback_url":"https://inbox.example.com/webhooks/whatsapp","active":true,
			 "fields":[{"name":"phone_number_name_update","version":"v24.0"},{"name":"account_update","version":"v24.0"}]},
			{"object":"page","callback_url":"https://x.example/cb","active":false,"fields":[]}]}`))
	})
	got, err := client.AppSubscriptions(context.Background(), testAppID, testAppSecret)
	if err != nil {
		t.Fatalf("AppSubscriptions: want no error, got %v", err)
	}
	want := []AppSubscription{
		{Object: "whatsapp_business_account", CallbackURL: "https://inbox.example.com/webhooks/whatsapp", Active: true,
			Fields: []string{"phone_number_name_update", "account_update"}},
		{Object: "page", CallbackURL: "https://x.example/cb"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AppSubscriptions\n got %+v\nwant %+v", got, want)
	}
	for _, bad := range [][2]string{{"", testAppSecret}, {"../x", testAppSecret}, {testAppID, ""}, {testAppID, "a|b"}} {
		if _, err := client.AppSubscriptions(context.Background(), bad[0], bad[1]); err == nil {
			t.Errorf("AppSubscriptions(%q, secret): want an error, got none", bad[0])
		} else if bad[1] != "" && strings.Contains(err.Error(), bad[1]) {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
}

// TestSecretsNeverLeak: Meta (or a proxy) echoing the PIN or the app secret in any
// error field must not carry it into the error or the logs.
func TestSecretsNeverLeak(t *testing.T) {
	const pin = "918273"
	echo := func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		secret := r.Header.Get("Authorization") + " " + string(raw)
		b, _ := json.Marshal(map[string]any{"error": map[string]any{
			"message": "bad " + secret, "error_user_title": secret, "error_user_msg": "PIN " + pin + " is wrong",
			"code": 131031, "fbtrace_id": "trace", "error_data": map[string]string{"details": "The PIN " + pin + " does not match " + testAppSecret},
		}})
		writeJSON(w, http.StatusBadRequest, b)
	}
	tests := []struct {
		name    string
		secrets []string
		call    func(c *Client) error
	}{
		{"register", []string{pin, testToken}, func(c *Client) error { return c.Register(context.Background(), testToken, "1001", pin) }},
		{"set PIN", []string{pin, testToken}, func(c *Client) error { return c.SetTwoStepPIN(context.Background(), testToken, "1001", pin) }},
		{"app subscriptions", []string{testAppSecret}, func(c *Client) error {
			_, err := c.AppSubscriptions(context.Background(), testAppID, testAppSecret)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			client, _ := newTestClient(t, echo, WithLogger(logger))
			err := tt.call(client)
			ge, ok := errors.AsType[*GraphError](err)
			if !ok {
				t.Fatalf("want a *GraphError, got %v", err)
			}
			if tt.name != "app subscriptions" && ge.Kind != KindPINMismatch {
				t.Errorf("Kind = %q, want pin_mismatch (131031 naming the PIN)", ge.Kind)
			}
			all := err.Error() + fmt.Sprintf("%+v", *ge) + logs.String()
			for _, secret := range tt.secrets {
				if strings.Contains(all, secret) {
					t.Errorf("secret %q leaked into error or logs:\n%s", secret, all)
				}
			}
			if !strings.Contains(ge.Details, "[redacted]") {
				t.Errorf("Details = %q, want the echoed secret replaced by [redacted]", ge.Details)
			}
		})
	}
}

func TestSubscribedApps(t *testing.T) {
	client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		checkAuth(t, r)
		if r.Method != http.MethodGet || r.URL.Path != "/v24.0/2001/subscribed_apps" {
			t.Errorf("request = %s %s, want GET /v24.0/2001/subscribed_apps", r.Method, r.URL.Path)
		}
		writeJSON(w, http.StatusOK, []byte(`{"data":[
			{"whatsapp_business_api_data":{"id":"4001","name":"Inbox Health","link":"https://example.com"},"override_callback_uri":"https://inbox.example.com/cb"},
			{"whatsapp_business_api_data":{"id":4002,"name":"Other"}}]}`))
	})
	got, err := client.SubscribedApps(context.Background(), testToken, "2001")
	if err != nil {
		t.Fatalf("SubscribedApps: want no error, got %v", err)
	}
	want := []SubscribedApp{
		{AppID: "4001", Name: "Inbox Health", OverrideCallbackURI: "https://inbox.example.com/cb"},
		{AppID: "4002", Name: "Other"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SubscribedApps\n got %+v\nwant %+v", got, want)
	}
}

func TestErrorFixturesClassified(t *testing.T) {
	usageHeader := strings.TrimSpace(strings.TrimPrefix(string(graphFixture(t, "header_business_use_case_usage.txt")), HeaderBusinessUseCaseUsage+":"))
	tests := []struct {
		fixture       string
		status        int
		usage         string
		kind          Kind
		code, subcode int64
		userMessage   string
		details       string
		retryAfter    time.Duration
	}{
		{"error_register_display_name.json", 400, "", KindDisplayNameNotReady, 100, 2388001,
			"Your display name could not be processed. Please edit your display name and try again.", "", 0},
		{"error_pin_mismatch.json", 400, "", KindPINMismatch, 133005, 0, "",
			"The PIN you entered does not match the two-step verification PIN for this phone number.", 0},
		{"error_register_rate_limited.json", 400, "", KindRegisterRateLimited, 133016, 0, "",
			"Registration blocked for 72 hours: too many register or deregister requests for this phone number.", 0},
		{"error_token_expired.json", 401, "", KindTokenExpired, 190, 463, "", "", 0},
		{"error_rate_limit_80008.json", 429, usageHeader, KindRateLimited, 80008, 0, "", "", 7 * time.Minute},
		{"error_rate_limit_80008.json", 400, usageHeader, KindRateLimited, 80008, 0, "", "", 7 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.fixture, tt.status), func(t *testing.T) {
			var calls atomic.Int32
			body := graphFixture(t, tt.fixture)
			client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if tt.usage != "" {
					w.Header().Set(HeaderBusinessUseCaseUsage, tt.usage)
				}
				writeJSON(w, tt.status, body)
			})
			_, err := client.PhoneNumber(context.Background(), testToken, "1001")
			ge, ok := errors.AsType[*GraphError](err)
			if !ok {
				t.Fatalf("want a *GraphError, got %T %v", err, err)
			}
			if ge.Kind != tt.kind || KindOf(err) != tt.kind {
				t.Errorf("Kind = %q (KindOf %q), want %q", ge.Kind, KindOf(err), tt.kind)
			}
			if ge.HTTPStatus != tt.status || ge.Code != tt.code || ge.Subcode != tt.subcode {
				t.Errorf("status/code/subcode = %d/%d/%d, want %d/%d/%d", ge.HTTPStatus, ge.Code, ge.Subcode, tt.status, tt.code, tt.subcode)
			}
			if ge.UserMessage != tt.userMessage || ge.Details != tt.details {
				t.Errorf("user message %q details %q, want %q and %q", ge.UserMessage, ge.Details, tt.userMessage, tt.details)
			}
			if ge.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", ge.RetryAfter, tt.retryAfter)
			}
			if ge.Message == "" || ge.FBTraceID == "" || ge.Type != "OAuthException" {
				t.Errorf("message %q, type %q, fbtrace_id %q: want all from the fixture", ge.Message, ge.Type, ge.FBTraceID)
			}
			if !strings.HasPrefix(err.Error(), "whatsapp: get phone number: ") || !strings.Contains(err.Error(), fmt.Sprintf("code %d", tt.code)) {
				t.Errorf("error text %q: want the operation and code %d", err, tt.code)
			}
			if got := calls.Load(); got != 1 {
				t.Errorf("HTTP calls = %d, want 1 (not transient, no retry)", got)
			}
		})
	}
}

func TestNonJSONErrorBodies(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		kind        Kind
	}{
		{"html from proxy", 502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>", KindTransient},
		{"empty 500", 500, "", "", KindTransient},
		{"empty 503", 503, "text/plain", "", KindTransient},
		{"truncated json", 400, "application/json", `{"error":{"message":"(#100) Inval`, KindInvalidRequest},
		{"json without error", 404, "application/json", `{"foo":1}`, KindInvalidRequest},
		{"error is not an object", 400, "application/json", `{"error":"nope"}`, KindInvalidRequest},
		{"null", 429, "application/json", `null`, KindRateLimited},
		{"oversized", 503, "text/html", strings.Repeat("x", maxResponseBytes+10), KindTransient},
		{"odd 3xx", 304, "", "", KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.contentType != "" {
					w.Header().Set("Content-Type", tt.contentType)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}, WithRetry(1, 0, 0))
			_, err := client.PhoneNumber(context.Background(), testToken, "1001")
			ge, ok := errors.AsType[*GraphError](err)
			if !ok {
				t.Fatalf("want a *GraphError, got %T %v", err, err)
			}
			if ge.HTTPStatus != tt.status || ge.Kind != tt.kind {
				t.Errorf("HTTPStatus %d Kind %q, want %d %q", ge.HTTPStatus, ge.Kind, tt.status, tt.kind)
			}
		})
	}
}

func TestGetRetriesTransientFailures(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"http 503", 503, ``},
		{"code 1", 500, `{"error":{"code":1,"message":"unknown"}}`},
		{"code 2", 400, `{"error":{"code":2,"message":"service"}}`},
		{"code 131000", 400, `{"error":{"code":131000,"message":"something went wrong"}}`},
		{"code 133004 as string", 400, `{"error":{"code":"133004","message":"server temporarily unavailable"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) < 3 {
					writeJSON(w, tt.status, []byte(tt.body))
					return
				}
				writeJSON(w, http.StatusOK, graphFixture(t, "phone_connected.json"))
			})
			p, err := client.PhoneNumber(context.Background(), testToken, "109876543210003")
			if err != nil || p.Status != "CONNECTED" {
				t.Fatalf("after two transient failures: want the number, got %v, %v", p, err)
			}
			if got := calls.Load(); got != 3 {
				t.Errorf("HTTP calls = %d, want 3", got)
			}
		})
	}
}

func TestGetAttemptsAreBounded(t *testing.T) {
	for _, attempts := range []int{1, 3, 5} {
		var calls atomic.Int32
		client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
		}, WithRetry(attempts, time.Millisecond, 2*time.Millisecond))
		_, err := client.PhoneNumber(context.Background(), testToken, "1001")
		if KindOf(err) != KindTransient {
			t.Errorf("always 500: KindOf = %q, want transient (err %v)", KindOf(err), err)
		}
		if got := calls.Load(); got != int32(attempts) {
			t.Errorf("WithRetry(%d): HTTP calls = %d, want %d", attempts, got, attempts)
		}
	}
}

func TestGetRetriesStopAtCallTimeout(t *testing.T) {
	var calls atomic.Int32
	client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}, WithRetry(100, 50*time.Millisecond, 50*time.Millisecond), WithTimeout(200*time.Millisecond))
	start := time.Now()
	_, err := client.PhoneNumber(context.Background(), testToken, "1001")
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("retries took %v, want them bounded by the 200ms call timeout", elapsed)
	}
	if KindOf(err) != KindTransient {
		t.Errorf("KindOf = %q, want transient (err %v)", KindOf(err), err)
	}
	// Each wait is drawn from the upper half of the 50ms delay, so at least 25ms; within
	// the 200ms timeout that leaves room for at most 1+200/25 calls, however fast the
	// server answers. (A bound of 6 assumed slower answers and failed on a quick run.)
	if got := calls.Load(); got < 2 || got > 1+200/25 {
		t.Errorf("HTTP calls = %d, want a few (2..9) within 200ms at 25-50ms apart, not the 100 allowed", got)
	}
}

func TestGetDoesNotRetryOtherErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		kind   Kind
	}{
		{"rate limit 429", 429, `{"error":{"code":130429,"message":"rate limit hit"}}`, KindRateLimited},
		{"rate limit 400", 400, `{"error":{"code":4,"message":"app limit"}}`, KindRateLimited},
		{"token expired", 401, string(graphFixture(t, "error_token_expired.json")), KindTokenExpired},
		{"bad id", 400, `{"error":{"code":100,"error_subcode":33,"message":"Unsupported get request"}}`, KindInvalidRequest},
		{"locked", 403, `{"error":{"code":131031,"message":"Business account locked"}}`, KindAccountLocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				writeJSON(w, tt.status, []byte(tt.body))
			})
			_, err := client.PhoneNumber(context.Background(), testToken, "1001")
			if KindOf(err) != tt.kind {
				t.Errorf("KindOf = %q, want %q (err %v)", KindOf(err), tt.kind, err)
			}
			if got := calls.Load(); got != 1 {
				t.Errorf("HTTP calls = %d, want 1", got)
			}
		})
	}
}

func TestPostsAreNeverRetried(t *testing.T) {
	for _, status := range []int{500, 502, 503} {
		var calls atomic.Int32
		client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			writeJSON(w, status, []byte(`{"error":{"code":131000,"message":"Something went wrong","is_transient":true}}`))
		}, WithRetry(5, time.Millisecond, time.Millisecond))
		err := client.Register(context.Background(), testToken, "1001", "123456")
		if KindOf(err) != KindTransient {
			t.Errorf("Register on %d: KindOf = %q, want transient", status, KindOf(err))
		}
		err = client.SubscribeApp(context.Background(), testToken, "2001")
		if KindOf(err) != KindTransient {
			t.Errorf("SubscribeApp on %d: KindOf = %q, want transient", status, KindOf(err))
		}
		if got := calls.Load(); got != 2 {
			t.Errorf("status %d: HTTP calls for one Register and one SubscribeApp = %d, want 2", status, got)
		}
	}
}

func TestHangingServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}, WithTimeout(150*time.Millisecond))
	defer close(release)

	for name, call := range map[string]func() error{
		"get": func() error {
			_, err := client.PhoneNumber(context.Background(), testToken, "1001")
			return err
		},
		"post": func() error { return client.Register(context.Background(), testToken, "1001", "123456") },
	} {
		start := time.Now()
		err := call()
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("%s: returned after %v, want about 150ms", name, elapsed)
		}
		if !errors.Is(err, context.DeadlineExceeded) || KindOf(err) != KindTransient {
			t.Errorf("%s: want a transient deadline error, got %v (kind %q)", name, err, KindOf(err))
		}
	}
}

func TestCallerCancellation(t *testing.T) {
	client, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := client.PhoneNumber(ctx, testToken, "1001")
	if !errors.Is(err, context.Canceled) || KindOf(err) != KindUnknown {
		t.Errorf("cancelled call: want context.Canceled classified unknown, got %v (kind %q)", err, KindOf(err))
	}
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	client := NewClient(base, nil, WithRetry(2, time.Millisecond, time.Millisecond))
	_, err := client.PhoneNumber(context.Background(), testToken, "1001")
	if err == nil || KindOf(err) != KindTransient {
		t.Errorf("closed server: want a transient error, got %v (kind %q)", err, KindOf(err))
	}
}

func TestBaseURLAndIDs(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.URL.Path)
		writeJSON(w, http.StatusOK, []byte(`{"id":"1001"}`))
	}))
	defer srv.Close()
	requested := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(paths)
	}
	for _, base := range []string{srv.URL + "/v24.0", srv.URL + "/v24.0/", srv.URL + "/v24.0?x=1"} {
		client := NewClient(base, srv.Client())
		if _, err := client.PhoneNumber(context.Background(), testToken, "1001"); err != nil {
			t.Errorf("base %q: want no error, got %v", base, err)
		}
	}
	for i, p := range requested() {
		if p != "/v24.0/1001" {
			t.Errorf("request %d path = %q, want /v24.0/1001", i, p)
		}
	}

	client := NewClient(srv.URL+"/v24.0", srv.Client())
	before := len(requested())
	for _, id := range []string{"", "..", ".", "1001/register", "1001?fields=x", "me#x", "a b"} {
		if _, err := client.PhoneNumber(context.Background(), testToken, id); err == nil {
			t.Errorf("id %q: want an error, got none", id)
		}
	}
	if after := len(requested()); after != before {
		t.Errorf("invalid ids made %d calls, want 0", after-before)
	}
	for _, base := range []string{"", "graph.facebook.com/v24.0", "ftp://x/y", "://bad"} {
		if _, err := NewClient(base, nil).PhoneNumber(context.Background(), testToken, "1"); err == nil {
			t.Errorf("base URL %q: want an error, got none", base)
		}
	}
}

// TestTokenNeverLeaks drives many failure types and checks that the token appears
// neither in the returned error nor in any debug log line.
func TestTokenNeverLeaks(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	echo := func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		b, _ := json.Marshal(map[string]any{"error": map[string]any{
			"message": "bad token " + auth, "error_user_title": auth, "error_user_msg": auth,
			"type": auth, "code": 190, "fbtrace_id": auth, "error_data": map[string]string{"details": auth},
		}})
		writeJSON(w, http.StatusUnauthorized, b)
	}
	refused := httptest.NewServer(http.NotFoundHandler())
	refusedURL := refused.URL
	refused.Close()

	tests := []struct {
		name  string
		token string
		h     http.HandlerFunc
		base  string // overrides the test server
		call  func(c *Client, token string) error
	}{
		{name: "graph error echoing the token", h: echo},
		{name: "html 502 echoing the token", h: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html>"+r.Header.Get("Authorization")+"</html>")
		}},
		{name: "garbled 200", h: func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, []byte(`{"id": "`+r.Header.Get("Authorization")))
		}},
		{name: "timeout", h: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
		{name: "connection refused", base: refusedURL},
		{name: "token with a newline", token: testToken + "\nX-Evil: 1", h: echo},
		{name: "foreign paging URL with the token", h: func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, []byte(`{"data":[],"paging":{"next":"https://evil.example/x?access_token=`+testToken+`"}}`))
		}, call: func(c *Client, token string) error {
			_, err := c.BusinessPhoneNumbers(context.Background(), token, "2001")
			return err
		}},
		{name: "register failure echoing the token", h: echo, call: func(c *Client, token string) error {
			return c.Register(context.Background(), token, "1001", "123456")
		}},
		{name: "subscribe answering success false", h: func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, []byte(`{"success":false,"token":"`+r.Header.Get("Authorization")+`"}`))
		}, call: func(c *Client, token string) error {
			return c.SubscribeApp(context.Background(), token, "2001")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token
			if token == "" {
				token = testToken
			}
			base := tt.base
			if base == "" {
				srv := httptest.NewServer(tt.h)
				defer srv.Close()
				base = srv.URL + "/v24.0"
			}
			client := NewClient(base, nil, WithLogger(logger), WithTimeout(200*time.Millisecond), WithRetry(2, time.Millisecond, time.Millisecond))
			call := tt.call
			if call == nil {
				call = func(c *Client, token string) error {
					_, err := c.PhoneNumber(context.Background(), token, "1001")
					return err
				}
			}
			err := call(client, token)
			if err == nil {
				t.Fatal("want an error, got none")
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error text contains the token: %q", err)
			}
			if ge, ok := errors.AsType[*GraphError](err); ok {
				if s := fmt.Sprintf("%+v", *ge); strings.Contains(s, testToken) {
					t.Errorf("GraphError fields contain the token: %s", s)
				}
			}
		})
	}
	if logs.Len() == 0 {
		t.Fatal("no debug log lines written; want one per call")
	}
	if strings.Contains(logs.String(), testToken) {
		t.Errorf("log output contains the token:\n%s", logs.String())
	}
	for _, want := range []string{"method=GET", "path=/v24.0/1001", "status=401", "duration="} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log output lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestPhoneNumberReadsCoexistenceAndWebhookConfiguration(t *testing.T) {
	tests := []struct {
		name string
		body string
		want PhoneNumber
	}{
		{"coexistence with overrides", `{"id":"1001","is_on_biz_app":true,"webhook_configuration":{
			"application":"https://inbox.example.com/webhooks/whatsapp",
			"whatsapp_business_account":"https://chat.example.com/waba","phone_number":"https://chat.example.com/number"}}`,
			PhoneNumber{ID: "1001", IsOnBizApp: ptrTrue(), WebhookConfiguration: &WebhookConfiguration{
				Application:             "https://inbox.example.com/webhooks/whatsapp",
				WhatsAppBusinessAccount: "https://chat.example.com/waba", PhoneNumber: "https://chat.example.com/number"}}},
		{"flag as string, app callback only", `{"id":"1001","is_on_biz_app":"false","webhook_configuration":{"application":"https://a.example/cb"}}`,
			PhoneNumber{ID: "1001", IsOnBizApp: new(bool), WebhookConfiguration: &WebhookConfiguration{Application: "https://a.example/cb"}}},
		{"neither reported", `{"id":"1001"}`, PhoneNumber{ID: "1001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePhoneNumber([]byte(tt.body))
			if err != nil {
				t.Fatalf("parsePhoneNumber: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestPhoneNumberFieldsNameEveryHealthField(t *testing.T) {
	fields := strings.Split(PhoneNumberFields, ",")
	for _, want := range []string{"is_on_biz_app", "webhook_configuration", "health_status", "whatsapp_business_manager_messaging_limit", "messaging_limit_tier"} {
		if !slices.Contains(fields, want) {
			t.Errorf("PhoneNumberFields lacks %q: %s", want, PhoneNumberFields)
		}
	}
}

// refusingFields answers like Meta when a request names a field it does not know: the
// first refused field found in the request's fields is reported, HTTP 400, code 100.
func refusingFields(t *testing.T, refused []string, ok func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		checkAuth(t, r)
		for _, f := range strings.Split(r.URL.Query().Get("fields"), ",") {
			if slices.Contains(refused, f) {
				writeJSON(w, http.StatusBadRequest, []byte(`{"error":{"message":"(#100) Tried accessing nonexisting field (`+f+
					`) on node type (WhatsAppBusinessPhoneNumber)","type":"OAuthException","code":100,"fbtrace_id":"A1"}}`))
				return
			}
		}
		ok(w, r)
	}
}

func TestRetiredFieldIsDroppedOnceAndForAll(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var calls atomic.Int32
	var lastFields atomic.Value
	client, _ := newTestClient(t, refusingFields(t, []string{"is_on_biz_app"}, func(w http.ResponseWriter, r *http.Request) {
		lastFields.Store(r.URL.Query().Get("fields"))
		writeJSON(w, http.StatusOK, []byte(`{"id":"1001","status":"CONNECTED"}`))
	}), WithLogger(logger))
	client.http.Transport = countingTransport{client.http.Transport, &calls}

	p, err := client.PhoneNumber(context.Background(), testToken, "1001")
	if err != nil || p.Status != "CONNECTED" {
		t.Fatalf("PhoneNumber with one retired field = %+v, %v; want the number", p, err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("HTTP calls = %d, want 2 (refused, then the same request without the field)", got)
	}
	want := strings.Replace(PhoneNumberFields, "is_on_biz_app,", "", 1)
	if got := lastFields.Load(); got != want {
		t.Errorf("fields after the drop = %q, want %q", got, want)
	}
	if _, err := client.PhoneNumber(context.Background(), testToken, "1001"); err != nil {
		t.Fatalf("second PhoneNumber: %v", err)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("HTTP calls after a second read = %d, want 3: the field stays dropped", got)
	}
	if n := strings.Count(logs.String(), "field=is_on_biz_app"); n != 1 || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("want one Warn naming the field, got:\n%s", logs.String())
	}
	other := NewClient(client.base.String(), nil)
	if got := other.phoneFields.query(); got != PhoneNumberFields {
		t.Errorf("a new client starts with %q, want the full list: drops are per client", got)
	}
}

func TestRetiredFieldsDroppedConcurrently(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	client, _ := newTestClient(t, refusingFields(t, []string{"webhook_configuration", "is_on_biz_app"}, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"id":"1001"}`))
	}), WithLogger(logger))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := client.PhoneNumber(context.Background(), testToken, "1001"); err != nil {
				t.Errorf("PhoneNumber: %v", err)
			}
		})
	}
	wg.Wait()
	for _, f := range []string{"webhook_configuration", "is_on_biz_app"} {
		if n := strings.Count(logs.String(), "field="+f); n != 1 {
			t.Errorf("drop of %s logged %d times, want once:\n%s", f, n, logs.String())
		}
	}
}

func TestRetiredFieldDroppedForPagedListing(t *testing.T) {
	client, _ := newTestClient(t, refusingFields(t, []string{"webhook_configuration"}, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("after") == "" {
			next := srvURL(r) + r.URL.Path + "?" + r.URL.RawQuery + "&after=p2"
			writeJSON(w, http.StatusOK, []byte(`{"data":[{"id":"1"}],"paging":{"next":"`+next+`"}}`))
			return
		}
		writeJSON(w, http.StatusOK, []byte(`{"data":[{"id":"2"}]}`))
	}))
	got, err := client.BusinessPhoneNumbers(context.Background(), testToken, "2001")
	if err != nil || len(got) != 2 || got[0].ID != "1" || got[1].ID != "2" {
		t.Fatalf("BusinessPhoneNumbers = %+v, %v; want numbers 1 and 2", got, err)
	}
}

func TestFieldDropsAreBounded(t *testing.T) {
	tests := []struct {
		name    string
		refused []string
		wantErr bool
	}{
		// Meta refusing every field it is asked for: each retry drops one, and the
		// id is never dropped, so the call ends with Meta's error.
		{"every field", strings.Split(PhoneNumberFields, ","), true},
		// Meta refusing a field the request did not name: nothing to drop, no retry.
		{"a field not asked for", []string{"no_such_field_here"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			h := func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				refusingFields(t, tt.refused, func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, http.StatusOK, []byte(`{"id":"1001"}`))
				})(w, r)
			}
			client, _ := newTestClient(t, h)
			_, err := client.PhoneNumber(context.Background(), testToken, "1001")
			if (err != nil) != tt.wantErr {
				t.Fatalf("PhoneNumber error = %v, want error=%v", err, tt.wantErr)
			}
			if max := int32(len(strings.Split(PhoneNumberFields, ","))); calls.Load() > max {
				t.Errorf("HTTP calls = %d, want at most %d", calls.Load(), max)
			}
			if tt.wantErr && KindOf(err) != KindInvalidRequest {
				t.Errorf("KindOf = %q, want invalid_request", KindOf(err))
			}
		})
	}
}

type countingTransport struct {
	next  http.RoundTripper
	calls *atomic.Int32
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return c.next.RoundTrip(r)
}

func srvURL(r *http.Request) string { return "http://" + r.Host }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a shared logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
