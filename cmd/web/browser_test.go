package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

func TestBrowserLoginAddInboxAndSeeItInTheList(t *testing.T) {
	app := startTestApp(t)
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+"/login")); err != nil {
		t.Fatal(err)
	}
	if logins := textOf(t, ctx, `[data-testid="demo-logins"]`); !strings.Contains(logins, demoAdminEmail+" / "+demoAdminPassword) {
		t.Errorf("demo login page: want the administrator's demo login shown, got %q", logins)
	}
	browserLogin(t, ctx, app.URL, demoAdminEmail, demoAdminPassword)

	if marker := textOf(t, ctx, `[data-testid="demo-marker"]`); !strings.Contains(marker, "Demo mode") {
		t.Errorf("demo marker: want it to say Demo mode, got %q", marker)
	}
	err := chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="add-inbox"]`)),
		chromedp.WaitVisible(css(`form[data-testid="inbox-form"]`)),
		// First a mistake: the error must show next to the field and keep the input.
		chromedp.SendKeys(css(`#f-name`), "Browser Support"),
		chromedp.SendKeys(css(`#f-phone_number`), "not a phone"),
		chromedp.Submit(css(`form[data-testid="inbox-form"]`)),
		chromedp.WaitVisible(css(`[data-testid="error-phone_number"]`)),
	)
	if err != nil {
		t.Fatalf("add inbox with a bad phone number: %v", err)
	}
	keptName, err := chromedp.Run(ctx, chromedp.Value(css(`#f-name`)))
	if err != nil {
		t.Fatal(err)
	}
	if keptName != "Browser Support" {
		t.Errorf("after a validation error the form must keep the name: want %q, got %q", "Browser Support", keptName)
	}
	// The number exists at Meta, in a business account this token sees: it is checked
	// with Meta before it is saved.
	if err := app.Sim.AddBusiness(graphsim.Business{WABAID: "209999000000001", Name: "Browser Co", AccessToken: "EAAB-browser-test-token-0001"}); err != nil {
		t.Fatal(err)
	}
	if err := app.Sim.AddNumber(graphsim.Number{PhoneNumber: "+15550199777", PhoneNumberID: "109999000000001", WABAID: "209999000000001"}); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.SetValue(css(`#f-phone_number`), "+1 555 0199 777"),
		chromedp.SendKeys(css(`#f-phone_number_id`), "109999000000001"),
		chromedp.SendKeys(css(`#f-waba_id`), "209999000000001"),
		chromedp.SendKeys(css(`#f-access_token`), "EAAB-browser-test-token-0001"),
		chromedp.Submit(css(`form[data-testid="inbox-form"]`)),
		chromedp.WaitVisible(css(`[data-testid="inbox-name"]`)),
		chromedp.Navigate(app.URL+"/"),
		chromedp.WaitVisible(css(`[data-testid="inbox-list"]`)),
	)
	if err != nil {
		t.Fatalf("add inbox: %v", err)
	}
	if list := textOf(t, ctx, `[data-testid="inbox-list"]`); !strings.Contains(list, "Browser Support") || !strings.Contains(list, "+15550199777") {
		t.Fatalf("inbox list: want the new inbox with its normalised number, got:\n%s", list)
	}
}

// The harness's CSP check must catch what a strict policy blocks; this page breaks it
// three ways (inline script, inline handler, inline style).
func TestBrowserHarnessCatchesCSPViolations(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!DOCTYPE html><html><body><p style="color:red">x</p><button onclick="1">b</button><script>document.title="ran"</script></body></html>`)
	}))
	t.Cleanup(srv.Close)
	ctx, csp := newWatchedBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(csp.violations()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if len(csp.violations()) == 0 {
		t.Fatal("a page with an inline script and style under a strict policy: want violations reported, got none")
	}
	t.Logf("caught: %q", csp.violations())
}
