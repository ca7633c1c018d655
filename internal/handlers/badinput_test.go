package handlers

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// Bad-input tests: every form and API field gets empty, huge, malformed, wrong-type and
// injection-shaped values, through real HTTP against the real router, store and a
// simulated Graph API. Each must get a clear 4xx (never a 5xx), store nothing, and
// leave the server answering /healthz.

const badinputAppSecret = "badinput-app-secret"

// badinputEnv is the app behind a loopback server, with two accounts: "ours" (an
// administrator with one inbox) and "theirs" (another administrator with one inbox).
type badinputEnv struct {
	t          *testing.T
	URL        string
	Store      *db.Store
	Sim        *graphsim.Server
	dbPath     string
	counter    *sql.DB
	admin      db.NewUserResult
	other      db.NewUserResult
	inbox      db.Inbox // ours
	otherInbox db.Inbox // theirs
	browser    *http.Client
	client     *http.Client
}

func newBadinputEnv(t *testing.T) *badinputEnv {
	t.Helper()
	ctx := context.Background()
	sim := graphsim.New(graphsim.Config{AppSecret: badinputAppSecret})
	t.Cleanup(sim.Close)
	for _, b := range []graphsim.Business{
		{WABAID: "200000000000001", BusinessID: "300000000000001", Name: "Ours", AccessToken: "tok-ours-0123456789abcdef"},
		{WABAID: "200000000000002", BusinessID: "300000000000002", Name: "Theirs", AccessToken: "tok-theirs-0123456789abcdef"},
	} {
		if err := sim.AddBusiness(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []graphsim.Number{
		{PhoneNumber: "+15550000001", PhoneNumberID: "100000000000001", WABAID: "200000000000001"},
		{PhoneNumber: "+15550000002", PhoneNumberID: "100000000000002", WABAID: "200000000000002"},
	} {
		if err := sim.AddNumber(n); err != nil {
			t.Fatal(err)
		}
	}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)

	cipher, err := db.NewCipher("badinput-secret-key")
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "app.db")
	store, err := db.Open(ctx, dbPath, cipher)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logger := slog.New(slog.DiscardHandler)
	client := whatsapp.NewClient(simSrv.URL+sim.Prefix(), nil, whatsapp.WithLogger(logger))
	healthSvc := health.NewService(store, client, health.Options{Logger: logger})
	t.Cleanup(healthSvc.Close)

	env := &badinputEnv{t: t, Store: store, Sim: sim, dbPath: dbPath}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	frontend := "http://" + ln.Addr().String()
	h := New(Config{
		FrontendURL:          frontend,
		WhatsAppAppSecret:    badinputAppSecret,
		SessionAuthKey:       cipher.DeriveKey("session-auth"),
		SessionEncryptionKey: cipher.DeriveKey("session-encryption"),
		Logger:               logger,
	}, badinputDeps(t, store, healthSvc, client, frontend, logger))
	srv := &http.Server{Handler: h.Routes(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	})
	env.URL = frontend

	if env.admin, err = store.CreateUser(ctx, "admin@ours.test", "ours password 123", "Ours", db.RoleAdministrator); err != nil {
		t.Fatal(err)
	}
	if env.other, err = store.CreateUser(ctx, "admin@theirs.test", "theirs password 123", "Theirs", db.RoleAdministrator); err != nil {
		t.Fatal(err)
	}
	if env.inbox, err = store.CreateInbox(ctx, db.NewInbox{AccountID: env.admin.AccountID, Name: "Support", PhoneNumber: "+15550000001",
		PhoneNumberID: "100000000000001", WABAID: "200000000000001", BusinessID: "300000000000001", AccessToken: "tok-ours-0123456789abcdef"}); err != nil {
		t.Fatal(err)
	}
	if env.otherInbox, err = store.CreateInbox(ctx, db.NewInbox{AccountID: env.other.AccountID, Name: "Theirs", PhoneNumber: "+15550000002",
		PhoneNumberID: "100000000000002", WABAID: "200000000000002", BusinessID: "300000000000002", AccessToken: "tok-theirs-0123456789abcdef"}); err != nil {
		t.Fatal(err)
	}
	// Both inboxes have a known health, so reads never wait on Meta.
	for _, in := range []db.Inbox{env.inbox, env.otherInbox} {
		if _, err := healthSvc.Refresh(ctx, in, db.SourceFetch); err != nil {
			t.Fatal(err)
		}
	}

	env.client = &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	jar, _ := cookiejar.New(nil)
	env.browser = &http.Client{Timeout: 20 * time.Second, Jar: jar, CheckRedirect: env.client.CheckRedirect}
	resp := env.form(env.browser, "/login", url.Values{"email": {"admin@ours.test"}, "password": {"ours password 123"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("log in: want 303, got %d", resp.StatusCode)
	}

	env.counter, err = sql.Open("sqlite", "file:"+dbPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.counter.Close() })
	return env
}

// badinputResponse is a response read in full, so callers can assert and move on.
type badinputResponse struct {
	StatusCode int
	Header     http.Header
	Body       string
}

func (e *badinputEnv) do(c *http.Client, req *http.Request) badinputResponse {
	e.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return badinputResponse{StatusCode: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

// form posts a form the way a browser on this site does (Sec-Fetch-Site: same-origin).
func (e *badinputEnv) form(c *http.Client, path string, values url.Values) badinputResponse {
	e.t.Helper()
	return e.rawForm(c, path, values.Encode())
}

func (e *badinputEnv) rawForm(c *http.Client, path, body string) badinputResponse {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return e.do(c, req)
}

// api calls the JSON API with our administrator's token.
func (e *badinputEnv) api(method, path, contentType, body string) badinputResponse {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set(headerAPIAccessToken, e.admin.APIAccessToken)
	return e.do(e.client, req)
}

func (e *badinputEnv) get(c *http.Client, path string) badinputResponse {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
	return e.do(c, req)
}

// rows counts every table's rows, so a test can say "nothing stored".
func (e *badinputEnv) rows() map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for _, table := range []string{"accounts", "users", "account_users", "inboxes", "inbox_members", "health_snapshots",
		"registration_attempts", "registration_leases", "webhook_events"} {
		var n int
		if err := e.counter.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			e.t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

func (e *badinputEnv) assertNothingStored(before map[string]int, what string) {
	e.t.Helper()
	after := e.rows()
	for table, n := range before {
		if after[table] != n {
			e.t.Errorf("%s: want nothing stored, but %s went from %d to %d rows", what, table, n, after[table])
		}
	}
}

func (e *badinputEnv) assertStillServing() {
	e.t.Helper()
	resp := e.get(e.client, "/healthz")
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("after bad input: want /healthz 200, got %d %s", resp.StatusCode, resp.Body)
	}
}

// assertClear4xx wants one of the given statuses (any 4xx when none given) and never a 5xx.
func assertClear4xx(t *testing.T, what string, resp badinputResponse, want ...int) {
	t.Helper()
	if len(want) == 0 {
		if resp.StatusCode < 400 || resp.StatusCode > 499 {
			t.Errorf("%s: want a 4xx, got %d %.300s", what, resp.StatusCode, resp.Body)
		}
		return
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return
		}
	}
	t.Errorf("%s: want HTTP %v, got %d %.300s", what, want, resp.StatusCode, resp.Body)
}

// badinputHostile are injection-shaped values no Meta id, phone number or token can be.
var badinputHostile = map[string]string{
	"sql quote":   `1' OR '1'='1'; DROP TABLE inboxes; --`,
	"script tag":  `<script>alert(1)</script>`,
	"path":        `../../../../etc/passwd`,
	"nul byte":    "12345\x0067890",
	"rtl":         "\u202e1234567890",
	"crlf":        "123\r\nSet-Cookie: x=1",
	"bad utf8":    "123\xff\xfe456",
	"whitespace":  "   \t  ",
	"emoji":       "📞📞📞📞📞📞📞📞",
	"negative":    "-100000000000001",
	"exponent":    "1e15",
	"very long":   strings.Repeat("9", 40),
	"json inside": `{"$ne":null}`,
}

// badinputAcceptable says which hostile-looking values a field may legitimately take:
// a phone number may be written with dashes ("-1000..." is 15 digits with a separator),
// an empty portfolio id is allowed (whitespace trims to empty), and an access token is
// any printable ASCII without spaces — it is encrypted at rest, sent only in a header
// and never shown, so "<script>" or "../" in one is opaque data.
func badinputAcceptable(field, label string) bool {
	switch field {
	case "phone_number":
		return label == "negative"
	case "business_id":
		return label == "whitespace"
	case "access_token":
		return label == "script tag" || label == "path" || label == "very long" || label == "json inside"
	}
	return false
}

func badinputValidInbox() map[string]any {
	return map[string]any{
		"name": "New inbox", "phone_number": "+1 555 000 0099", "phone_number_id": "100000000000099",
		"waba_id": "200000000000001", "business_id": "300000000000001", "access_token": "tok-ours-0123456789abcdef",
	}
}

func badinputJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBadInputInboxAPI(t *testing.T) {
	t.Parallel()
	env := newBadinputEnv(t)
	path := fmt.Sprintf("/api/v1/accounts/%d/inboxes", env.admin.AccountID)
	huge := strings.Repeat("a", 1<<20)

	type tc struct {
		name, contentType, body string
		want                    []int
	}
	cases := []tc{
		{"empty body", "application/json", "", []int{400}},
		{"empty object", "application/json", "{}", []int{422}},
		{"null", "application/json", "null", []int{422}},
		{"array", "application/json", "[]", []int{400}},
		{"string", "application/json", `"inbox"`, []int{400}},
		{"truncated", "application/json", `{"name":"x","phone_number":`, []int{400}},
		{"not json", "application/json", `name=x&phone_number=1`, []int{400}},
		{"trailing data", "application/json", `{} {}`, []int{400}},
		{"unknown field", "application/json", `{"name":"x","is_admin":true}`, []int{400}},
		{"wrong content type", "text/plain", badinputJSON(t, badinputValidInbox()), []int{415}},
		{"form content type", "application/x-www-form-urlencoded", "name=x", []int{415}},
		{"1 MB body", "application/json", `{"name":"` + huge + `"}`, []int{413}},
		{"64 KiB + 1 body", "application/json", `{"name":"` + strings.Repeat("a", 64<<10) + `"}`, []int{413}},
		{"deeply nested", "application/json", strings.Repeat("[", 100_000), []int{400, 413}},
		{"nul in json", "application/json", "{\"name\":\"a\x00b\"}", []int{400}},
	}
	for _, field := range []string{"name", "phone_number", "phone_number_id", "waba_id", "business_id", "access_token"} {
		for _, wrong := range []any{12345, true, []string{"x"}, map[string]string{"a": "b"}, 1.5e300} {
			v := badinputValidInbox()
			v[field] = wrong
			cases = append(cases, tc{fmt.Sprintf("%s as %T", field, wrong), "application/json", badinputJSON(t, v), []int{400}})
		}
		v := badinputValidInbox()
		v[field] = strings.Repeat("7", 60<<10) // fits the body limit, not the field
		cases = append(cases, tc{field + " 60 KiB", "application/json", badinputJSON(t, v), []int{422}})
		if field != "business_id" { // the portfolio id is optional
			v = badinputValidInbox()
			v[field] = ""
			cases = append(cases, tc{field + " empty", "application/json", badinputJSON(t, v), []int{422}})
			v = badinputValidInbox()
			delete(v, field)
			cases = append(cases, tc{field + " missing", "application/json", badinputJSON(t, v), []int{422}})
		}
		if field == "name" {
			continue // a name is free text: hostile-looking names are checked below
		}
		for label, hostile := range badinputHostile {
			if badinputAcceptable(field, label) {
				continue
			}
			v := badinputValidInbox()
			v[field] = hostile
			cases = append(cases, tc{field + " " + label, "application/json", badinputJSON(t, v), []int{400, 422}})
		}
	}
	for _, c := range cases {
		before := env.rows()
		resp := env.api(http.MethodPost, path, c.contentType, c.body)
		assertClear4xx(t, "POST inboxes: "+c.name, resp, c.want...)
		if !strings.Contains(resp.Body, `"error"`) && resp.StatusCode >= 400 {
			t.Errorf("POST inboxes: %s: want a JSON error body, got %.200s", c.name, resp.Body)
		}
		env.assertNothingStored(before, "POST inboxes: "+c.name)
	}
	env.assertStillServing()
}

// Names are free text: hostile-looking ones are stored exactly as typed, shown escaped,
// and cannot change any other row.
func TestBadInputHostileInboxNamesAreDataNotCode(t *testing.T) {
	t.Parallel()
	env := newBadinputEnv(t)
	path := fmt.Sprintf("/api/v1/accounts/%d/inboxes", env.admin.AccountID)
	names := []string{
		`x'); DELETE FROM inboxes; --`,
		`<script>alert("name")</script>`,
		`../../etc/passwd`,
		`{{.Secret}} ${7*7} %s%n`,
	}
	for i, name := range names {
		v := badinputValidInbox()
		v["name"] = name
		v["phone_number"] = fmt.Sprintf("+1555000%04d", 100+i)
		v["phone_number_id"] = fmt.Sprintf("1000000000%05d", 100+i)
		if err := env.Sim.AddNumber(graphsim.Number{PhoneNumber: v["phone_number"].(string), PhoneNumberID: v["phone_number_id"].(string),
			WABAID: "200000000000001"}); err != nil { // Meta has the number: it is checked before saving
			t.Fatal(err)
		}
		before := env.rows()
		resp := env.api(http.MethodPost, path, "application/json", badinputJSON(t, v))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("name %q: want 201 (a valid name), got %d %s", name, resp.StatusCode, resp.Body)
		}
		var created apiInbox
		if err := json.Unmarshal([]byte(resp.Body), &created); err != nil || created.Name != name {
			t.Fatalf("name %q: want it stored and returned exactly, got %q (%v)", name, created.Name, err)
		}
		if after := env.rows(); after["inboxes"] != before["inboxes"]+1 || after["users"] != before["users"] {
			t.Fatalf("name %q: want exactly one more inbox and nothing else changed, got %v -> %v", name, before, after)
		}
		page := env.get(env.browser, fmt.Sprintf("/accounts/%d/inboxes", env.admin.AccountID))
		if page.StatusCode != http.StatusOK {
			t.Fatalf("inbox list: want 200, got %d", page.StatusCode)
		}
		if strings.Contains(page.Body, `<script>alert("name")</script>`) {
			t.Fatal("inbox list: want the <script> name escaped, found it raw in the HTML")
		}
	}
	env.assertStillServing()
}

func TestBadInputInboxForm(t *testing.T) {
	t.Parallel()
	env := newBadinputEnv(t)
	path := fmt.Sprintf("/accounts/%d/inboxes", env.admin.AccountID)
	valid := func() url.Values {
		v := url.Values{}
		for k, x := range badinputValidInbox() {
			v.Set(k, x.(string))
		}
		return v
	}
	type tc struct {
		name, body string
		want       []int
	}
	cases := []tc{
		{"empty body", "", []int{422}},
		{"bad percent-encoding", "name=%zz&phone_number=%", []int{400}},
		{"only separators", "&&&===&", []int{422}},
		{"1 MB field", "name=" + strings.Repeat("a", 1<<20), []int{413}},
		{"10,000 repeated fields", strings.Repeat("name=a&", 10_000), []int{400, 422}},
	}
	for _, field := range []string{"name", "phone_number", "phone_number_id", "waba_id", "business_id", "access_token"} {
		v := valid()
		v.Set(field, strings.Repeat("7", 100<<10))
		cases = append(cases, tc{field + " 100 KiB", v.Encode(), []int{422}})
		if field != "business_id" {
			v = valid()
			v.Set(field, "")
			cases = append(cases, tc{field + " empty", v.Encode(), []int{422}})
		}
		if field == "name" {
			v = valid()
			v.Set(field, "a\x00b")
			cases = append(cases, tc{"name nul byte", v.Encode(), []int{422}})
			continue
		}
		for label, hostile := range badinputHostile {
			if badinputAcceptable(field, label) {
				continue
			}
			v := valid()
			v.Set(field, hostile)
			cases = append(cases, tc{field + " " + label, v.Encode(), []int{422}})
		}
	}
	for _, c := range cases {
		before := env.rows()
		resp := env.rawForm(env.browser, path, c.body)
		assertClear4xx(t, "form "+c.name, resp, c.want...)
		env.assertNothingStored(before, "form "+c.name)
	}

	// Without the CSRF proof a valid form is refused and stores nothing.
	before := env.rows()
	req, _ := http.NewRequest(http.MethodPost, env.URL+path, strings.NewReader(valid().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	assertClear4xx(t, "form without CSRF token", env.do(env.browser, req), http.StatusForbidden)
	env.assertNothingStored(before, "form without CSRF token")
	env.assertStillServing()
}

func TestBadInputLoginForm(t *testing.T) {
	t.Parallel()
	env := newBadinputEnv(t)
	jar, _ := cookiejar.New(nil)
	anon := &http.Client{Timeout: 20 * time.Second, Jar: jar, CheckRedirect: env.client.CheckRedirect}
	cases := []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"email only", "email=admin%40ours.test"},
		{"password only", "password=x"},
		{"sql in email", url.Values{"email": {`admin@ours.test' OR '1'='1' --`}, "password": {`' OR '1'='1`}}.Encode()},
		{"sql in password", url.Values{"email": {"admin@ours.test"}, "password": {`' OR 1=1 --`}}.Encode()},
		{"script in email", url.Values{"email": {`<script>alert(1)</script>`}, "password": {"x"}}.Encode()},
		{"nul bytes", url.Values{"email": {"admin@ours.test\x00"}, "password": {"ours password 123\x00"}}.Encode()},
		{"rtl", url.Values{"email": {"\u202eadmin@ours.test"}, "password": {"x"}}.Encode()},
		{"bad utf8", "email=%ff%fe&password=%ff"},
		{"bad percent-encoding", "email=%zz&password=%"},
		{"100 KiB password", url.Values{"email": {"admin@ours.test"}, "password": {strings.Repeat("p", 100<<10)}}.Encode()},
		{"1 MB email", "email=" + strings.Repeat("a", 1<<20) + "&password=x"},
		{"next to another site", url.Values{"email": {"nobody@ours.test"}, "password": {"x"}, "next": {"//evil.test/"}}.Encode()},
	}
	for _, c := range cases {
		before := env.rows()
		resp := env.rawForm(anon, "/login", c.body)
		// 401 wrong credentials, 422 missing ones, 429 once the address is throttled,
		// 400/413 for unreadable bodies.
		assertClear4xx(t, "login "+c.name, resp, 400, 401, 413, 422, 429)
		if loc := resp.Header.Get("Location"); loc != "" {
			t.Errorf("login %s: want no redirect, got Location %q", c.name, loc)
		}
		env.assertNothingStored(before, "login "+c.name)
	}
	// None of that logged anyone in.
	resp := env.get(anon, fmt.Sprintf("/accounts/%d/inboxes", env.admin.AccountID))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("after bad log-ins: want a redirect to /login, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	env.assertStillServing()
}

// Unknown, malformed and other accounts' ids are 404 everywhere, never 403 or 500.
func TestBadInputIDs(t *testing.T) {
	t.Parallel()
	env := newBadinputEnv(t)
	ours, theirs := env.admin.AccountID, env.other.AccountID
	badIDs := []string{"0", "-1", "999999", "abc", "1.5", "1e3", "99999999999999999999999", "%20", "%00", "1%27%20OR%201%3D1",
		"..%2F..%2Fetc%2Fpasswd", "%3Cscript%3E"}
	var paths []string
	for _, id := range badIDs {
		paths = append(paths,
			fmt.Sprintf("/api/v1/accounts/%d/inboxes/%s/health", ours, id),
			fmt.Sprintf("/accounts/%d/inboxes/%s", ours, id),
			fmt.Sprintf("/accounts/%d/inboxes/%s/health", ours, id),
			fmt.Sprintf("/api/v1/accounts/%s/inboxes", id),
			fmt.Sprintf("/accounts/%s/inboxes", id),
		)
	}
	// Another account's inbox through our account, and another account outright.
	paths = append(paths,
		fmt.Sprintf("/api/v1/accounts/%d/inboxes/%d/health", ours, env.otherInbox.ID),
		fmt.Sprintf("/accounts/%d/inboxes/%d", ours, env.otherInbox.ID),
		fmt.Sprintf("/accounts/%d/inboxes/%d/health", ours, env.otherInbox.ID),
		fmt.Sprintf("/api/v1/accounts/%d/inboxes", theirs),
		fmt.Sprintf("/api/v1/accounts/%d/inboxes/%d/health", theirs, env.otherInbox.ID),
		fmt.Sprintf("/accounts/%d/inboxes", theirs),
		fmt.Sprintf("/accounts/%d/inboxes/%d", theirs, env.otherInbox.ID),
	)
	for _, p := range paths {
		before := env.rows()
		var resp badinputResponse
		if strings.HasPrefix(p, "/api/") {
			resp = env.api(http.MethodGet, p, "", "")
		} else {
			resp = env.get(env.browser, p)
		}
		assertClear4xx(t, "GET "+p, resp, http.StatusNotFound)
		if strings.Contains(resp.Body, "Theirs") || strings.Contains(resp.Body, env.otherInbox.PhoneNumber) {
			t.Errorf("GET %s: the answer reveals the other account's inbox: %.300s", p, resp.Body)
		}
		env.assertNothingStored(before, "GET "+p)
	}
	// Writes to another account's id are 404 too.
	before := env.rows()
	resp := env.api(http.MethodPost, fmt.Sprintf("/api/v1/accounts/%d/inboxes", theirs), "application/json", badinputJSON(t, badinputValidInbox()))
	assertClear4xx(t, "POST another account's inboxes", resp, http.StatusNotFound)
	env.assertNothingStored(before, "POST another account's inboxes")

	// A bad API token is 401 and says so in JSON.
	req, _ := http.NewRequest(http.MethodGet, env.URL+fmt.Sprintf("/api/v1/accounts/%d/inboxes", ours), nil)
	req.Header.Set(headerAPIAccessToken, "' OR '1'='1")
	assertClear4xx(t, "bad api token", env.do(env.client, req), http.StatusUnauthorized)
	env.assertStillServing()
}

// badinputRawRequest writes a request by hand (a lying Content-Length is impossible
// with net/http's client) and reads the status line of the answer.
func badinputRawRequest(t *testing.T, base, raw string, body io.Reader) (int, error) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return 0, err
	}
	if body != nil {
		go io.Copy(conn, body) // the server may answer and close before it is all sent
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestBadInputGigabyteClaims sends bodies that claim or stream far more than any
// endpoint accepts: each is refused early, nothing is stored, the server lives on.
func TestBadInputGigabyteClaims(t *testing.T) {
	t.Parallel()
	env := newBadinputEnv(t)
	apiPath := fmt.Sprintf("/api/v1/accounts/%d/inboxes", env.admin.AccountID)
	hookPath := "/webhooks/whatsapp/" + url.PathEscape(env.inbox.PhoneNumber)
	for _, target := range []struct{ path, extra string }{
		{apiPath, badinputAPIHeader(env) + "Content-Type: application/json\r\n"},
		{hookPath, "Content-Type: application/json\r\nX-Hub-Signature-256: sha256=" + strings.Repeat("0", 64) + "\r\n"},
		{"/login", "Content-Type: application/x-www-form-urlencoded\r\nSec-Fetch-Site: same-origin\r\n"},
	} {
		before := env.rows()
		host := strings.TrimPrefix(env.URL, "http://")
		raw := "POST " + target.path + " HTTP/1.1\r\nHost: " + host + "\r\n" + target.extra +
			"Content-Length: 1073741824\r\nConnection: close\r\n\r\n{\"object\":\"whatsapp_business_account\"}"
		start := time.Now()
		status, err := badinputRawRequest(t, env.URL, raw, nil)
		if err != nil {
			t.Fatalf("%s with Content-Length 1 GiB: want an answer, got %v", target.path, err)
		}
		if status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s with Content-Length 1 GiB: want 413, got %d", target.path, status)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s with Content-Length 1 GiB: want an answer at once, took %v", target.path, took)
		}
		env.assertNothingStored(before, target.path+" with Content-Length 1 GiB")

		// A chunked body with no length that streams 64 MiB.
		before = env.rows()
		raw = "POST " + target.path + " HTTP/1.1\r\nHost: " + host + "\r\n" + target.extra +
			"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		status, err = badinputRawRequest(t, env.URL, raw, &badinputChunkStream{left: 64 << 20})
		if err != nil {
			t.Fatalf("%s streaming 64 MiB: want an answer, got %v", target.path, err)
		}
		// 413 from the body limit, or 400/401/422 when the endpoint gives up on the
		// first bytes (100,000 '[' exceed the JSON nesting limit; no email in a form).
		if status < 400 || status > 499 {
			t.Errorf("%s streaming 64 MiB: want a 4xx, got %d", target.path, status)
		}
		env.assertNothingStored(before, target.path+" streaming 64 MiB")
	}
	env.assertStillServing()
}

func badinputAPIHeader(env *badinputEnv) string {
	return headerAPIAccessToken + ": " + env.admin.APIAccessToken + "\r\n"
}

// badinputChunkStream is an endless-looking chunked body: '[' characters in 32 KiB
// chunks until left runs out.
type badinputChunkStream struct {
	left int
	buf  []byte
}

func (s *badinputChunkStream) Read(p []byte) (int, error) {
	if len(s.buf) == 0 {
		if s.left <= 0 {
			return 0, io.EOF
		}
		n := min(32<<10, s.left)
		s.left -= n
		s.buf = append([]byte(fmt.Sprintf("%x\r\n", n)), bytes.Repeat([]byte("["), n)...)
		s.buf = append(s.buf, "\r\n"...)
		if s.left == 0 {
			s.buf = append(s.buf, "0\r\n\r\n"...)
		}
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}
