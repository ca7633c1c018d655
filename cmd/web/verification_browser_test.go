package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/inboxhealth/inboxhealth/internal/views"
)

// demoNotVerifiedInbox is the demo number whose ownership Meta has not verified yet.
const demoNotVerifiedInbox = "Acme Sales"

// A shop owner verifies their number from the banner: ask for a code, mistype it,
// enter the right one, and the number is registered with one call, without a reload.
func TestBrowserVerifyNumberThenRegister(t *testing.T) {
	app := startTestApp(t)
	ctx := newBrowser(t)
	browserLogin(t, ctx, app.URL, demoAdminEmail, demoAdminPassword)
	in := demoInbox(t, app, demoNotVerifiedInbox)

	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+views.InboxHealthURL(in.AccountID, in.ID)),
		chromedp.WaitVisible(css(`#registration-banner [data-testid="request-code"]`)),
	); err != nil {
		t.Fatalf("open the not-verified number: want the code request in the banner: %v", err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="complete-registration"]').length`)); err != nil || n != 0 {
		t.Fatalf("a number Meta has not verified must not offer Complete registration (it would fail with 133006), got %d %v", n, err)
	}
	markPage(t, ctx)

	if err := chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="request-code"]`)),
		chromedp.WaitVisible(css(`#registration-banner [data-testid="code-form"]`)),
	); err != nil {
		t.Fatalf("request a code: want the code field: %v", err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="request-code"][disabled]').length`)); err != nil || n != 1 {
		t.Errorf("send again must be disabled for a minute after a request, got %d disabled buttons (%v)", n, err)
	}
	if note := textOf(t, ctx, `[data-testid="code-note"]`); !strings.Contains(note, "less than a minute ago") {
		t.Errorf("send again: want the wait shown, got %q", note)
	}
	code, ok := app.Sim.VerificationCode(in.PhoneNumberID)
	if !ok {
		t.Fatal("the simulator sent no code")
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}

	if err := chromedp.Do(ctx,
		chromedp.SendKeys(css(`#verification-code`), wrong),
		chromedp.Click(css(`[data-testid="submit-code"]`)),
		chromedp.WaitVisible(css(`[data-testid="code-error"]`)),
	); err != nil {
		t.Fatalf("a wrong code: want it refused next to the field: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(css(`#verification-code`), code),
		chromedp.Click(css(`[data-testid="submit-code"]`)),
		chromedp.WaitVisible(css(`#registration-banner[data-outcome="registered"]`)),
	); err != nil {
		t.Fatalf("the right code: want the number registered: %v", err)
	}
	assertSamePage(t, ctx)
	if n := app.Sim.CountRequests(http.MethodPost, "/"+in.PhoneNumberID+"/register"); n != 1 {
		t.Errorf("want exactly one register call, got %d", n)
	}
	if strings.Contains(textOf(t, ctx, `body`), code) {
		t.Error("the code must never be shown by the app")
	}
}
