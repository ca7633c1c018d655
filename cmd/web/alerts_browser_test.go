package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/inboxhealth/inboxhealth/internal/alerts"
	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
)

// An administrator adds a signed webhook destination on the Alerts page, sends a test
// alert, and sees it delivered in the destination's delivery log (which reloads itself);
// the receiver gets it signed with the secret typed in.
func TestBrowserAlertDestinationTestAlert(t *testing.T) {
	app := startTestApp(t)
	const secret = "browser-test-signing-secret"
	var mu sync.Mutex
	var verified []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := alerts.VerifySignature(secret, r.Header.Get(alerts.HeaderSignature), r.Header.Get(alerts.HeaderTimestamp), body, time.Now(), time.Minute)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		verified = append(verified, r.Header.Get(alerts.HeaderEvent))
		mu.Unlock()
	}))
	defer recv.Close()

	ctx := newBrowser(t)
	browserLogin(t, ctx, app.URL, demoAdminEmail, demoAdminPassword)
	admin := demoInbox(t, app, "Acme Support")
	last := `[data-testid="alert-destinations"] article:last-of-type`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+views.InboxesURL(admin.AccountID)),
		chromedp.WaitVisible(css(`[data-testid="nav-alerts"]`)),
		chromedp.Click(css(`[data-testid="nav-alerts"]`)),
		chromedp.WaitVisible(css(`[data-testid="destination-form"]`)),
		chromedp.SetValue(css(`#f-kind`), "webhook"),
		chromedp.SendKeys(css(`#f-url`), recv.URL+"/alerts"),
		chromedp.SendKeys(css(`#f-secret`), secret),
		chromedp.Click(css(`input[name="events"][value="status"]`)),
		chromedp.Submit(css(`[data-testid="destination-form"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash"]`)),
	); err != nil {
		t.Fatalf("add a webhook destination on the Alerts page: %v", err)
	}
	if got := textOf(t, ctx, last+` [data-testid="destination-label"]`); got != strings.TrimSuffix(recv.URL, "/") {
		t.Fatalf("new destination shows %q, want its scheme and host %s only", got, recv.URL)
	}
	if body := textOf(t, ctx, "body"); strings.Contains(body, secret) || strings.Contains(body, recv.URL+"/alerts") {
		t.Error("the page shows the destination's secret or full URL")
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(css(last+` [data-testid="send-test-alert"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash"]`)),
		chromedp.WaitVisible(css(last+` [data-testid="delivery-outcome"]`)), // the log reloads itself
	); err != nil {
		t.Fatalf("send a test alert and wait for it in the delivery log: %v", err)
	}
	if got := textOf(t, ctx, last+` [data-testid="delivery-outcome"]`); got != "Delivered" {
		t.Errorf("delivery log outcome %q, want Delivered", got)
	}
	if got := textOf(t, ctx, last+` [data-testid="delivery-detail"]`); got != "HTTP 200" {
		t.Errorf("delivery log answer %q, want HTTP 200", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(verified) != 1 || verified[0] != alerts.TypeTest {
		t.Errorf("receiver verified %v, want one signed test alert", verified)
	}
}

// Demo mode's "Demo inbox for alerts" shows the alert the simulator's flagged number
// produces, with no mail server: Meta flags a connected number (the quality webhook at
// the app's callback), and the visitor sees the signed alert caught.
func TestBrowserDemoAlertInboxShowsTheFlaggedNumber(t *testing.T) {
	app := startTestApp(t)
	flagged := demoInboxByPhoneNumberID(t, app, demoFlaggedNumberID)
	// The first sweep (at start) is the baseline a change is compared with.
	waitFor(t, 20*time.Second, "the first sweep's reading of the flagged number", func() bool {
		conds, err := app.Store.AlertConditions(context.Background(), flagged.ID)
		return err == nil && conds[string(alerts.KindStatus)].Value == "CONNECTED"
	})
	if err := app.Sim.QualityEvent(demoFlaggedNumberID, "FLAGGED", ""); err != nil {
		t.Fatal(err)
	}

	ctx := newBrowser(t)
	browserLogin(t, ctx, app.URL, demoAdminEmail, demoAdminPassword)
	page := app.URL + views.DemoAlertInboxURL(flagged.AccountID)
	want := fmt.Sprintf("[Problem] %s (%s): status changed (CONNECTED → FLAGGED)", flagged.Name, flagged.PhoneNumber)
	waitFor(t, 20*time.Second, "the flagged number's alert in the Demo inbox for alerts", func() bool {
		if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(css(`[data-testid="demo-alert-inbox"]`))); err != nil {
			return false
		}
		text, err := chromedp.Run(ctx, chromedp.Text(css(`[data-testid="demo-alert-inbox"]`)))
		return err == nil && strings.Contains(text, want)
	})
	if got := textOf(t, ctx, `[data-testid="caught-alert"]`); !strings.Contains(got, "signature verified") {
		t.Errorf("caught alert %q: want its signature shown as verified", got)
	}
}

func demoInboxByPhoneNumberID(t *testing.T, app *testApp, id string) db.Inbox {
	t.Helper()
	inboxes, err := app.Store.AllInboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inboxes {
		if in.PhoneNumberID == id {
			return in
		}
	}
	t.Fatalf("no demo inbox with phone number id %s", id)
	return db.Inbox{}
}
