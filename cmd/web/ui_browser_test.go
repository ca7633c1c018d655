package main

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
)

// axeSource is axe-core, vendored from the npm registry (testdata/axe/README.md says
// which version and how), injected into each page the accessibility check visits.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// axeViolation is one rule axe-core found broken, with a few of the elements.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// checkAccessibility runs axe-core on the page as it is now and fails the test for
// every violation (all of axe's rules for WCAG 2.x A and AA and its best practices).
// DevTools evaluates the script, so the page's CSP (no inline script) stays as served.
func checkAccessibility(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	if !loaded {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[*struct{}](axeSource+";null")); err != nil {
			t.Fatalf("%s: inject axe-core: %v", page, err)
		}
	}
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
		r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help,
			nodes: v.nodes.slice(0, 4).map(n => n.target.join(" ") + ": " + (n.failureSummary || "").replace(/\s+/g, " "))})))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: run axe-core: %v", page, err)
	}
	for _, v := range violations {
		t.Errorf("%s: axe %s (%s): %s\n\t%s", page, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n\t"))
	}
}

// noHorizontalScroll fails when the page is wider than the window.
func noHorizontalScroll(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	widths, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, document.documentElement.clientWidth]`))
	if err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	if widths[0] > widths[1] {
		wide, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 5).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))`))
		t.Errorf("%s: %d px wide in a %d px window (horizontal scroll); too wide: %v", page, widths[0], widths[1], wide)
	}
}

// bannerWant is what a demo number's banner says before any click.
type bannerWant struct {
	inbox   string
	none    bool     // no banner: nothing to do
	says    []string // parts of the banner's text
	buttons []string // data-testids that must be there
	absent  []string // data-testids that must not be there
}

var registerButtons = []string{"complete-registration", "banner-reconnect", "save-pin", "request-code", "deregister-and-register"}

func without(all []string, keep ...string) []string {
	var out []string
	for _, a := range all {
		if !strings.Contains(strings.Join(keep, " "), a) {
			out = append(out, a)
		}
	}
	return out
}

// TestBrowserBannerBeforeAnyClick: every demo number's banner says, before anyone
// clicks, what the stored health and attempts already tell, and offers only what can
// work; and every page the visit passes is clean by axe-core, also at 390 px wide.
func TestBrowserBannerBeforeAnyClick(t *testing.T) {
	app := startTestApp(t)
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+"/login"), chromedp.WaitVisible(css(`form[data-testid="login-form"]`))); err != nil {
		t.Fatal(err)
	}
	checkAccessibility(t, ctx, "login")
	// A second account, so the top bar has the account switcher.
	if _, err := app.Store.CreateUser(context.Background(), demoAdminEmail, demoAdminPassword, "Second Company", db.RoleAdministrator); err != nil {
		t.Fatal(err)
	}
	browserLogin(t, ctx, app.URL, demoAdminEmail, demoAdminPassword)
	// The reader is in New York: times show their local time and zone too.
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"}); err != nil {
		t.Fatal(err)
	}

	table := []bannerWant{
		{inbox: "Padaria Central — Support", none: true},
		{inbox: "Acme Support", says: []string{"not registered", "retry automatically"}, buttons: []string{"complete-registration"}},
		{inbox: "Blue Harbor Travel", says: []string{"still reviewing", "a few hours to a couple of days", "Try anyway", "10 attempts"},
			buttons: []string{"complete-registration", "registration-confirm-note", "banner-manager-link"}},
		{inbox: "Northwind Dental", says: []string{"display name needs your attention"}, buttons: []string{"banner-manager-link"},
			absent: registerButtons},
		{inbox: "Quick Loans Desk", says: []string{"Meta is blocking messages", "payment method"}, buttons: []string{"banner-manager-link", "registration-technical"},
			absent: registerButtons},
		{inbox: "Lumen Optics", says: []string{"connection to Meta has expired", "No automatic retries"}, buttons: []string{"banner-reconnect", "registration-technical"},
			absent: without(registerButtons, "banner-reconnect")},
		{inbox: "Harbor Pharmacy", says: []string{"not registered"}, buttons: []string{"complete-registration"}},
		{inbox: "Cedar Legal", says: []string{"Registration limit reached", "tried again after"}, absent: registerButtons},
		{inbox: "Summit Fitness", says: []string{"locked"}, buttons: []string{"banner-manager-link"}, absent: registerButtons},
		{inbox: "Acme Legacy Line", says: []string{"On-Premises"}, buttons: []string{"banner-manager-link"}, absent: registerButtons},
		{inbox: "Acme Sales", says: []string{"Verify this number first"}, buttons: []string{"request-code"},
			absent: without(registerButtons, "request-code")},
		{inbox: "Corner Bakery (Business app)", says: []string{"WhatsApp Business app"}, absent: registerButtons},
	}
	for i, w := range table {
		in := demoInbox(t, app, w.inbox)
		if err := chromedp.Do(ctx,
			chromedp.Navigate(app.URL+views.InboxHealthURL(in.AccountID, in.ID)),
			chromedp.WaitVisible(css(`#health-panel`)),
		); err != nil {
			t.Fatalf("%s: open the health tab: %v", w.inbox, err)
		}
		present, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#registration-banner") !== null`))
		if err != nil {
			t.Fatal(err)
		}
		if w.none {
			if present {
				t.Errorf("%s: want no banner, got %q", w.inbox, textOf(t, ctx, `#registration-banner`))
			}
		} else if !present {
			t.Errorf("%s: want a banner", w.inbox)
			continue
		}
		if present {
			text := textOf(t, ctx, `#registration-banner`)
			for _, s := range w.says {
				if !strings.Contains(text, s) {
					t.Errorf("%s: banner must say %q, got %q", w.inbox, s, text)
				}
			}
			for _, id := range w.buttons {
				if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll('#registration-banner [data-testid=%q]').length`, id))); n == 0 {
					t.Errorf("%s: want %s in the banner", w.inbox, id)
				}
			}
			for _, id := range w.absent {
				if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll('#registration-banner [data-testid=%q]').length`, id))); n != 0 {
					t.Errorf("%s: want no %s in the banner (it cannot work now)", w.inbox, id)
				}
			}
		}
		if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("details.technical[open]").length`)); n != 0 {
			t.Errorf("%s: Technical details must start closed (the plain reason leads)", w.inbox)
		}
		if i == 0 {
			checked := textOf(t, ctx, `[data-testid="checked-at"]`)
			iso := attributeOf(t, ctx, `[data-testid="checked-at"] time`, "datetime")
			at, err := time.Parse(time.RFC3339, iso)
			if err != nil {
				t.Fatalf("checked-at: want an RFC 3339 datetime, got %q", iso)
			}
			ny, _ := time.LoadLocation("America/New_York")
			// The reader's locale picks the clock: 24-hour, or 12-hour as en-US (newer
			// Chromium builds default to it).
			local, local12 := at.In(ny).Format("15:04"), at.In(ny).Format("03:04 PM")
			if !strings.Contains(checked, "ago") && !strings.Contains(checked, "just now") ||
				!strings.Contains(checked, local) && !strings.Contains(checked, local12) || !strings.Contains(checked, "EST") {
				t.Errorf("checked-at: want the relative time, then %s or %s EST (the reader's zone), got %q", local, local12, checked)
			}
		}
		if i < 4 || w.inbox == "Lumen Optics" || w.inbox == "Quick Loans Desk" {
			checkAccessibility(t, ctx, w.inbox+" health tab")
		}
	}

	// The other pages an administrator visits.
	first := demoInbox(t, app, "Lumen Optics")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+views.InboxesURL(first.AccountID)),
		chromedp.Click(css(`[data-testid="account-switcher"] summary`)),
		chromedp.WaitVisible(css(`[data-testid="account-switcher"] ul`)),
	); err != nil {
		t.Fatalf("open the account switcher: %v", err)
	}
	checkAccessibility(t, ctx, "inbox list with the account switcher open")
	for _, p := range []struct{ name, path, wait string }{
		{"inbox list", views.InboxesURL(first.AccountID), `[data-testid="inbox-list"]`},
		{"settings tab", views.InboxURL(first.AccountID, first.ID), `[data-testid="settings"]`},
		{"add inbox", views.InboxesURL(first.AccountID) + "/new", `[data-testid="inbox-form"]`},
		{"import", views.ImportURL(first.AccountID), `main form`},
		{"people", fmt.Sprintf("/accounts/%d/people", first.AccountID), `main`},
		{"alerts", fmt.Sprintf("/accounts/%d/alerts", first.AccountID), `main`},
		{"your account", "/account", `main`},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+p.path), chromedp.WaitVisible(css(p.wait))); err != nil {
			t.Fatalf("open %s: %v", p.name, err)
		}
		checkAccessibility(t, ctx, p.name)
	}

	// A refused form: focus lands on the first field in error.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+views.InboxesURL(first.AccountID)+"/new"),
		chromedp.WaitVisible(css(`[data-testid="inbox-form"]`)),
		chromedp.Submit(css(`[data-testid="inbox-form"]`)),
		chromedp.WaitVisible(css(`[aria-invalid="true"]`)),
	); err != nil {
		t.Fatalf("submit an empty add-inbox form: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.activeElement && document.activeElement.getAttribute("aria-invalid") === "true" &&
		document.activeElement === document.querySelector('[aria-invalid="true"]')`, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("a refused form must put focus on its first error: %v", err)
	}
	checkAccessibility(t, ctx, "add inbox with errors")

	// On a phone: 390 px wide, no horizontal scroll, and still clean.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ name, path, wait string }{
		{"inbox list at 390 px", views.InboxesURL(first.AccountID), `[data-testid="inbox-list"]`},
		{"health tab at 390 px", views.InboxHealthURL(first.AccountID, demoInbox(t, app, "Blue Harbor Travel").ID), `#health-panel`},
		{"connected health tab at 390 px", views.InboxHealthURL(first.AccountID, demoInbox(t, app, "Padaria Central — Support").ID), `#health-panel`},
		{"settings tab at 390 px", views.InboxURL(first.AccountID, first.ID), `[data-testid="settings"]`},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+p.path), chromedp.WaitVisible(css(p.wait))); err != nil {
			t.Fatalf("open %s: %v", p.name, err)
		}
		noHorizontalScroll(t, ctx, p.name)
		checkAccessibility(t, ctx, p.name)
		if p.name == "connected health tab at 390 px" {
			tops, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[...document.querySelectorAll(".badge-cell")].slice(0, 3).map(e => Math.round(e.getBoundingClientRect().top))`))
			if err != nil || len(tops) < 3 || tops[0] != tops[1] || tops[2] <= tops[1] {
				t.Errorf("%s: want the badge tiles two per row, got tops %v (%v)", p.name, tops, err)
			}
		}
	}

	// An agent: the token problem says whom to ask, with no form to press.
	agentCtx := newBrowser(t)
	browserLogin(t, agentCtx, app.URL, demoAgentEmail, demoAgentPassword)
	if err := chromedp.Do(agentCtx, chromedp.Navigate(app.URL+views.InboxHealthURL(first.AccountID, first.ID)),
		chromedp.WaitVisible(css(`#registration-banner`))); err != nil {
		t.Fatalf("agent: open Lumen Optics: %v", err)
	}
	if text := textOf(t, agentCtx, `#registration-banner`); !strings.Contains(text, "Ask an administrator") || !strings.Contains(text, "reconnect") {
		t.Errorf("agent, token expired: want to be told to ask an administrator to reconnect, got %q", text)
	}
	if n, _ := chromedp.Run(agentCtx, chromedp.Evaluate[int](`document.querySelectorAll('#registration-banner form, #registration-banner [data-testid="banner-reconnect"]').length`)); n != 0 {
		t.Errorf("agent: want no form or reconnect button in the banner, got %d", n)
	}
	checkAccessibility(t, agentCtx, "agent health tab")
}

// TestBrowserPagesUpdateThemselves: an open Account Health tab turns green by itself
// when the simulator approves the name (webhook → registration → the page's poll), an
// open inbox list follows, and a page that cannot reach the server says so.
func TestBrowserPagesUpdateThemselves(t *testing.T) {
	app := startTestApp(t)
	ctx := newBrowser(t)
	browserLogin(t, ctx, app.URL, demoAdminEmail, demoAdminPassword)

	in := demoInbox(t, app, demoInReviewInbox)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+views.InboxHealthURL(in.AccountID, in.ID)),
		chromedp.WaitVisible(css(`#registration-banner`)),
	); err != nil {
		t.Fatal(err)
	}
	markPage(t, ctx)
	if err := app.Sim.ApproveName(in.PhoneNumberID); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
		const s = document.querySelector('#health-panel [data-testid="overall-status"]');
		return s !== null && s.dataset.status === "connected" && document.querySelector("#registration-banner") === null;
	})()`, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("approved name: the open page must turn green by itself within 15 s: %v (status %q)", err,
			attributeOf(t, ctx, `#health-panel [data-testid="overall-status"]`, "data-status"))
	}
	assertSamePage(t, ctx)
	if status := attributeOf(t, ctx, `#inbox-status [data-testid="overall-status"]`, "data-status"); status != "connected" {
		t.Errorf("the header's status must follow, got %q", status)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#registration-attempts [data-testid="registration-attempt"][data-outcome="registered"]').length`)); n != 1 {
		t.Errorf("the attempts table must show the registration the approval made, got %d rows", n)
	}
	if text := textOf(t, ctx, `#health-changes`); !strings.Contains(text, "Connected") {
		t.Errorf("Recent changes must show the number connected, got %q", text)
	}

	// The inbox list follows too.
	kids := demoInbox(t, app, "Northwind Dental Kids")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+views.InboxesURL(kids.AccountID)+"?q=Kids"),
		chromedp.WaitVisible(css(`[data-testid="inbox-row"]`)),
	); err != nil {
		t.Fatal(err)
	}
	markPage(t, ctx)
	if err := app.Sim.ApproveName(kids.PhoneNumberID); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('[data-testid="inbox-row"]').dataset.status === "connected"`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("the open list must show the number connected within 15 s: %v", err)
	}
	assertSamePage(t, ctx)

	// The server out of reach: the page says so, and stops saying it once it is back.
	offline := func(off bool) {
		t.Helper()
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Offline: off, DownloadThroughput: -1, UploadThroughput: -1}}}); err != nil {
			t.Fatal(err)
		}
	}
	offline(true)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!document.getElementById("live-status").hidden`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("offline: the page must say it cannot reach the server: %v", err)
	}
	if text := textOf(t, ctx, `#live-status`); !strings.Contains(text, "cannot be reached") {
		t.Errorf("offline: want a plain message, got %q", text)
	}
	offline(false)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("live-status").hidden`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("back online: the message must go: %v", err)
	}

	// A hidden tab asks nothing; shown again, it asks at once.
	const polls = `performance.getEntriesByType("resource").filter(e => e.initiatorType === "xmlhttprequest").length`
	hide := func(hidden bool) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`Object.defineProperty(document, "hidden", {configurable: true, get: () => %v});
			document.dispatchEvent(new Event("visibilitychange")); true`, hidden))); err != nil {
			t.Fatal(err)
		}
	}
	hide(true)
	before, err := chromedp.Run(ctx, chromedp.Evaluate[int](polls))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Duration(views.LivePollSeconds)*time.Second + 2*time.Second)
	if after, _ := chromedp.Run(ctx, chromedp.Evaluate[int](polls)); after != before {
		t.Errorf("a hidden tab must not poll: %d requests while hidden", after-before)
	}
	hide(false)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`%s > %d`, polls, before), chromedp.WithPollingTimeout(3*time.Second))); err != nil {
		t.Errorf("shown again, the page must ask at once: %v", err)
	}
}
