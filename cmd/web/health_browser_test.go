package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/inboxhealth/inboxhealth/internal/views"
)

func TestBrowserAccountHealthTab(t *testing.T) {
	app := startTestApp(t)
	ctx := newBrowser(t)
	browserLogin(t, ctx, app.URL, demoAdminEmail, demoAdminPassword)

	connected := demoInbox(t, app, "Padaria Central — Support")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+views.InboxHealthURL(connected.AccountID, connected.ID)),
		chromedp.WaitVisible(css(`#health-panel [data-testid="health-badges"]`)),
	); err != nil {
		t.Fatalf("open the connected number's health tab: %v", err)
	}
	for _, field := range []string{"status", "can_send_message", "name_status", "platform_type", "quality_rating"} {
		sel := `[data-testid="badge-` + field + `"]`
		if tone := attributeOf(t, ctx, sel, "data-tone"); tone != "green" {
			t.Errorf("connected number, badge %s: want green, got %q (%q)", field, tone, textOf(t, ctx, sel))
		}
	}

	blocked := demoInbox(t, app, "Quick Loans Desk")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+views.InboxHealthURL(blocked.AccountID, blocked.ID)),
		chromedp.WaitVisible(css(`[data-testid="health-entity"]`)),
	); err != nil {
		t.Fatalf("open the blocked number's health tab: %v", err)
	}
	for field, want := range map[string]string{"can_send_message": "red", "quality_rating": "red", "status": "amber"} {
		if tone := attributeOf(t, ctx, `[data-testid="badge-`+field+`"]`, "data-tone"); tone != want {
			t.Errorf("blocked number, badge %s: want %s, got %q", field, want, tone)
		}
	}
	// The stylesheet colours by data-tone: the red badge is drawn in the red tone
	// (--red-bg #fde6e6, --red #a31d1d), not only marked red.
	colours, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`(() => { const s = getComputedStyle(document.querySelector('[data-testid="badge-can_send_message"]')); return [s.backgroundColor, s.color]; })()`))
	if err != nil {
		t.Fatalf("read the red badge's colours: %v", err)
	}
	if len(colours) != 2 || colours[0] != "rgb(253, 230, 230)" || colours[1] != "rgb(163, 29, 29)" {
		t.Errorf("blocked number, can_send_message badge: want red background and text from the stylesheet, got %q", colours)
	}
	if reasons := textOf(t, ctx, `[data-testid="health-entities"]`); !strings.Contains(reasons, "payment method") {
		t.Errorf("blocked number: want Meta's payment-method reason listed, got %q", reasons)
	}

	// Refresh swaps the panel in place (htmx): the marker set on this page survives,
	// and the checked time moves on.
	before := attributeOf(t, ctx, `[data-testid="checked-at"]`, "data-checked-at")
	beforeTitle := attributeOf(t, ctx, `[data-testid="checked-at"]`, "title")
	time.Sleep(1100 * time.Millisecond) // the exact time shown has seconds
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.stillThisPage = true`),
		chromedp.Click(css(`[data-testid="refresh-health"]`)),
	); err != nil {
		t.Fatalf("click Refresh: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`document.querySelector('[data-testid="checked-at"]').dataset.checkedAt !== `+jsString(before),
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("after Refresh the checked time must change from %s: %v", before, err)
	}
	if after := attributeOf(t, ctx, `[data-testid="checked-at"]`, "title"); after == beforeTitle {
		t.Errorf("the exact time in the title must change, still %q", after)
	}
	if text := textOf(t, ctx, `[data-testid="checked-at"]`); !strings.Contains(text, "Checked just now") {
		t.Errorf("checked-at: want %q, got %q", "Checked just now", text)
	}
	still, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.stillThisPage === true`))
	if err != nil || !still {
		t.Errorf("Refresh must swap the panel without reloading the page (err %v)", err)
	}
	if reasons := textOf(t, ctx, `[data-testid="health-entities"]`); !strings.Contains(reasons, "payment method") {
		t.Errorf("after Refresh: want the reasons still listed, got %q", reasons)
	}
}

func jsString(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }
