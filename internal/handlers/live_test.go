package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestLiveFragmentFollowsStoredHealth: an open inbox page polls /live; the answer
// carries every part the page replaces, from what is stored, so a number registered
// by the monitor or a webhook turns green on the open page.
func TestLiveFragmentFollowsStoredHealth(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(regPendingInbox)
	admin := e.login("admin@reg.test")

	_, page, _ := admin.getDoc(regPath(in, "/health"))
	poller := page.Find(`#live-poller`)
	if url, _ := poller.Attr("hx-get"); url != regPath(in, "/live?from=health") {
		t.Fatalf("health tab: want a live poller asking %s, got %q", regPath(in, "/live?from=health"), url)
	}
	parts, _ := poller.Attr("hx-select-oob")
	for _, part := range strings.Split(parts, ",") {
		if page.Find(part).Length() != 1 {
			t.Errorf("the page must hold the part %s the poll replaces", part)
		}
	}
	if trig, _ := poller.Attr("hx-trigger"); trig != "live-poll" {
		t.Errorf("the poll is started by static/app.js (no eval), want hx-trigger live-poll, got %q", trig)
	}

	resp, live, body := admin.getDoc(regPath(in, "/live?from=health"))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("live: want 200 no-store, got %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	for _, part := range strings.Split(parts, ",") {
		if live.Find(part).Length() != 1 {
			t.Errorf("live answer: want the part %s, got %.300s", part, body)
		}
	}
	if live.Find(`#live-banner [data-testid="registration-banner"]`).Length() != 1 {
		t.Error("a pending number: the live answer carries the banner")
	}

	// Registered behind the page's back (the API here; the monitor or a webhook alike).
	if rec := e.apiPost(e.admin.APIAccessToken, regAPIPath(e.admin.AccountID, in), ""); rec.Code != http.StatusOK {
		t.Fatalf("register through the API: %d %s", rec.Code, rec.Body)
	}
	_, live, body = admin.getDoc(regPath(in, "/live?from=health"))
	if live.Find(`#live-banner [data-testid="registration-banner"]`).Length() != 0 {
		t.Errorf("registered: the live answer must empty the banner, got %.400s", body)
	}
	if st, _ := live.Find(`#health-panel [data-testid="overall-status"]`).Attr("data-status"); st != "connected" {
		t.Errorf("registered: the panel must turn green (connected), got %q", st)
	}
	if live.Find(`#registration-attempts [data-testid="registration-attempt"]`).Length() != 1 {
		t.Error("the attempts table must show the new attempt")
	}

	// The Settings tab polls the banner and the header's status only.
	_, live, _ = admin.getDoc(regPath(in, "/live?from=settings"))
	if live.Find(`#live-banner`).Length() != 1 || live.Find(`#inbox-status`).Length() != 1 || live.Find(`#health-panel`).Length() != 0 {
		t.Error("settings live answer: want the banner and the status, not the health panel")
	}

	// Another account's inbox stays hidden.
	other := e.login("admin@other.test")
	if resp, _, _ := other.getDoc(regPath(in, "/live?from=health")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another account's live poll: want 404, got %d", resp.StatusCode)
	}
}

// TestInboxListPollsItsOwnView: the inbox list polls the page it shows (filter,
// search, sort and page kept) and replaces the counts and the rows.
func TestInboxListPollsItsOwnView(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning", "connected")
	admin := e.login("admin@reg.test")
	path := "/accounts/" + itoa(e.admin.AccountID) + "/inboxes?q=Acme&sort=name"
	_, page, _ := admin.getDoc(path)
	poller := page.Find(`#live-poller`)
	url, _ := poller.Attr("hx-get")
	if !strings.Contains(url, "q=Acme") || !strings.Contains(url, "sort=name") {
		t.Errorf("list poller: want it to ask the same view, got %q", url)
	}
	parts, _ := poller.Attr("hx-select-oob")
	_, again, _ := admin.getDoc(url)
	for _, part := range strings.Split(parts, ",") {
		if page.Find(part).Length() != 1 || again.Find(part).Length() != 1 {
			t.Errorf("list: the page and its poll answer must both hold %s", part)
		}
	}
	if again.Find(`#inbox-results [data-testid="inbox-row"]`).Length() != 1 {
		t.Errorf("the poll answer keeps the search: want 1 row, got %d", again.Find(`#inbox-results [data-testid="inbox-row"]`).Length())
	}
}

// TestFaviconIsServed: a browser's own /favicon.ico request finds the icon (no 404 in
// the console), and every page links it.
func TestFaviconIsServed(t *testing.T) {
	e := newRegEnv(t, "connected")
	admin := e.login("admin@reg.test")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(e.srv.URL + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/static/favicon.svg" {
		t.Errorf("/favicon.ico: want 301 to /static/favicon.svg, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.Get(e.srv.URL + "/static/favicon.svg")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "image/svg+xml") {
		t.Errorf("favicon: want 200 image/svg+xml, got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	_, page, _ := admin.getDoc("/accounts/" + itoa(e.admin.AccountID) + "/inboxes")
	if href, _ := page.Find(`link[rel="icon"]`).Attr("href"); href != "/static/favicon.svg" {
		t.Errorf("pages must link the icon, got %q", href)
	}
}

// TestLivePollAfterTheSessionEnded: an open page's poll after its session ended sends
// the browser to the log-in page, which then returns to the page (not the fragment).
func TestLivePollAfterTheSessionEnded(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(regPendingInbox)
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+regPath(in, "/live?from=health"), nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Current-URL", e.srv.URL+regPath(in, "/health?range=7d"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "/login?next=" + url.QueryEscape(regPath(in, "/health?range=7d"))
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("HX-Redirect") != want {
		t.Errorf("logged-out poll: want 401 with HX-Redirect %q, got %d %q", want, resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
	// Another site's page named in the header is not followed.
	req.Header.Set("HX-Current-URL", "https://elsewhere.example/accounts/1/inboxes")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("HX-Redirect"); strings.Contains(got, "elsewhere") {
		t.Errorf("a foreign HX-Current-URL must be ignored, got %q", got)
	}
}
