package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/inboxhealth/inboxhealth/internal/views"
)

// Signing out everywhere from one browser drops another browser's open page to the
// login page at its next click (an htmx request, answered 401 with HX-Redirect).
func TestBrowserSignOutEverywhereEndsTheOtherBrowser(t *testing.T) {
	app := startTestApp(t)
	inbox := demoInbox(t, app, "Padaria Central — Support")

	laptop := newBrowser(t)
	browserLogin(t, laptop, app.URL, demoAdminEmail, demoAdminPassword)
	if err := chromedp.Do(laptop,
		chromedp.Navigate(app.URL+views.InboxHealthURL(inbox.AccountID, inbox.ID)),
		chromedp.WaitVisible(css(`[data-testid="refresh-health"]`)),
	); err != nil {
		t.Fatalf("open the health tab: %v", err)
	}

	phone := newBrowser(t)
	browserLogin(t, phone, app.URL, demoAdminEmail, demoAdminPassword)
	if err := chromedp.Do(phone,
		chromedp.Click(css(`[data-testid="current-user"]`)),
		chromedp.WaitVisible(css(`[data-testid="account-page"]`)),
	); err != nil {
		t.Fatalf("open Your account from the top bar: %v", err)
	}
	if text := textOf(t, phone, `[data-testid="account-page"]`); !strings.Contains(text, "2 browsers") {
		t.Errorf("Your account: want both browsers counted, got %q", text)
	}
	if err := chromedp.Do(phone,
		chromedp.Click(css(`[data-testid="sign-out-everywhere"]`)),
		chromedp.WaitVisible(css(`form[data-testid="login-form"]`)),
	); err != nil {
		t.Fatalf("sign out everywhere: %v", err)
	}
	if flash := textOf(t, phone, `[data-testid="flash"]`); !strings.Contains(flash, "signed out everywhere") {
		t.Errorf("after signing out everywhere: want it said, got %q", flash)
	}

	if err := chromedp.Do(laptop,
		chromedp.Click(css(`[data-testid="refresh-health"]`)),
		chromedp.WaitVisible(css(`form[data-testid="login-form"]`)),
	); err != nil {
		t.Fatalf("the other browser's next click must land on the login page: %v", err)
	}
}
