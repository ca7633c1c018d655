package views

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

func renderDoc(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// badgesOf converts the domain badges the way the handlers do.
func badgesOf(p whatsapp.PhoneNumber) []HealthBadge {
	var out []HealthBadge
	for _, b := range whatsapp.HealthBadges(p) {
		out = append(out, HealthBadge{Field: b.Field, Label: b.Label, Value: b.Value, Text: b.Text, Tone: string(b.Tone), Tooltip: b.Tooltip})
	}
	return out
}

func TestHealthPanelBadgesCarryToneTextAndTooltip(t *testing.T) {
	phone := whatsapp.PhoneNumber{Status: "CONNECTED", QualityRating: "RED", NameStatus: "PENDING_REVIEW",
		CodeVerificationStatus: "VERIFIED", PlatformType: "CLOUD_API", Throughput: whatsapp.Throughput{Level: "STANDARD"},
		AccountMode: "SOMETHING_NEW_FROM_META", BusinessMessagingLimit: "TIER_1K",
		HealthStatus: &whatsapp.HealthStatus{CanSendMessage: "LIMITED"}}
	doc := renderDoc(t, HealthPanelView(HealthPanel{Checked: true, HasData: true, CheckedAgo: "3 minutes ago",
		CheckedAtExact: "2026-03-02 09:00:00 UTC", Badges: badgesOf(phone)}))

	want := map[string][2]string{
		"status":                   {"green", "Connected"},
		"quality_rating":           {"red", "Red"},
		"name_status":              {"amber", "In review"},
		"code_verification_status": {"green", "Verified"},
		"can_send_message":         {"amber", "Limited"},
		"account_mode":             {"grey", "SOMETHING_NEW_FROM_META"}, // unknown: grey, raw text
	}
	for field, w := range want {
		b := doc.Find(`[data-testid="badge-` + field + `"]`)
		if b.Length() != 1 {
			t.Errorf("badge %s: want one, got %d", field, b.Length())
			continue
		}
		tone, _ := b.Attr("data-tone")
		title, _ := b.Attr("title")
		if tone != w[0] {
			t.Errorf("badge %s: want tone %s in data-tone (the stylesheet colours by it), got %q", field, w[0], tone)
		}
		if field != "name_status" && strings.TrimSpace(b.Text()) != w[1] {
			t.Errorf("badge %s: want text %q, got %q", field, w[1], strings.TrimSpace(b.Text()))
		}
		if title == "" {
			t.Errorf("badge %s: want a tooltip in the title", field)
		}
	}
	cell := doc.Find(`[data-testid="badge-quality_rating"]`).Closest(".health-badge")
	if _, focusable := cell.Attr("tabindex"); focusable {
		t.Error("badge cell: a tile opens nothing, so it must not be a tab stop")
	}
	if tip := cell.Find(`.tip`).Text(); !strings.Contains(tip, "Low quality") {
		t.Errorf("badge cell: want the explanation printed in the tile (no hover needed), got %q", tip)
	}
	if title, _ := doc.Find(`[data-testid="checked-at"]`).Attr("title"); title != "2026-03-02 09:00:00 UTC" {
		t.Errorf("checked-at: want the exact time in the title, got %q", title)
	}
}

func TestHealthPanelNeverCheckedOffersRefresh(t *testing.T) {
	doc := renderDoc(t, HealthPanelView(HealthPanel{RefreshURL: "/accounts/1/inboxes/2/health/refresh"}))
	if !strings.Contains(doc.Find(`[data-testid="checked-at"]`).Text(), "Not checked yet") {
		t.Errorf("want %q, got %q", "Not checked yet", doc.Find(`[data-testid="checked-at"]`).Text())
	}
	btn := doc.Find(`[data-testid="refresh-health"]`)
	for attr, want := range map[string]string{"hx-post": "/accounts/1/inboxes/2/health/refresh", "hx-target": "#health-panel",
		"hx-swap": "outerHTML", "hx-disabled-elt": "this", "type": "submit"} {
		if got, _ := btn.Attr(attr); got != want {
			t.Errorf("refresh button %s: want %q, got %q", attr, want, got)
		}
	}
	form := btn.Closest("form")
	if method, _ := form.Attr("method"); method != "post" || form.Find(`input[name="_csrf"]`).Length() != 1 {
		t.Errorf("refresh: want a plain POST form with the CSRF field, so it works without JavaScript")
	}
	if doc.Find(".spinner").Length() != 1 {
		t.Errorf("refresh: want a spinner")
	}
}

func TestHealthPanelStaleShowsTheProblemAndEntities(t *testing.T) {
	doc := renderDoc(t, HealthPanelView(HealthPanel{Checked: true, HasData: true, Stale: true,
		Problem: &HealthProblem{Title: "Meta could not be reached", Message: "Meta's service did not answer properly.", Remedy: "Nothing to do."},
		Entities: []HealthEntity{{Type: "WABA", ID: "2001", Title: "WhatsApp Business Account 2001", Verdict: HealthBadge{Tone: "red", Text: "Blocked"},
			Reasons: []HealthReason{{Code: 141006, Description: "There is an error with the payment method.", Solution: "Add a valid payment method."}},
			Info:    []string{"Contact support."}}}}))
	warning := doc.Find(`[data-testid="stale-warning"]`).Text()
	if !strings.Contains(warning, "Meta could not be reached") || !strings.Contains(warning, "last data") {
		t.Errorf("stale warning: want what failed and that the data is old, got %q", warning)
	}
	entity := doc.Find(`[data-testid="health-entity"]`).Text()
	for _, want := range []string{"WhatsApp Business Account 2001", "payment method", "What to do: Add a valid payment method.", "141006", "Contact support."} {
		if !strings.Contains(entity, want) {
			t.Errorf("entity: want %q in %q", want, entity)
		}
	}
}

// TestMetaWordsSitBehindTechnicalDetails: the plain reason leads; Meta's own words and
// codes are in a "Technical details" disclosure, in the banner, the attempts, the
// panel and the Settings tab's webhook line alike.
func TestMetaWordsSitBehindTechnicalDetails(t *testing.T) {
	doc := renderDoc(t, RegistrationBannerView(RegistrationBanner{Title: "Meta reported an error we do not recognise",
		Message: "Meta's own words about it are shown below.", Technical: "Meta error 131056: (#131056) zebra", Tone: "red"}))
	details := doc.Find(`details.technical[data-testid="registration-technical"]`)
	if details.Find("summary").Text() != "Technical details" || !strings.Contains(details.Text(), "zebra") {
		t.Errorf("banner: want Meta's words behind Technical details, got %q", details.Text())
	}
	if strings.Contains(doc.Find(`[data-testid="registration-message"]`).Text(), "zebra") {
		t.Error("banner: Meta's words must not lead")
	}
	doc = renderDoc(t, RegistrationAttempts([]RegistrationAttemptRow{{Reason: "The display name is not approved yet", Detail: "Meta error 100/2388001: zebra"}}))
	if !strings.Contains(doc.Find(`details.technical[data-testid="attempt-technical"]`).Text(), "zebra") {
		t.Error("attempts: want Meta's words behind Technical details")
	}
	doc = renderDoc(t, SettingsTab(InboxSettings{WebhookSubscriptionError: "Meta refused to subscribe the app." + technicalSeparator + "graph API error (HTTP 400): zebra"}))
	sub := doc.Find(`[data-testid="webhook-subscription"]`)
	if !strings.Contains(sub.Find(`details.technical`).Text(), "zebra") || strings.Contains(sub.Clone().Find("details").Remove().End().Text(), "zebra") {
		t.Errorf("settings: want Meta's words only behind Technical details, got %q", sub.Text())
	}
}

// TestInboxTabsAreATablist: the tabs are a tablist whose current tab says
// aria-selected="true" (the others "false") and controls the tab panel.
func TestInboxTabsAreATablist(t *testing.T) {
	doc := renderDoc(t, InboxPage(InboxHeader{ID: 2, AccountID: 1, Name: "Acme"}, TabHealth, nil, templ.NopComponent))
	if doc.Find(`[role="tablist"] [role="tab"]`).Length() != 2 {
		t.Fatal("want two tabs in a tablist")
	}
	if v, _ := doc.Find(`[data-testid="tab-health"]`).Attr("aria-selected"); v != "true" {
		t.Errorf("current tab: want aria-selected true, got %q", v)
	}
	if v, _ := doc.Find(`[data-testid="tab-settings"]`).Attr("aria-selected"); v != "false" {
		t.Errorf("other tab: want aria-selected false, got %q", v)
	}
	if by, _ := doc.Find(`[role="tabpanel"]`).Attr("aria-labelledby"); by != "tab-health" {
		t.Errorf("the panel must be labelled by the current tab, got %q", by)
	}
	if doc.Find(`#live-poller[hx-trigger="live-poll"]`).Length() != 1 || doc.Find(`#live-status[hidden]`).Length() != 1 {
		t.Error("an inbox page carries the live poller and its (hidden) status line")
	}
}
