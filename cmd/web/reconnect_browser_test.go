package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// demoTokenExpiredInbox is the demo number whose access token Meta no longer accepts.
const demoTokenExpiredInbox = "Lumen Optics"

// An administrator reconnects an inbox whose token expired: a bad token is refused next
// to the field, a good one turns the number healthy, with the server running on.
func TestBrowserReconnectExpiredToken(t *testing.T) {
	app := startTestApp(t)
	ctx := newBrowser(t)
	browserLogin(t, ctx, app.URL, demoAdminEmail, demoAdminPassword)
	in := demoInbox(t, app, demoTokenExpiredInbox)

	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+views.InboxHealthURL(in.AccountID, in.ID)),
		chromedp.WaitVisible(css(`[data-testid="banner-reconnect"]`)),
		chromedp.Click(css(`[data-testid="banner-reconnect"]`)),
		chromedp.WaitVisible(css(`[data-testid="reconnect-form"]`)),
		chromedp.SendKeys(css(`#reconnect-token`), "EAAnot-a-token-Meta-knows-0123"),
		chromedp.Submit(css(`[data-testid="reconnect-form"]`)),
		chromedp.WaitVisible(css(`[data-testid="reconnect-error"]`)),
	); err != nil {
		t.Fatalf("follow the banner to the reconnect form and try a token Meta refuses: %v", err)
	}
	if got := attributeOf(t, ctx, `#inbox-status [data-testid="overall-status"]`, "data-tone"); got != "red" {
		t.Errorf("before reconnecting: want the expired token shown red, got %q", got)
	}

	const newToken = "EAAnew-system-user-token-for-lumen-0123"
	if err := app.Sim.UpdateBusiness(in.WABAID, func(b *graphsim.Business) { b.AccessToken, b.TokenExpired = newToken, false }); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(css(`#reconnect-token`), newToken),
		chromedp.Submit(css(`[data-testid="reconnect-form"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash"]`)),
	); err != nil {
		t.Fatalf("reconnect with a good token: %v", err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="reconnect-error"],[data-testid="banner-reconnect"]').length`)); err != nil || n != 0 {
		t.Errorf("after reconnecting: want no token problem left on the page, got %d (%v)", n, err)
	}
	if got := attributeOf(t, ctx, `#inbox-status [data-testid="overall-status"]`, "data-tone"); got == "red" {
		t.Errorf("after reconnecting: the overall status must no longer be red, got %q", got)
	}
	if strings.Contains(textOf(t, ctx, `body`), newToken) {
		t.Error("the token must never be shown")
	}
}
