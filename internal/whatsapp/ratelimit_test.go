package whatsapp

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseUsageFixture(t *testing.T) {
	line := strings.TrimSpace(string(graphFixture(t, "header_business_use_case_usage.txt")))
	name, value, ok := strings.Cut(line, ":")
	if !ok {
		t.Fatalf("fixture %q is not a header line", line)
	}
	h := http.Header{}
	h.Set(strings.TrimSpace(name), strings.TrimSpace(value))

	u := ParseUsage(h)
	want := []BusinessUseCaseUsage{{
		BusinessID: "209876543210001", Type: "whatsapp_business_management",
		CallCount: 100, TotalCPUTime: 12, TotalTime: 18, RegainAccessIn: 7 * time.Minute,
	}}
	if !reflect.DeepEqual(u.BusinessUseCases, want) {
		t.Errorf("business use cases\n got %+v\nwant %+v", u.BusinessUseCases, want)
	}
	if u.Wait() != 7*time.Minute {
		t.Errorf("Wait() = %v, want 7m", u.Wait())
	}
	if u.App != nil {
		t.Errorf("App = %+v, want nil without X-App-Usage", u.App)
	}
}

func TestParseUsage(t *testing.T) {
	tests := []struct {
		name     string
		header   http.Header
		wantApp  *AppUsage
		wantWait time.Duration
		wantN    int
	}{
		{"no headers", http.Header{}, nil, 0, 0},
		{"app usage", http.Header{HeaderAppUsage: {`{"call_count":28,"total_time":25,"total_cputime":"9"}`}},
			&AppUsage{CallCount: 28, TotalTime: 25, TotalCPUTime: 9}, 0, 0},
		{"malformed", http.Header{HeaderAppUsage: {`{call_count`}, HeaderBusinessUseCaseUsage: {`[1,2]`}}, nil, 0, 0},
		{"several businesses, longest wait wins", http.Header{HeaderBusinessUseCaseUsage: {
			`{"1":[{"type":"a","estimated_time_to_regain_access":3},{"type":"b","estimated_time_to_regain_access":"9"}],"2":[{"type":"c","estimated_time_to_regain_access":0}]}`,
		}}, nil, 9 * time.Minute, 3},
		{"negative and huge waits", http.Header{HeaderBusinessUseCaseUsage: {
			`{"1":[{"estimated_time_to_regain_access":-5}],"2":[{"estimated_time_to_regain_access":1e300}]}`,
		}}, nil, maxUsageWait, 2},
	}
	for _, tt := range tests {
		u := ParseUsage(tt.header)
		if !reflect.DeepEqual(u.App, tt.wantApp) || u.Wait() != tt.wantWait || len(u.BusinessUseCases) != tt.wantN {
			t.Errorf("%s: got app %+v wait %v entries %d, want app %+v wait %v entries %d",
				tt.name, u.App, u.Wait(), len(u.BusinessUseCases), tt.wantApp, tt.wantWait, tt.wantN)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 10, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		" 5 ":                           5 * time.Second,
		"0":                             0,
		"-3":                            0,
		"99999999999":                   maxUsageWait,
		"soon":                          0,
		"Wed, 01 Oct 2025 12:01:30 GMT": 90 * time.Second,
		"Wed, 01 Oct 2025 11:00:00 GMT": 0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
