package handlers

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// historyPoint is a stored snapshot of the past: its age and Meta's status, quality
// rating and messaging limit.
type historyPoint struct {
	age                   time.Duration
	status, quality, tier string
}

// inboxWithHistory adds an inbox created createdAgo, with one snapshot per point (the
// newest a minute old, so reading the page calls nobody).
func inboxWithHistory(t *testing.T, env *healthEnv, createdAgo time.Duration, points []historyPoint) db.Inbox {
	t.Helper()
	ctx := context.Background()
	in, err := env.store.CreateInbox(ctx, db.NewInbox{AccountID: env.admin.AccountID, Name: "History Line",
		PhoneNumber: "+15550123000", PhoneNumberID: "109999000012300", WABAID: "209999000012300", AccessToken: "EAAG-history"})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.store.BackdateInbox(ctx, in.ID, time.Now().Add(-createdAgo)); err != nil {
		t.Fatal(err)
	}
	for _, p := range points {
		phone := whatsapp.PhoneNumber{ID: in.PhoneNumberID, CodeVerificationStatus: "VERIFIED", NameStatus: "APPROVED",
			PlatformType: "CLOUD_API", Throughput: whatsapp.Throughput{Level: "STANDARD"}, Status: p.status,
			QualityRating: p.quality, BusinessMessagingLimit: p.tier,
			HealthStatus: &whatsapp.HealthStatus{CanSendMessage: "AVAILABLE"}}
		snap := db.HealthSnapshot{InboxID: in.ID, CheckedAt: time.Now().Add(-p.age), OK: true, Phone: &phone, Source: db.SourceSweep}
		snap.OverallStatus = health.OverallOf(&snap).Code
		if _, err := env.store.AddSnapshot(ctx, snap); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

const historyDay = 24 * time.Hour

var historyPoints = []historyPoint{
	{90 * historyDay, "CONNECTED", "GREEN", "TIER_1K"},
	{20 * historyDay, "CONNECTED", "YELLOW", "TIER_1K"},
	{10 * historyDay, "CONNECTED", "YELLOW", "TIER_250"},
	{3 * historyDay, "CONNECTED", "GREEN", "TIER_250"},
	{time.Minute, "CONNECTED", "GREEN", "TIER_250"},
}

// chartBars are a lane's bars: Meta's values and widths, oldest first.
func chartBars(doc *goquery.Document, lane string) (values []string, widths []float64) {
	doc.Find(`[data-testid="chart-lane"][data-lane="` + lane + `"] rect.bar`).Each(func(_ int, r *goquery.Selection) {
		v, _ := r.Attr("data-value")
		w, _ := r.Attr("width")
		f, _ := strconv.ParseFloat(w, 64)
		values = append(values, v)
		widths = append(widths, f)
	})
	return values, widths
}

// plotWidth is the width of the chart's time axis, in SVG units.
func plotWidth(t *testing.T, doc *goquery.Document) float64 {
	t.Helper()
	axis := doc.Find(`[data-testid="history-svg"] line.axis`)
	x1, _ := axis.Attr("x1")
	x2, _ := axis.Attr("x2")
	a, err1 := strconv.ParseFloat(x1, 64)
	b, err2 := strconv.ParseFloat(x2, 64)
	if err1 != nil || err2 != nil || b <= a {
		t.Fatalf("want an axis line with x1 < x2, got %q %q", x1, x2)
	}
	return b - a
}

func TestHealthChartDrawsStatusQualityAndLimitOverTheChosenRange(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "connected")
	in := inboxWithHistory(t, env, 100*historyDay, historyPoints)
	s := env.login("admin@health.test")

	_, doc, body := s.getDoc(views.InboxHealthURL(in.AccountID, in.ID))
	section := doc.Find(`section[data-testid="history-chart"]`)
	if section.Length() != 1 {
		t.Fatalf("want the history chart on the Account Health tab")
	}
	svg := section.Find(`svg[data-testid="history-svg"]`)
	if role, _ := svg.Attr("role"); role != "img" {
		t.Errorf("svg: want role=img, got %q", role)
	}
	labelledBy, _ := svg.Attr("aria-labelledby")
	for _, id := range strings.Fields(labelledBy) {
		if svg.Find("#"+id).Length() != 1 {
			t.Errorf("svg: aria-labelledby names %q, which is not in it", id)
		}
	}
	if title := svg.Find("title#history-chart-title").Text(); !strings.Contains(title, "the last 30 days") {
		t.Errorf("svg title: want the window named, got %q", title)
	}
	if desc := svg.Find("desc").Text(); !strings.Contains(desc, "Quality: Green at first, then Yellow from") {
		t.Errorf("svg description: want the quality's story in words, got %q", desc)
	}
	if section.Find("script").Length() != 0 || strings.Contains(body, "cdn") {
		t.Errorf("the chart must need no script and nothing from a CDN")
	}
	if selected := section.Find(`[data-testid="chart-range"][aria-current="true"]`).Text(); selected != "30 days" {
		t.Errorf("default range: want 30 days marked current, got %q", selected)
	}
	if n := section.Find(`[data-testid="chart-lane"]`).Length(); n != 3 {
		t.Errorf("want 3 lanes (status, quality, messaging limit), got %d", n)
	}

	plot := plotWidth(t, doc)
	near := func(what string, got, want float64) {
		if math.Abs(got-want) > 2 {
			t.Errorf("%s: want width %.1f, got %.1f", what, want, got)
		}
	}
	quality, widths := chartBars(doc, "Quality")
	if !slices.Equal(quality, []string{"GREEN", "YELLOW", "GREEN"}) {
		t.Fatalf("30 days of quality: want green, yellow, green, got %v", quality)
	}
	near("green before the drop (10 of 30 days)", widths[0], plot*10/30)
	near("yellow (17 of 30 days)", widths[1], plot*17/30)
	near("green again (3 of 30 days)", widths[2], plot*3/30)
	if limit, _ := chartBars(doc, "Messaging limit"); !slices.Equal(limit, []string{"TIER_1K", "TIER_250"}) {
		t.Errorf("30 days of messaging limit: want 1K then 250, got %v", limit)
	}
	if status, widths := chartBars(doc, "Status"); !slices.Equal(status, []string{"CONNECTED"}) {
		t.Errorf("30 days of status: want connected throughout, got %v", status)
	} else {
		near("connected throughout", widths[0], plot)
	}
	if section.Find(`[data-testid="chart-no-data"]`).Length() != 0 {
		t.Errorf("an inbox older than the window has data all along")
	}

	// The same story in words beside it: the changes in the window, newest first.
	changes := section.Find(`[data-testid="chart-change"]`)
	if changes.Length() != 3 {
		t.Fatalf("30 days: want 3 changes listed, got %d: %q", changes.Length(), changes.Text())
	}
	var previous time.Time
	changes.Each(func(i int, li *goquery.Selection) {
		at, err := time.Parse(time.RFC3339, li.Find("time").AttrOr("datetime", ""))
		if err != nil || (i > 0 && at.After(previous)) {
			t.Errorf("change %d: want a <time datetime>, newest first, got %q (%v)", i, li.Find("time").AttrOr("datetime", ""), err)
		}
		previous = at
	})
	if first := changes.First().Text(); !strings.Contains(first, "Quality") || !strings.Contains(first, "Yellow") || !strings.Contains(first, "Green") {
		t.Errorf("newest change: want quality yellow → green, got %q", first)
	}
	if start := section.Find(`[data-testid="chart-start"]`).Text(); !strings.Contains(start, "Quality Green") || !strings.Contains(start, "1,000 a day") {
		t.Errorf("values at the start: want quality green and 1,000 a day, got %q", start)
	}

	_, doc, _ = s.getDoc(views.HealthChartURL(in.AccountID, in.ID, "7d"))
	if quality, _ := chartBars(doc, "Quality"); !slices.Equal(quality, []string{"YELLOW", "GREEN"}) {
		t.Errorf("7 days of quality: want yellow then green, got %v", quality)
	}
	if n := doc.Find(`[data-testid="chart-change"]`).Length(); n != 1 {
		t.Errorf("7 days: want the one change listed, got %d", n)
	}
	if selected := doc.Find(`[data-testid="chart-range"][aria-current="true"]`).Text(); selected != "7 days" {
		t.Errorf("range=7d: want 7 days marked current, got %q", selected)
	}

	_, doc, _ = s.getDoc(views.HealthChartURL(in.AccountID, in.ID, "400d"))
	noData := doc.Find(`[data-testid="chart-no-data"]`)
	if noData.Length() != 1 {
		t.Fatalf("400 days of an inbox added 100 days ago: want the time before marked as no data")
	}
	w, _ := strconv.ParseFloat(noData.AttrOr("width", ""), 64)
	near("no data (300 of 400 days)", w, plotWidth(t, doc)*300/400)
	if quality, _ := chartBars(doc, "Quality"); !slices.Equal(quality, []string{"GREEN", "YELLOW", "GREEN"}) {
		t.Errorf("400 days of quality: want green, yellow, green, got %v", quality)
	}
	if n := doc.Find(`[data-testid="chart-change"]`).Length(); n != 3 {
		t.Errorf("400 days: want the 3 changes since the inbox was added, got %d", n)
	}

	resp, doc, _ := s.getDoc(views.InboxHealthURL(in.AccountID, in.ID) + "?range=1y")
	if resp.StatusCode != 200 || !strings.Contains(doc.Find(`[data-testid="chart-problem"]`).Text(), "no history period") {
		t.Errorf("an unknown range: want the page with the problem said, got %d %q", resp.StatusCode, doc.Find(`[data-testid="chart-problem"]`).Text())
	}
	if selected := doc.Find(`[data-testid="chart-range"][aria-current="true"]`).Text(); selected != "30 days" {
		t.Errorf("an unknown range: want 30 days shown, got %q", selected)
	}
}

func TestHealthChartSaysWhenThereIsNothingToDraw(t *testing.T) {
	t.Parallel()
	env := newHealthEnv(t, "token_expired")
	in := env.inbox(inboxTokenGone) // Meta refuses its token: never a good answer
	s := env.login("admin@health.test")
	_, doc, _ := s.getDoc(views.InboxHealthURL(in.AccountID, in.ID))
	if doc.Find(`[data-testid="chart-empty"]`).Length() != 1 || doc.Find("svg").Length() != 0 {
		t.Errorf("a number never read: want the chart to say there is nothing yet, and no SVG")
	}
}
