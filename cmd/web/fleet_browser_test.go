package main

import (
	"context"
	"encoding/csv"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/inboxhealth/inboxhealth/internal/views"
)

// rowNames reads the inbox list's names, in order.
func rowNames(t *testing.T, ctx context.Context) []string {
	t.Helper()
	names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-testid="inbox-row"] td:first-child')].map(td => td.textContent.trim())`))
	if err != nil {
		t.Fatalf("read the list's rows: %v", err)
	}
	return names
}

// rowStatuses reads the overall status of each row, in order.
func rowStatuses(t *testing.T, ctx context.Context) []string {
	t.Helper()
	statuses, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-testid="inbox-row"]')].map(tr => tr.dataset.status)`))
	if err != nil {
		t.Fatalf("read the list's statuses: %v", err)
	}
	return statuses
}

// TestBrowserFleetAtAGlance: the inbox list filters, searches, sorts and exports, and
// the Account Health tab's history chart renders (one app and one browser for both).
func TestBrowserFleetAtAGlance(t *testing.T) {
	app := startTestApp(t)
	ctx := newBrowser(t)
	browserLogin(t, ctx, app.URL, demoAdminEmail, demoAdminPassword)
	admin := demoInbox(t, app, "Quick Loans Desk")
	list := app.URL + views.InboxesURL(admin.AccountID)
	if err := chromedp.Do(ctx, chromedp.Navigate(list), chromedp.WaitVisible(css(`[data-testid="inbox-list"]`))); err != nil {
		t.Fatalf("open the inbox list: %v", err)
	}
	all := rowNames(t, ctx)
	if statuses := rowStatuses(t, ctx); len(statuses) < 10 || statuses[0] != "token_expired" || statuses[len(statuses)-1] != "connected" {
		t.Errorf("default order: want the token problem first and the connected number last, got %v", statuses)
	}

	// A count is a link that filters.
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="status-count"][data-status="blocked"]`)),
		chromedp.WaitVisible(css(`[data-testid="status-count"][data-status="blocked"][aria-current]`)),
	); err != nil {
		t.Fatalf("click the Blocked count: %v", err)
	}
	blocked := rowStatuses(t, ctx)
	count := textOf(t, ctx, `[data-testid="status-count"][data-status="blocked"] .count`)
	if len(blocked) == 0 || count != strconv.Itoa(len(blocked)) || slices.ContainsFunc(blocked, func(s string) bool { return s != "blocked" }) {
		t.Errorf("after clicking Blocked (%s): want only blocked rows, as many as counted, got %v", count, blocked)
	}

	// The status filter does not navigate while a keyboard user moves through it; the
	// Apply button does.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(list),
		chromedp.WaitVisible(css(`[data-testid="inbox-list"]`)),
		chromedp.Evaluate[chromedp.Void](`window.stillThisPage = true`),
		chromedp.Focus(css(`[data-testid="list-status"]`)),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.Sleep(500*time.Millisecond),
	); err != nil {
		t.Fatalf("arrow through the status filter: %v", err)
	}
	moved, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="list-status"]').value`))
	if err != nil || moved == "" {
		t.Errorf("ArrowDown must move the selection (to check the keys arrived), got %q (%v)", moved, err)
	}
	if still, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.stillThisPage === true && !location.search`)); err != nil || !still {
		t.Errorf("ArrowDown in the status filter must not load another page (err %v)", err)
	}
	if err := chromedp.Do(ctx,
		setField(`[data-testid="list-status"]`, "token_expired"),
		chromedp.Click(css(`[data-testid="list-apply"]`)),
		chromedp.WaitVisible(css(`[data-testid="status-count"][data-status="token_expired"][aria-current]`)),
	); err != nil {
		t.Fatalf("apply the status filter: %v", err)
	}
	if names := rowNames(t, ctx); !slices.Equal(names, []string{"Lumen Optics"}) {
		t.Errorf("Only: Token expired: want Lumen Optics, got %v", names)
	}

	// Search by name, then by number.
	if err := chromedp.Do(ctx,
		setField(`[data-testid="list-status"]`, ""),
		chromedp.SendKeys(css(`[data-testid="list-search"]`), "padaria"),
		chromedp.Submit(css(`form[data-testid="inbox-filter"]`)),
	); err != nil {
		t.Fatalf("search by name: %v", err)
	}
	waitForPage(t, ctx, `new URLSearchParams(location.search).get("q") === "padaria" && !!document.querySelector('[data-testid="list-range"]')`)
	if names := rowNames(t, ctx); len(names) != 2 || !strings.HasPrefix(names[0], "Padaria") || !strings.HasPrefix(names[1], "Padaria") {
		t.Errorf("search padaria: want the two Padaria inboxes, got %v", names)
	}
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(css(`[data-testid="list-search"]`)),
		setField(`[data-testid="list-search"]`, "+1 617 555"),
		chromedp.Click(css(`[data-testid="list-apply"]`)),
	); err != nil {
		t.Fatalf("search by number: %v", err)
	}
	waitForPage(t, ctx, `new URLSearchParams(location.search).get("q") === "+1 617 555" && !!document.querySelector('[data-testid="list-range"]')`)
	if names := rowNames(t, ctx); !slices.Equal(names, []string{"Quick Loans Desk"}) {
		t.Errorf("search +1 617 555: want Quick Loans Desk, got %v", names)
	}

	// Sort by name.
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(css(`[data-testid="list-sort"]`)),
		setField(`[data-testid="list-search"]`, ""),
		setField(`[data-testid="list-sort"]`, "name"),
		chromedp.Click(css(`[data-testid="list-apply"]`)),
	); err != nil {
		t.Fatalf("sort by name: %v", err)
	}
	waitForPage(t, ctx, `new URLSearchParams(location.search).get("sort") === "name" && !!document.querySelector('[data-testid="inbox-list"]')`)
	byName := rowNames(t, ctx)
	if len(byName) != len(all) || !slices.IsSortedFunc(byName, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }) {
		t.Errorf("sort by name: want all %d inboxes by name, got %v", len(all), byName)
	}

	// Export what is shown: the same inboxes, in the same order, as CSV.
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="status-count"][data-status="attention"]`)),
		chromedp.WaitVisible(css(`[data-testid="status-count"][data-status="attention"][aria-current]`)),
	); err != nil {
		t.Fatalf("show those needing attention: %v", err)
	}
	shown := rowNames(t, ctx)
	csvText, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`fetch(document.querySelector('[data-testid="export-csv"]').href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetch the export: %v", err)
	}
	records, err := csv.NewReader(strings.NewReader(csvText)).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, csvText)
	}
	var exported []string
	for _, r := range records[1:] {
		exported = append(exported, r[0])
	}
	if records[0][0] != "name" || !slices.Equal(exported, shown) {
		t.Errorf("export of the view: want the %d inboxes shown, in order, got %v", len(shown), exported)
	}
	healthHistoryChartRenders(t, ctx, app)
}

// healthHistoryChartRenders opens a demo number's history chart (the browser is logged
// in as the administrator).
func healthHistoryChartRenders(t *testing.T, ctx context.Context, app *testApp) {
	t.Helper()
	in := demoInbox(t, app, "Padaria Central — Support") // the demo gives it 390 days of history
	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+views.InboxHealthURL(in.AccountID, in.ID)),
		chromedp.WaitVisible(css(`svg[data-testid="history-svg"]`)),
		chromedp.Click(css(`[data-testid="chart-range"][href*="range=400d"]`)),
	); err != nil {
		t.Fatalf("open the health tab's 400-day history: %v", err)
	}
	waitForPage(t, ctx, `new URLSearchParams(location.search).get("range") === "400d" && !!document.querySelector('svg[data-testid="history-svg"]')`)
	if selected := textOf(t, ctx, `[data-testid="chart-range"][aria-current="true"]`); selected != "400 days" {
		t.Errorf("want 400 days marked current, got %q", selected)
	}
	// Drawn: the SVG has a size on the page, and its bars show the quality dip and the
	// limit rising as coloured shapes.
	drawn, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
		const svg = document.querySelector('svg[data-testid="history-svg"]');
		const box = svg.getBoundingClientRect();
		const lane = name => [...svg.querySelectorAll('[data-lane="' + name + '"] rect.bar')];
		const quality = lane('Quality');
		const yellow = quality.find(r => r.dataset.value === 'YELLOW');
		return {
			width: box.width, height: box.height,
			quality: quality.map(r => r.dataset.value).join(','),
			limit: lane('Messaging limit').map(r => r.dataset.value).join(','),
			yellowWidth: yellow ? yellow.getBoundingClientRect().width : 0,
			yellowFill: yellow ? getComputedStyle(yellow).fill : '',
			label: svg.getAttribute('role') + ' / ' + document.getElementById('history-chart-title').textContent,
		};
	})()`))
	if err != nil {
		t.Fatalf("measure the chart: %v", err)
	}
	if w, _ := drawn["width"].(float64); w < 300 {
		t.Errorf("chart: want it drawn at least 300 px wide, got %v", drawn["width"])
	}
	if drawn["quality"] != "GREEN,YELLOW,GREEN" || drawn["limit"] != "TIER_250,TIER_1K,TIER_2K" {
		t.Errorf("400 days: want quality green, yellow, green and the limit 250 → 1K → 2K, got %v / %v", drawn["quality"], drawn["limit"])
	}
	if w, _ := drawn["yellowWidth"].(float64); w <= 0 {
		t.Errorf("the 8-day yellow stretch must be visible, got width %v", drawn["yellowWidth"])
	}
	if fill, _ := drawn["yellowFill"].(string); fill == "" || fill == "rgb(0, 0, 0)" || fill == "none" {
		t.Errorf("the yellow stretch must be filled with the amber tone, got %q", fill)
	}
	if label, _ := drawn["label"].(string); !strings.HasPrefix(label, "img / ") || !strings.Contains(label, "400 days") {
		t.Errorf("chart: want role img with a title naming the window, got %q", label)
	}
	if changes := textOf(t, ctx, `[data-testid="chart-changes"]`); !strings.Contains(changes, "Messaging limit") || !strings.Contains(changes, "2,000 a day") {
		t.Errorf("the changes beside the chart: want the limit rising to 2,000 a day listed, got %q", changes)
	}
}

// waitForPage checks a JavaScript condition on the page every 100 ms for up to 10 s; a
// check that fails because the page is navigating counts as not yet.
func waitForPage(t *testing.T, ctx context.Context, condition string) {
	t.Helper()
	var lastErr error
	for range 100 {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && (`+condition+`)`))
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waited 10 s for %s (last error: %v)", condition, lastErr)
}

// setField sets a form field's value on the page as it is now (chromedp's SetValue can
// hold on to a node of the page before the last form submission).
func setField(selector, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`(() => { const el = document.querySelector(` + jsString(selector) + `);
		el.value = ` + jsString(value) + `; if (el.value !== ` + jsString(value) + `) throw new Error("no option " + ` + jsString(value) + `); })()`)
}
