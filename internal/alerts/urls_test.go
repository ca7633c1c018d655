package alerts_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/alerts"
)

func TestDestinationURLPolicy(t *testing.T) {
	t.Parallel()
	strict := alerts.URLPolicy{}
	demo := alerts.URLPolicy{AllowLoopback: true}
	private := alerts.URLPolicy{AllowPrivate: true}
	cases := []struct {
		policy alerts.URLPolicy
		url    string
		ok     bool
	}{
		{strict, "https://hooks.slack.com/services/T/B/X", true},
		{strict, "http://hooks.example.com/x", false},        // http only to loopback, in demo/tests
		{strict, "ftp://hooks.example.com/x", false},         // not a web URL
		{strict, "https://user:pw@hooks.example.com", false}, // credentials in the URL
		{strict, "https://127.0.0.1/x", false},
		{strict, "http://localhost:8080/x", false},
		{demo, "http://127.0.0.1:8080/x", true},
		{demo, "http://localhost:8080/x", true},
		{demo, "http://10.0.0.5/x", false},
		{strict, "https://169.254.169.254/latest/meta-data", false}, // cloud metadata
		{private, "https://169.254.169.254/latest/meta-data", false},
		{strict, "https://[fe80::1]/x", false},
		{strict, "https://10.1.2.3/x", false},
		{strict, "https://192.168.1.10/x", false},
		{strict, "https://[fd00::1]/x", false},
		{strict, "https://100.64.0.1/x", false},
		{private, "https://10.1.2.3/x", true},
		{private, "https://0.0.0.0/x", false},
		{strict, "https://[::ffff:127.0.0.1]/x", false},
		{strict, "not a url", false},
	}
	for _, c := range cases {
		_, err := c.policy.CheckURL(c.url)
		if (err == nil) != c.ok {
			t.Errorf("%+v CheckURL(%q) = %v, want ok=%v", c.policy, c.url, err, c.ok)
		}
	}
}

// A name that resolves to a refused address is refused when connecting, whatever the
// URL looked like when it was saved.
func TestDeliveryClientRefusesLoopbackUnlessAllowed(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, nil)
	if _, err := (alerts.URLPolicy{}).HTTPClient().Do(req); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("strict policy connected to %s: %v", url, err)
	}
	req, _ = http.NewRequestWithContext(context.Background(), http.MethodPost, url, nil)
	resp, err := (alerts.URLPolicy{AllowLoopback: true}).HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("demo policy: %v", err)
	}
	resp.Body.Close()
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("the redirect was followed") }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL, nil)
	resp, err := (alerts.URLPolicy{AllowLoopback: true}).HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("status %d, want the redirect itself (307)", resp.StatusCode)
	}
}

func TestParseSMTPURL(t *testing.T) {
	t.Parallel()
	c, err := alerts.ParseSMTPURL("smtp://mailer:s3cret-pass@mail.example.com", "alerts@example.com")
	if err != nil || c.Host != "mail.example.com" || c.Port != 587 || c.ImplicitTLS || c.Username != "mailer" || c.Password != "s3cret-pass" {
		t.Fatalf("smtp:// = %+v, %v", c, err)
	}
	if c, err = alerts.ParseSMTPURL("smtps://mail.example.com", "alerts@example.com"); err != nil || c.Port != 465 || !c.ImplicitTLS {
		t.Fatalf("smtps:// = %+v, %v", c, err)
	}
	for _, bad := range []struct{ url, from string }{
		{"http://mail.example.com", "a@example.com"},
		{"smtp://mail.example.com:99999", "a@example.com"},
		{"smtp://mail.example.com", ""},
		{"smtp://u:s3cret-pass@mail.example.com", "not an address"},
	} {
		_, err := alerts.ParseSMTPURL(bad.url, bad.from)
		if err == nil {
			t.Errorf("ParseSMTPURL(%q, %q) accepted", bad.url, bad.from)
		} else if strings.Contains(err.Error(), "s3cret-pass") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}
