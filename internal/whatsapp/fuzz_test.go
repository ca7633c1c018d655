package whatsapp

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addFixtureSeeds adds every testdata file matching pattern to the corpus.
func addFixtureSeeds(f *testing.F, pattern string, add func(body []byte)) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seed fixtures for %q (err %v)", pattern, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

// FuzzParsePhoneNumber feeds arbitrary bodies to the phone-number and health parsers:
// they may refuse a body but must never panic, and a parsed number always has an id.
func FuzzParsePhoneNumber(f *testing.F) {
	addFixtureSeeds(f, "phone_*.json", func(b []byte) { f.Add(b) })
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `{"id":1}`, `{"id":"1","health_status":null}`,
		`{"id":"1","health_status":{"entities":[{"errors":[{"error_code":"1e999"}]}]}}`,
		`{"id":"1","is_official_business_account":"yes","throughput":"HIGH"}`,
		`{"data":[{"id":"1"}],"paging":{"next":"https://graph.facebook.com/v24.0/x?after=1"}}`,
		`{"health_status":{"can_send_message":"AVAILABLE"}}`,
		`{"data":[{"whatsapp_business_api_data":{"id":1,"name":"a"}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if p, err := parsePhoneNumber(body); err == nil && (p == nil || p.ID == "") {
			t.Errorf("parsePhoneNumber accepted %q without an id: %+v", body, p)
		}
		parsePhoneNumberPage(body)
		if h, err := parseBusinessHealth(body); err == nil && h == nil {
			t.Errorf("parseBusinessHealth(%q) = nil, nil", body)
		}
		parseSubscribedApps(body)
		parseSuccess(body)
	})
}

// FuzzParseGraphError feeds arbitrary statuses, headers and bodies to the error parser:
// it must never panic and always yield a classified error carrying the status.
func FuzzParseGraphError(f *testing.F) {
	usage := strings.TrimSpace(strings.TrimPrefix(
		string(mustRead(f, "header_business_use_case_usage.txt")), HeaderBusinessUseCaseUsage+":"))
	addFixtureSeeds(f, "error_*.json", func(b []byte) {
		f.Add(400, usage, "", b)
		f.Add(429, "", "60", b)
	})
	f.Add(502, "", "", []byte("<html>Bad Gateway</html>"))
	f.Add(500, "", "", []byte(""))
	f.Add(400, `{"1":[{"estimated_time_to_regain_access":"1e999"}]}`, "Wed, 21 Oct 2015 07:28:00 GMT",
		[]byte(`{"error":{"code":"133008","error_data":"{\"details\":\"wait 9999999 days\"}"}}`))
	f.Add(-1, `[]`, "-1", []byte(`{"error":{"code":{},"error_subcode":[],"is_transient":"maybe"}}`))
	f.Fuzz(func(t *testing.T, status int, usageHeader, retryAfter string, body []byte) {
		h := http.Header{}
		h.Set(HeaderBusinessUseCaseUsage, usageHeader)
		h.Set(HeaderAppUsage, usageHeader)
		h.Set("Retry-After", retryAfter)
		ge := parseGraphError(status, h, body)
		if ge == nil {
			t.Fatal("parseGraphError returned nil")
		}
		if ge.HTTPStatus != status || ge.Kind == KindNone {
			t.Errorf("status %d, kind %q: want the given status and a non-empty kind", ge.HTTPStatus, ge.Kind)
		}
		if ge.RetryAfter < 0 || ge.RetryAfter > maxUsageWait {
			t.Errorf("RetryAfter = %v, want within [0, %v]", ge.RetryAfter, maxUsageWait)
		}
		if d := RetryDelay(ge); d < 0 {
			t.Errorf("RetryDelay = %v, want >= 0", d)
		}
		_ = ge.Error()
		_ = ge.Kind.Explain()
	})
}

func mustRead(f *testing.F, name string) []byte {
	f.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}
