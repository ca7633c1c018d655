package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// everyKind lists every Kind declared in kind.go.
var everyKind = []Kind{
	KindNone, KindDisplayNameNotReady, KindPINMismatch, KindNeedsVerification, KindTooManyPINAttempts,
	KindRecentlyDeleted, KindRegisterRateLimited, KindDeregistrationIncomplete, KindNotRegistered,
	KindCodeNotSent, KindCodeWrong,
	KindAccountLocked, KindTokenExpired, KindPermissionMissing, KindPolicyBlocked, KindRateLimited,
	KindTransient, KindInvalidRequest, KindUnknown,
}

// TestClassifyErrorTable follows DESIGN.md's error table and Meta's error-code page
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/).
func TestClassifyErrorTable(t *testing.T) {
	tests := []struct {
		status        int
		code, subcode int64
		texts         []string
		want          Kind
	}{
		{400, 100, 2388001, nil, KindDisplayNameNotReady},
		{400, 100, 0, nil, KindInvalidRequest},
		{400, 100, 33, nil, KindInvalidRequest},
		{400, 133005, 0, nil, KindPINMismatch},
		{400, 133006, 0, nil, KindNeedsVerification},
		{400, 133008, 0, nil, KindTooManyPINAttempts},
		{400, 133009, 0, nil, KindTooManyPINAttempts},
		{400, 133015, 0, nil, KindRecentlyDeleted},
		{400, 133016, 0, nil, KindRegisterRateLimited},
		{403, 131031, 0, nil, KindAccountLocked},
		{403, 131031, 0, []string{"(#131031) Business Account locked", "", "Your account has been locked."}, KindAccountLocked},
		{400, 131031, 0, []string{"(#131031) Account has been locked", "", "Two-step verification PIN incorrect."}, KindPINMismatch},
		{400, 131031, 0, []string{"Wrong PIN for this number"}, KindPINMismatch},
		{400, 131031, 0, []string{"", "", "the twostep code did not match"}, KindPINMismatch},
		{400, 131031, 0, []string{"Shipping locked"}, KindAccountLocked}, // "pin" inside a word is not the PIN
		{400, 133000, 0, nil, KindDeregistrationIncomplete},
		{400, 133010, 0, nil, KindNotRegistered},
		{400, 136024, 0, nil, KindCodeNotSent},
		{400, 136024, 0, []string{"(#136024) Request code error", "", "Too many verification code requests"}, KindCodeNotSent},
		{400, 136025, 0, nil, KindCodeWrong},
		{500, 136025, 0, nil, KindCodeWrong}, // a specific code wins over the status
		{401, 190, 0, nil, KindTokenExpired},
		{400, 190, 463, nil, KindTokenExpired},
		{400, 0, 0, nil, KindTokenExpired},   // Meta's AuthException
		{500, 190, 0, nil, KindTokenExpired}, // a specific code wins over the status
		{403, 10, 0, nil, KindPermissionMissing},
		{403, 200, 0, nil, KindPermissionMissing},
		{400, 368, 0, nil, KindPolicyBlocked},
		{400, 4, 0, nil, KindRateLimited},
		{429, 4, 0, nil, KindRateLimited},
		{400, 80007, 0, nil, KindRateLimited},
		{429, 80007, 0, nil, KindRateLimited},
		{400, 80008, 0, nil, KindRateLimited},
		{429, 80008, 0, nil, KindRateLimited},
		{400, 130429, 0, nil, KindRateLimited},
		{429, 130429, 0, nil, KindRateLimited},
		{500, 1, 0, nil, KindTransient},
		{400, 1, 0, nil, KindTransient},
		{500, 2, 0, nil, KindTransient},
		{400, 131000, 0, nil, KindTransient},
		{503, 133004, 0, nil, KindTransient},
		{504, 12345, 0, nil, KindTransient}, // unknown code, but the server failed
		{429, 12345, 0, nil, KindRateLimited},
		{400, 131056, 0, nil, KindUnknown},
		{404, 803, 0, nil, KindUnknown},
		{400, 12345, 0, nil, KindUnknown},
		{200, 12345, 0, nil, KindUnknown},
	}
	for _, tt := range tests {
		if got := ClassifyError(tt.status, tt.code, tt.subcode, tt.texts...); got != tt.want {
			t.Errorf("ClassifyError(%d, %d, %d, %q) = %q, want %q", tt.status, tt.code, tt.subcode, tt.texts, got, tt.want)
		}
	}
}

// TestParseGraphErrorWithoutCode: a response without a Graph code is placed by its HTTP
// status alone; it is not Meta's code 0.
func TestParseGraphErrorWithoutCode(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   Kind
	}{
		{429, `{"error":{"message":"slow down"}}`, KindRateLimited},
		{500, `{"error":{}}`, KindTransient},
		{502, `<html>bad gateway</html>`, KindTransient},
		{400, `{"error":{"message":"x"}}`, KindInvalidRequest},
		{404, ``, KindInvalidRequest},
		{302, ``, KindUnknown},
		{400, `{"error":{"code":0,"message":"(#0) AuthException"}}`, KindTokenExpired},
		{400, `{"error":{"code":131031,"message":"locked","error_data":{"details":"The two-step verification PIN is incorrect."}}}`, KindPINMismatch},
	}
	for _, tt := range tests {
		if got := parseGraphError(tt.status, nil, []byte(tt.body)).Kind; got != tt.want {
			t.Errorf("parseGraphError(%d, %s).Kind = %q, want %q", tt.status, tt.body, got, tt.want)
		}
	}
}

func TestGraphErrorMetaText(t *testing.T) {
	tests := []struct {
		ge   GraphError
		want string
	}{
		{GraphError{Message: "(#131056) pair rate limit"}, "(#131056) pair rate limit"},
		{GraphError{Message: "dev", UserTitle: "Title", UserMessage: "For you."}, "Title: For you."},
		{GraphError{Message: "dev", UserMessage: "For you."}, "For you."},
		{GraphError{Message: "dev.", Details: "More."}, "dev. More."},
		{GraphError{Message: "dev. More.", Details: "More."}, "dev. More."},
	}
	for _, tt := range tests {
		if got := tt.ge.MetaText(); got != tt.want {
			t.Errorf("MetaText(%+v) = %q, want %q", tt.ge, got, tt.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	graphErr := &GraphError{HTTPStatus: 400, Code: 133005, Kind: KindPINMismatch}
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, KindNone},
		{"graph error", graphErr, KindPINMismatch},
		{"wrapped graph error", fmt.Errorf("whatsapp: register: %w", graphErr), KindPINMismatch},
		{"deadline", fmt.Errorf("GET /x: %w", context.DeadlineExceeded), KindTransient},
		{"canceled", fmt.Errorf("GET /x: %w", context.Canceled), KindUnknown},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, KindTransient},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), KindTransient},
		{"dns", &net.DNSError{Err: "no such host", Name: "graph.example", IsNotFound: true}, KindTransient},
		{"net timeout", &url.Error{Op: "Get", URL: "u", Err: timeoutError{}}, KindTransient},
		{"unexpected eof", fmt.Errorf("read response: %w", io.ErrUnexpectedEOF), KindTransient},
		{"other", errors.New("decode phone number: unexpected end of JSON input"), KindUnknown},
		{"foreign paging", errForeignPagingURL, KindUnknown},
	}
	for _, tt := range tests {
		if got := KindOf(tt.err); got != tt.want {
			t.Errorf("KindOf(%s: %v) = %q, want %q", tt.name, tt.err, got, tt.want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestParseGraphErrorFieldTypes(t *testing.T) {
	tests := []struct {
		name          string
		body          string
		code, subcode int64
		transient     bool
		details       string
		kind          Kind
	}{
		{"numbers", `{"error":{"code":100,"error_subcode":2388001,"is_transient":false}}`, 100, 2388001, false, "", KindDisplayNameNotReady},
		{"strings", `{"error":{"code":"100","error_subcode":" 2388001 ","is_transient":"false"}}`, 100, 2388001, false, "", KindDisplayNameNotReady},
		{"floats", `{"error":{"code":133016.0}}`, 133016, 0, false, "", KindRegisterRateLimited},
		{"nulls and junk", `{"error":{"code":null,"error_subcode":"abc","is_transient":null,"message":7}}`, 0, 0, false, "", KindInvalidRequest},
		{"error_data as JSON string", `{"error":{"code":133008,"error_data":"{\"messaging_product\":\"whatsapp\",\"details\":\"Wait 30 minutes\"}"}}`, 133008, 0, false, "Wait 30 minutes", KindTooManyPINAttempts},
		{"error_data as plain string", `{"error":{"code":133009,"error_data":"too fast"}}`, 133009, 0, false, "too fast", KindTooManyPINAttempts},
		{"is_transient promotes an unknown code", `{"error":{"code":9999,"is_transient":true}}`, 9999, 0, true, "", KindTransient},
		{"is_transient does not override a known code", `{"error":{"code":80008,"is_transient":"true"}}`, 80008, 0, true, "", KindRateLimited},
		{"extra fields", `{"error":{"code":190,"new_thing":{"a":[1]}},"other":1}`, 190, 0, false, "", KindTokenExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ge := parseGraphError(http.StatusBadRequest, http.Header{}, []byte(tt.body))
			if ge.Code != tt.code || ge.Subcode != tt.subcode || ge.IsTransient != tt.transient || ge.Details != tt.details || ge.Kind != tt.kind {
				t.Errorf("got code %d subcode %d transient %v details %q kind %q\nwant code %d subcode %d transient %v details %q kind %q",
					ge.Code, ge.Subcode, ge.IsTransient, ge.Details, ge.Kind, tt.code, tt.subcode, tt.transient, tt.details, tt.kind)
			}
		})
	}
}

func TestParseGraphErrorRetryAfter(t *testing.T) {
	body := []byte(`{"error":{"code":80008,"message":"too many calls"}}`)
	usage := `{"2001":[{"type":"whatsapp_business_management","call_count":100,"estimated_time_to_regain_access":7}]}`
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"none", http.Header{}, 0},
		{"usage", http.Header{HeaderBusinessUseCaseUsage: {usage}}, 7 * time.Minute},
		{"retry-after seconds", http.Header{"Retry-After": {"30"}}, 30 * time.Second},
		{"longer of both", http.Header{"Retry-After": {"30"}, HeaderBusinessUseCaseUsage: {usage}}, 7 * time.Minute},
	}
	for _, tt := range tests {
		ge := parseGraphError(http.StatusTooManyRequests, tt.header, body)
		if ge.RetryAfter != tt.want || ge.Kind != KindRateLimited {
			t.Errorf("%s: RetryAfter %v kind %q, want %v rate_limited", tt.name, ge.RetryAfter, ge.Kind, tt.want)
		}
	}
}

func TestGraphErrorText(t *testing.T) {
	ge := parseGraphError(400, http.Header{}, graphFixture(t, "error_register_display_name.json"))
	for _, want := range []string{"HTTP 400", "code 100", "subcode 2388001", "(#100) Invalid parameter", "Cannot Create Certificate", "AbCdEf0123456789xyz"} {
		if !strings.Contains(ge.Error(), want) {
			t.Errorf("Error() = %q, want it to contain %q", ge.Error(), want)
		}
	}
	bare := (&GraphError{HTTPStatus: 502, Kind: KindTransient}).Error()
	if bare != "graph API error (HTTP 502)" {
		t.Errorf("bare Error() = %q, want %q", bare, "graph API error (HTTP 502)")
	}
}

func TestExplainEveryKind(t *testing.T) {
	titles := map[string]Kind{}
	for _, k := range everyKind {
		e := k.Explain()
		if k == KindNone {
			if e != (Explanation{}) {
				t.Errorf("KindNone.Explain() = %+v, want empty", e)
			}
			continue
		}
		if e.Title == "" || e.Message == "" || e.Remedy == "" {
			t.Errorf("%q.Explain() = %+v, want title, message and remedy", k, e)
		}
		if other, dup := titles[e.Title]; dup {
			t.Errorf("%q and %q share the title %q; want one per kind", k, other, e.Title)
		}
		titles[e.Title] = k
	}
	if got := Kind("from_the_future").Explain(); got != KindUnknown.Explain() {
		t.Errorf("unlisted kind explained as %+v, want the generic explanation", got)
	}
	if got := KindDisplayNameNotReady.Explain().Title; got != "Meta is still reviewing your display name" {
		t.Errorf("display name title = %q", got)
	}
}

func TestRetryable(t *testing.T) {
	retryable := map[Kind]bool{
		KindDisplayNameNotReady: true, KindRecentlyDeleted: true, KindTooManyPINAttempts: true,
		KindRateLimited: true, KindTransient: true, KindRegisterRateLimited: true,
		KindNotRegistered: true, // a register call fixes it
	}
	for _, k := range everyKind {
		if got := k.Retryable(); got != retryable[k] {
			t.Errorf("%q.Retryable() = %v, want %v", k, got, retryable[k])
		}
	}
}

func TestRetryDelay(t *testing.T) {
	graph := func(status int, body string, header http.Header) error {
		return fmt.Errorf("whatsapp: op: %w", parseGraphError(status, header, []byte(body)))
	}
	usage := http.Header{HeaderBusinessUseCaseUsage: {`{"1":[{"estimated_time_to_regain_access":"12"}]}`}}
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"nil", nil, 0},
		{"not a graph error", context.DeadlineExceeded, 0},
		{"recently deleted", graph(400, `{"error":{"code":133015}}`, nil), 5 * time.Minute},
		{"rate limit with usage header", graph(429, `{"error":{"code":80008}}`, usage), 12 * time.Minute},
		{"rate limit without header", graph(400, `{"error":{"code":4}}`, nil), time.Minute},
		{"too many guesses named in details", graph(400, `{"error":{"code":133008,"error_data":{"details":"Try again in 2 hours."}}}`, nil), 2 * time.Hour},
		{"too many guesses unnamed", graph(400, `{"error":{"code":133008}}`, nil), time.Hour},
		{"too fast unnamed", graph(400, `{"error":{"code":133009}}`, nil), 5 * time.Minute},
		{"register limit fixture", graph(400, string(graphFixture(t, "error_register_rate_limited.json")), nil), 72 * time.Hour},
		{"register limit unnamed", graph(400, `{"error":{"code":133016}}`, nil), 72 * time.Hour},
		{"transient with Retry-After", graph(503, ``, http.Header{"Retry-After": {"20"}}), 20 * time.Second},
		{"transient", graph(503, ``, nil), 0},
		{"display name", graph(400, string(graphFixture(t, "error_register_display_name.json")), nil), 0},
		{"token expired", graph(401, string(graphFixture(t, "error_token_expired.json")), nil), 0},
		{"policy block named", graph(400, `{"error":{"code":368,"message":"(#368) Temporarily blocked for policies violations","error_data":{"details":"Try again in 24 hours."}}}`, nil), 24 * time.Hour},
		{"policy block header", graph(400, `{"error":{"code":368}}`, http.Header{"Retry-After": {"60"}}), time.Minute},
		{"policy block unnamed", graph(400, `{"error":{"code":368}}`, nil), 0},
		{"deregistration incomplete", graph(400, `{"error":{"code":133000}}`, nil), 0},
		{"unknown code", graph(400, `{"error":{"code":131056,"message":"wait 5 minutes"}}`, nil), 0},
	}
	for _, tt := range tests {
		if got := RetryDelay(tt.err); got != tt.want {
			t.Errorf("RetryDelay(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDurationInText(t *testing.T) {
	tests := map[string]time.Duration{
		"":                         0,
		"no number here":           0,
		"wait 90 seconds":          90 * time.Second,
		"retry after 15 mins":      15 * time.Minute,
		"Blocked for 72 hours":     72 * time.Hour,
		"1 day":                    24 * time.Hour,
		"999999 days":              maxDelayFromErrorText,
		"phone 14155550142 hours":  0, // too many digits to be a wait
		"0 minutes then 3 minutes": 0,
	}
	for in, want := range tests {
		if got := durationInText(in); got != want {
			t.Errorf("durationInText(%q) = %v, want %v", in, got, want)
		}
	}
}
