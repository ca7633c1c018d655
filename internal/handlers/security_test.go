package handlers

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/inboxhealth/inboxhealth/internal/views"
)

func TestNextAfterLoginStaysOnThisSite(t *testing.T) {
	env := newSecEnv(t, secOptions{})
	for _, evil := range []string{
		"/\t/evil.example", "/\\evil.example", "//evil.example", "https://evil.example", "/%09/evil.example",
		"/%5Cevil.example", "/%2F%2Fevil.example", "/%252F%252Fevil.example", "/\n/evil.example", "javascript:alert(1)",
		"evil.example", "/ /evil.example", "/%0d%0a/evil.example",
	} {
		b := env.browser()
		resp, _ := b.post("/login", url.Values{"_csrf": {b.csrf("/login")}, "email": {"admin@acme.test"}, "password": {testPassword}, "next": {evil}}, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Errorf("next=%q: want 303 to /, got %d %q", evil, resp.StatusCode, resp.Header.Get("Location"))
		}
		_, doc, _ := b.getDoc("/login?next=" + url.QueryEscape(evil))
		if v, _ := doc.Find(`input[name="next"]`).Attr("value"); v != "" && v != "/" {
			t.Errorf("login page with next=%q: want the form to carry /, got %q", evil, v)
		}
	}
	for _, good := range []string{env.inboxesPath() + "?status=attention", "/account"} {
		b := env.browser()
		resp, _ := b.post("/login", url.Values{"_csrf": {b.csrf("/login")}, "email": {"admin@acme.test"}, "password": {testPassword}, "next": {good}}, nil)
		if resp.Header.Get("Location") != good {
			t.Errorf("next=%q: want the redirect kept, got %q", good, resp.Header.Get("Location"))
		}
	}
}

var scriptHandlerAttr = regexp.MustCompile(`(?i)^on[a-z]+$`)

// checkNoInlineCode fails for anything on the page a strict CSP would block: inline
// scripts, inline event handlers, htmx's evaluated attributes, inline styles.
func checkNoInlineCode(t *testing.T, page string, doc *goquery.Document) {
	t.Helper()
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		if src, ok := s.Attr("src"); !ok || src == "" || strings.TrimSpace(s.Text()) != "" {
			t.Errorf("%s: an inline <script>: %s", page, s.Text())
		}
	})
	if n := doc.Find("style").Length(); n != 0 {
		t.Errorf("%s: %d <style> elements", page, n)
	}
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			switch {
			case scriptHandlerAttr.MatchString(a.Key), strings.HasPrefix(a.Key, "hx-on"):
				t.Errorf("%s: <%s %s=%q> runs inline code", page, goquery.NodeName(s), a.Key, a.Val)
			case a.Key == "style":
				t.Errorf("%s: <%s style=%q>: inline styles need 'unsafe-inline'", page, goquery.NodeName(s), a.Val)
			case strings.HasPrefix(a.Val, "js:") || strings.HasPrefix(a.Val, "javascript:"):
				t.Errorf("%s: <%s %s=%q> evaluates code", page, goquery.NodeName(s), a.Key, a.Val)
			}
		}
	})
}

func TestSecurityHeadersAndNoInlineCode(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning", "pin_already_set")
	pending := e.inbox(regPendingInbox)
	e.refresh(pending)
	admin := e.login("admin@reg.test")
	anonymous := newWebClient(t, e.srv.URL)

	pages := map[string]*webClient{
		"/login":   anonymous,
		"/account": admin,
		"/accounts/" + itoa(pending.AccountID) + "/inboxes":        admin,
		"/accounts/" + itoa(pending.AccountID) + "/inboxes/new":    admin,
		views.PeopleURL(pending.AccountID):                         admin,
		"/accounts/" + itoa(pending.AccountID) + "/inboxes/import": admin,
		views.PeopleURL(pending.AccountID) + "/new":                admin,
		views.PersonURL(pending.AccountID, e.agent.UserID):         admin,
		regPath(pending, ""):                                       admin,
		regPath(pending, "/health"):                                admin,
		"/no/such/page":                                            admin,
	}
	for path, b := range pages {
		resp, doc, body := b.getDoc(path)
		if want := http.StatusOK; resp.StatusCode != want && path != "/no/such/page" {
			t.Errorf("%s: want %d, got %d", path, want, resp.StatusCode)
		}
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if csp != contentSecurityPolicy || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: want the strict Content-Security-Policy, got %q", path, csp)
		}
		if cc := h.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: want Cache-Control no-store, got %q", path, cc)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: no HSTS on a plain-http deployment", path)
		}
		checkNoInlineCode(t, path, doc)
		if !strings.Contains(body, "<html") {
			continue
		}
		raw, _ := doc.Find(`meta[name="htmx-config"]`).Attr("content")
		var cfg map[string]any
		if err := json.Unmarshal([]byte(raw), &cfg); err != nil || cfg["allowEval"] != false || cfg["includeIndicatorStyles"] != false {
			t.Errorf("%s: want htmx configured with allowEval false and no indicator styles, got %q", path, raw)
		}
	}
	if _, doc, _ := admin.getDoc(regPath(pending, "/health")); doc.Find(`#registration-banner form[data-request-error]`).Length() == 0 {
		t.Error("the banner's forms must name where a failed request is reported (static/app.js)")
	}

	rec := e.apiGetHealth(pending)
	if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Security-Policy") == "" {
		t.Errorf("API answers: want no-store and the CSP, got %v", rec.Header())
	}
	resp, _ := anonymous.do(http.MethodGet, "/static/app.js", nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") == "no-store" {
		t.Errorf("static files may be cached: got %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}

	https := newSecEnv(t, secOptions{frontendURL: "https://health.example.com"})
	resp, _ = https.browser().do(http.MethodGet, "/login", nil, nil)
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=31536000") {
		t.Errorf("FRONTEND_URL https: want HSTS for a year, got %q", hsts)
	}
}

func TestSecretsInTheURLAreRefused(t *testing.T) {
	env := newSecEnv(t, secOptions{})
	b := env.loggedIn("admin@acme.test")
	token := b.csrf(env.inboxesPath())

	resp, body := env.browser().do(http.MethodGet, env.apiPath()+"?api_access_token="+env.admin.APIAccessToken, nil, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "never in the URL") {
		t.Errorf("API token in the query: want 400 saying where it belongs, got %d %s", resp.StatusCode, body)
	}
	// The CSRF token in the query string is not read: the request is refused.
	resp, _ = b.post("/logout?_csrf="+url.QueryEscape(token), url.Values{}, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("CSRF token in the query: want 400, got %d", resp.StatusCode)
	}
	b.wantAPIStatus("after the refused logout the session is untouched", env.apiPath(), http.StatusOK)
	form := url.Values{"_csrf": {token}, "name": {"Support"}, "phone_number": {"+15550100001"}, "phone_number_id": {"1001"}, "waba_id": {"2001"}}
	resp, _ = b.post(env.inboxesPath()+"?access_token=EAAexample-token-000001", form, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an access token in the form's URL: want 400, got %d", resp.StatusCode)
	}
	// The header still carries the CSRF token for htmx.
	resp, _ = b.post("/logout", url.Values{}, map[string]string{"X-CSRF-Token": token})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout with the CSRF header: want 303, got %d", resp.StatusCode)
	}
}

func TestFormsReadTheBodyOnly(t *testing.T) {
	env := newSecEnv(t, secOptions{})
	b := env.loggedIn("admin@acme.test")
	token := b.csrf(env.inboxesPath() + "/new")
	// Every field but the name in the body; the name only in the URL.
	form := url.Values{"_csrf": {token}, "phone_number": {"+15550100001"}, "phone_number_id": {"1001"}, "waba_id": {"2001"},
		"access_token": {"EAAexample-token-000001"}}
	resp, body := b.post(env.inboxesPath()+"?name=Support", form, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-name"`) {
		t.Errorf("a form field in the query string must not be read: want 422 asking for the name, got %d", resp.StatusCode)
	}
	if n, _ := env.store.AllInboxes(t.Context()); len(n) != 0 {
		t.Errorf("nothing may be created from the query string, got %d inboxes", len(n))
	}
}

func TestAccessLogCarriesTheRealStatus(t *testing.T) {
	logs := &regLogBuffer{}
	env := newSecEnv(t, secOptions{logger: slog.New(slog.NewTextHandler(logs, nil))})
	agent := env.loggedIn("agent@acme.test")
	api := func(method, path, token, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, env.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set(headerAPIAccessToken, token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	api(http.MethodGet, env.apiPath(), "", "")                                                   // 401
	api(http.MethodGet, env.apiPath()+"/999/health", env.admin.APIAccessToken, "")               // 404
	api(http.MethodPost, env.apiPath(), env.admin.APIAccessToken, `{"name":""}`)                 // 422
	api(http.MethodPost, env.apiPath(), env.agent.APIAccessToken, `{}`)                          // 403
	agent.do(http.MethodGet, env.inboxesPath()+"/new", nil, nil)                                 // 403 page
	agent.do(http.MethodGet, "/no/such/page", nil, nil)                                          // 404 page
	env.browser().post("/login", url.Values{"email": {"x@example.com"}, "password": {"y"}}, nil) // 403 CSRF
	want := []struct {
		method, path string
		status       string
	}{
		{"GET", env.apiPath(), "401"},
		{"GET", env.apiPath() + "/999/health", "404"},
		{"POST", env.apiPath(), "422"},
		{"POST", env.apiPath(), "403"},
		{"GET", env.inboxesPath() + "/new", "403"},
		{"GET", "/no/such/page", "404"},
		{"POST", "/login", "403"},
	}
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "msg=request ") {
			lines = append(lines, l)
		}
	}
	for _, w := range want {
		found := false
		for i, l := range lines {
			if strings.Contains(l, "method="+w.method+" path="+w.path+" status="+w.status+" ") {
				found = true
				lines = append(lines[:i], lines[i+1:]...)
				break
			}
		}
		if !found {
			t.Errorf("want an access log line for %s %s with status %s; request lines:\n%s", w.method, w.path, w.status, strings.Join(lines, "\n"))
		}
	}
}

func TestNamesRefuseInvisibleCharacters(t *testing.T) {
	env := newSecEnv(t, secOptions{})
	for _, name := range []string{"Sup\u200bport", "Sup\u200cport", "Sup\u200dport", "Sup\u200eport", "Sup\u200fport",
		"Sup\u2060port", "Sup\u2063port", "Sup\u2064port", "\ufeffSupport", "Sup\u061cport", "\u202eSupport", "Sup\u2066port"} {
		body, _ := json.Marshal(map[string]string{"name": name, "phone_number": "+15550100001", "phone_number_id": "1001",
			"waba_id": "2001", "access_token": "EAAGsecret-token-value-123456"})
		req, _ := http.NewRequest(http.MethodPost, env.srv.URL+env.apiPath(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(headerAPIAccessToken, env.admin.APIAccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Error struct {
				Fields map[string]string `json:"fields"`
			} `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(out.Error.Fields["name"], "invisible") {
			t.Errorf("name %+q: want 422 on name saying invisible characters are refused, got %d %v", name, resp.StatusCode, out.Error.Fields)
		}
	}
	// The same rule on the page.
	b := env.loggedIn("admin@acme.test")
	form := url.Values{"_csrf": {b.csrf(env.inboxesPath() + "/new")}, "name": {"Sup\u200bport"}, "phone_number": {"+15550100001"},
		"phone_number_id": {"1001"}, "waba_id": {"2001"}, "access_token": {"EAAexample-token-000001"}}
	if resp, body := b.post(env.inboxesPath(), form, nil); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-name"`) {
		t.Errorf("form with a zero-width space in the name: want 422 on name, got %d", resp.StatusCode)
	}
}
