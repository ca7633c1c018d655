package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
)

// Demo inboxes (graphsim/scenarios): a stuck number ready to register, and one whose
// display name Meta is still reviewing.
const (
	demoPendingInbox  = "Acme Support"
	demoInReviewInbox = "Blue Harbor Travel"
)

// markPage sets a marker on the page's window; it survives only if the page is not
// reloaded or left.
func markPage(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__marker = "same-page"; true`)); err != nil {
		t.Fatal(err)
	}
}

func assertSamePage(t *testing.T, ctx context.Context) {
	t.Helper()
	marker, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.__marker || "reloaded"`))
	if err != nil {
		t.Fatal(err)
	}
	if marker != "same-page" {
		t.Fatal("the page was reloaded or left: the result must be swapped in place")
	}
}

func TestBrowserCompleteRegistration(t *testing.T) {
	app := startTestApp(t)
	ctx := newBrowser(t)
	browserLogin(t, ctx, app.URL, demoAdminEmail, demoAdminPassword)

	in := demoInbox(t, app, demoPendingInbox)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+views.InboxHealthURL(in.AccountID, in.ID)),
		chromedp.WaitVisible(css(`#registration-banner [data-testid="complete-registration"]`)),
		chromedp.WaitVisible(css(`#health-panel`)),
	); err != nil {
		t.Fatalf("open the pending number's Account Health tab: %v", err)
	}
	if got := attributeOf(t, ctx, `#inbox-status [data-testid="overall-status"]`, "data-tone"); got == "green" {
		t.Fatalf("before registering, the overall badge must not be green, got %q", got)
	}
	markPage(t, ctx)

	// Meta's answer is held so the in-flight state can be seen: button disabled,
	// spinner shown.
	release := app.Sim.HoldRegister(in.PhoneNumberID)
	defer release()
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="complete-registration"]`)),
		chromedp.WaitVisible(css(`form.htmx-request [data-testid="complete-registration"][disabled] .spinner`)),
	); err != nil {
		t.Fatalf("click Complete registration: want the button disabled with a spinner while in flight: %v", err)
	}
	release()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(`#registration-banner[data-outcome="registered"]`))); err != nil {
		t.Fatalf("wait for the success state: %v", err)
	}
	assertSamePage(t, ctx)

	if text := textOf(t, ctx, `#registration-banner`); !strings.Contains(text, "Registered") {
		t.Errorf("banner after success: want Registered, got %q", text)
	}
	if got := attributeOf(t, ctx, `#inbox-status [data-testid="overall-status"]`, "data-tone"); got != "green" {
		t.Errorf("overall badge after success: want green without a reload, got %q", got)
	}
	if tone := attributeOf(t, ctx, `#health-panel [data-testid="badge-platform_type"]`, "data-tone"); tone != "green" {
		t.Errorf("platform badge after success: want green without a reload, got %q", tone)
	}
	if rows := textOf(t, ctx, `#registration-attempts`); !strings.Contains(rows, "Registered") || !strings.Contains(rows, demoAdminEmail) {
		t.Errorf("attempts table after success: want the registered attempt by the administrator, got %q", rows)
	}
	if n := app.Sim.CountRequests(http.MethodPost, "/"+in.PhoneNumberID+"/register"); n != 1 {
		t.Errorf("want exactly one register call, got %d", n)
	}
	if pin := registrationPIN(t, app, in); strings.Contains(textOf(t, ctx, `body`), pin) {
		t.Error("the PIN must never be shown")
	}
}

func registrationPIN(t *testing.T, app *testApp, in db.Inbox) string {
	t.Helper()
	s, err := app.Store.Secrets(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.PIN == "" {
		t.Fatal("a registered number must have its PIN stored")
	}
	return s.PIN
}

func TestBrowserNameInReviewIsExplained(t *testing.T) {
	app := startTestApp(t)
	ctx := newBrowser(t)
	browserLogin(t, ctx, app.URL, demoAdminEmail, demoAdminPassword)

	in := demoInbox(t, app, demoInReviewInbox)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+views.InboxHealthURL(in.AccountID, in.ID)),
		chromedp.WaitVisible(css(`#registration-banner`)),
	); err != nil {
		t.Fatalf("open the name-in-review number: %v", err)
	}
	banner := textOf(t, ctx, `#registration-banner`)
	for _, want := range []string{"Meta is still reviewing your display name", "approves"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner: want the plain-language explanation with %q, got %q", want, banner)
		}
	}
	// Before any click: the one button is the explicit Try anyway, its cost beside it.
	if label := textOf(t, ctx, `[data-testid="complete-registration"]`); !strings.Contains(label, "Try anyway") {
		t.Errorf("while the name is in review the one button must be an explicit Try anyway, got %q", label)
	}
	if note := textOf(t, ctx, `[data-testid="registration-confirm-note"]`); !strings.Contains(note, "10 attempts") {
		t.Errorf("Try anyway must say what it costs, got %q", note)
	}
	if href := attributeOf(t, ctx, `[data-testid="banner-manager-link"]`, "href"); !strings.Contains(href, "business.facebook.com") {
		t.Errorf("the fix is in WhatsApp Manager: want a link there, got %q", href)
	}
	markPage(t, ctx)
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="complete-registration"]`)),
		chromedp.WaitVisible(css(`#registration-banner[data-outcome="failed"]`)),
	); err != nil {
		t.Fatalf("try anyway: want the failure explained in place: %v", err)
	}
	assertSamePage(t, ctx)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#registration-banner").contains(document.activeElement)`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("after the answer is swapped in, focus must move to the banner's new message: %v", err)
	}
	if text := textOf(t, ctx, `#registration-banner`); !strings.Contains(text, "display name") || !strings.Contains(text, "automatically") {
		t.Errorf("after try anyway: want the reason and what happens next, got %q", text)
	}
	if n := app.Sim.CountRequests(http.MethodPost, "/"+in.PhoneNumberID+"/register"); n != 1 {
		t.Errorf("try anyway: want exactly one register call, got %d", n)
	}

	// A refused post (here: the inbox is gone, 404) is not swapped by htmx; the banner
	// says so in words instead of doing nothing.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const form = document.querySelector('[data-testid="registration-form"]');
		form.setAttribute("hx-post", form.getAttribute("hx-post").replace(/inboxes\/\d+/, "inboxes/999999"));
		htmx.process(form);
		return true;
	})()`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="complete-registration"]`)),
		chromedp.WaitVisible(css(`[data-testid="registration-request-error"]`)),
	); err != nil {
		t.Fatalf("a refused post must be reported in the banner: %v", err)
	}
	if text := textOf(t, ctx, `[data-testid="registration-request-error"]`); !strings.Contains(text, "Reload the page") {
		t.Errorf("refused post: want a plain message, got %q", text)
	}
	assertSamePage(t, ctx)
}
