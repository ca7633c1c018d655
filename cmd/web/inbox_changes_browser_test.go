package main

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/inboxhealth/inboxhealth/internal/views"
)

// Demo inboxes and numbers the tests below change.
const (
	demoOrdersInbox    = "Padaria Central — Orders"
	demoSeasideWABA    = "209876543210012"
	demoSeasideToken   = "EAAsim-demo-token-seaside-clinics"
	demoSeasideFront   = "109876543210016" // connected (seeded)
	demoSeasideDental  = "109876543210017" // at Meta only
	demoSeasidePharma  = "109876543210018" // at Meta only, never registered
	demoAcmeWABA       = "209876543210001" // a business account the Padaria token cannot see
	demoSeasideFrontNo = "+14155550161"
)

// storedTokenCiphertext reads an inbox's encrypted access token straight from the
// database file.
func storedTokenCiphertext(t *testing.T, path string, inboxID int64) []byte {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var enc []byte
	if err := conn.QueryRow(`SELECT access_token_enc FROM inboxes WHERE id = ?`, inboxID).Scan(&enc); err != nil {
		t.Fatal(err)
	}
	if len(enc) < 16 {
		t.Fatalf("want a ciphertext, got %d bytes", len(enc))
	}
	return enc
}

// databaseFileContains reports whether the database file (or its write-ahead log)
// holds b.
func databaseFileContains(t *testing.T, path string, b []byte) bool {
	t.Helper()
	for _, suffix := range []string{"", "-wal"} {
		raw, err := os.ReadFile(path + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(raw, b) {
			return true
		}
	}
	return false
}

// An administrator edits an inbox (a business account the token cannot see is refused
// next to the field, then a new name is saved and logged) and removes it: its token is
// gone from the database file.
func TestBrowserEditAndRemoveInbox(t *testing.T) {
	app := startTestApp(t)
	ctx := newBrowser(t)
	browserLogin(t, ctx, app.URL, demoAdminEmail, demoAdminPassword)
	in := demoInbox(t, app, demoOrdersInbox)
	const newName = "Padaria — Orders desk"

	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+views.InboxURL(in.AccountID, in.ID)),
		chromedp.WaitVisible(css(`[data-testid="edit-form"]`)),
		chromedp.SetValue(css(`#edit-name`), newName),
		chromedp.SetValue(css(`#edit-waba_id`), demoAcmeWABA),
		chromedp.Submit(css(`[data-testid="edit-form"]`)),
		chromedp.WaitVisible(css(`[data-testid="edit-form"] [data-testid="error-waba_id"]`)),
	); err != nil {
		t.Fatalf("edit to a business account the token cannot see: %v", err)
	}
	if got := attributeOf(t, ctx, `#edit-waba_id`, "aria-invalid"); got != "true" {
		t.Errorf("the refused field must say it is invalid, got aria-invalid=%q", got)
	}
	if got := attributeOf(t, ctx, `#edit-waba_id`, "aria-describedby"); got != "edit-waba_id-error" {
		t.Errorf("the refused field must point at its problem, got aria-describedby=%q", got)
	}
	if stored, _ := app.Store.InboxByID(t.Context(), in.ID); stored.Name != in.Name || stored.WABAID != in.WABAID {
		t.Fatalf("a refused edit must change nothing, got %q %q", stored.Name, stored.WABAID)
	}

	if err := chromedp.Do(ctx,
		chromedp.SetValue(css(`#edit-waba_id`), in.WABAID),
		chromedp.Submit(css(`[data-testid="edit-form"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash"]`)),
	); err != nil {
		t.Fatalf("edit the name: %v", err)
	}
	if got := textOf(t, ctx, `[data-testid="inbox-name"]`); got != newName {
		t.Errorf("after the edit: want the new name on the page, got %q", got)
	}
	if row := textOf(t, ctx, `[data-testid="change-row"]`); !strings.Contains(row, demoAdminEmail) || !strings.Contains(row, "Name: "+in.Name+" → "+newName) {
		t.Errorf("the change log must say who changed what, got %q", row)
	}

	ciphertext := storedTokenCiphertext(t, app.Cfg.DatabasePath, in.ID)
	if !databaseFileContains(t, app.Cfg.DatabasePath, ciphertext) {
		t.Fatal("before removing: want the encrypted token found in the database file, or the check below proves nothing")
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="remove-confirm"]`)),
		chromedp.Submit(css(`[data-testid="remove-form"]`)),
		chromedp.WaitVisible(css(`[data-testid="inbox-list"]`)),
	); err != nil {
		t.Fatalf("remove the inbox: %v", err)
	}
	if flash := textOf(t, ctx, `[data-testid="flash"]`); !strings.Contains(flash, "Removed "+newName) {
		t.Errorf("after removing: want it confirmed, got %q", flash)
	}
	if list := textOf(t, ctx, `[data-testid="inbox-list"]`); strings.Contains(list, newName) {
		t.Error("the removed inbox must leave the list")
	}
	if databaseFileContains(t, app.Cfg.DatabasePath, ciphertext) {
		t.Error("the removed inbox's access token is still in the database file")
	}
}

// An administrator imports a three-number business account: the connected number is
// marked and cannot be ticked, the two others become inboxes (one renamed), and the
// token never reaches the page.
func TestBrowserImportFromABusinessAccount(t *testing.T) {
	app := startTestApp(t)
	ctx := newBrowser(t)
	browserLogin(t, ctx, app.URL, demoAdminEmail, demoAdminPassword)
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="import-inboxes"]`)),
		chromedp.WaitVisible(css(`[data-testid="import-form"]`)),
		chromedp.SendKeys(css(`#import-waba_id`), demoSeasideWABA),
		chromedp.SendKeys(css(`#import-access_token`), demoSeasideToken),
		chromedp.Submit(css(`[data-testid="import-form"]`)),
		chromedp.WaitVisible(css(`[data-testid="import-numbers"]`)),
	); err != nil {
		t.Fatalf("list the business account's numbers: %v", err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="import-row"]').length`))
	if err != nil || rows != 3 {
		t.Fatalf("want the 3 numbers of the business account, got %d (%v)", rows, err)
	}
	disabled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-phone-number-id="`+demoSeasideFront+`"] input[name="pick"]').disabled`))
	if err != nil || !disabled {
		t.Errorf("the connected number must not be tickable (%v)", err)
	}
	if html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); strings.Contains(html, demoSeasideToken) {
		t.Fatal("the token must never reach the page")
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(css(`#name-`+demoSeasidePharma), "Seaside — Pharmacy"),
		chromedp.Submit(css(`[data-testid="import-numbers-form"]`)),
		chromedp.WaitVisible(css(`[data-testid="inbox-list"]`)),
	); err != nil {
		t.Fatalf("add the ticked numbers: %v", err)
	}
	flash := textOf(t, ctx, `[data-testid="flash"]`)
	if !strings.Contains(flash, "Added 2 inboxes") || !strings.Contains(flash, "already connected to inbox Seaside Clinics — Front Desk") {
		t.Errorf("want the two new inboxes added and the connected one named as left as it is, got %q", flash)
	}
	list := textOf(t, ctx, `[data-testid="inbox-list"]`)
	for _, want := range []string{"Seaside Clinics Dental", "Seaside — Pharmacy", "+14155550162", "+14155550163"} {
		if !strings.Contains(list, want) {
			t.Errorf("the inbox list must show %q, got:\n%s", want, list)
		}
	}
	if n := strings.Count(list, demoSeasideFrontNo); n != 1 {
		t.Errorf("the connected number must stay one inbox, found %d rows", n)
	}
	app.App.Registrar.Wait()
	inboxes, err := app.Store.AllInboxes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	imported := 0
	for _, in := range inboxes {
		if in.WABAID == demoSeasideWABA && (in.PhoneNumberID == demoSeasideDental || in.PhoneNumberID == demoSeasidePharma) {
			imported++
			if in.MetaCheck != "passed" {
				t.Errorf("%s: want it checked with Meta, got %q", in.Name, in.MetaCheck)
			}
		}
	}
	if imported != 2 {
		t.Errorf("want the 2 numbers imported, got %d", imported)
	}
}
