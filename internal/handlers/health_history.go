package handlers

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// chartRanges are the windows the history chart offers (?range=), the longest being
// the change history's retention.
var chartRanges = []struct {
	Name, Label, Window string
	Days                int
}{
	{"7d", "7 days", "the last 7 days", 7},
	{"30d", "30 days", "the last 30 days", 30},
	{"400d", "400 days", "the last 400 days", int(db.HealthChangeRetention / (24 * time.Hour))},
}

const (
	defaultChartRange = "30d"
	// chartChangesRead bounds the changes read for the chart (the newest first): an
	// inbox whose values flapped more often than that in 400 days is drawn from the
	// oldest change read, and the chart says older changes are left out. The same read
	// answers the "Recent changes" list (through the store's cache).
	chartChangesRead = 500
)

// historyChart builds the Account Health tab's chart from the change history and the
// newest snapshot.
func (h *Handler) historyChart(c echo.Context, in db.Inbox, snap *db.HealthSnapshot) (views.HistoryChart, error) {
	out := views.HistoryChart{Now: h.now()}
	name := c.QueryParam("range")
	if name == "" {
		name = defaultChartRange
	}
	selected := chartRangeIndex(name)
	if selected < 0 {
		if r := []rune(name); len(r) > 20 {
			name = string(r[:20]) + "…"
		}
		out.Problem = "There is no history period “" + name + "”; showing the last 30 days. Pick 7, 30 or 400 days."
		selected = chartRangeIndex(defaultChartRange)
	}
	for i, r := range chartRanges {
		out.Ranges = append(out.Ranges, views.ChartRange{Label: r.Label, URL: views.HealthChartURL(in.AccountID, in.ID, r.Name), Selected: i == selected})
	}
	r := chartRanges[selected]
	out.Window = r.Window
	changes, err := h.store.HealthChanges(c.Request().Context(), in.ID, chartChangesRead)
	if err != nil {
		return out, err
	}
	until := h.now()
	hist, ok := health.BuildHistory(changes, len(changes) < chartChangesRead, snap, in.CreatedAt, until.AddDate(0, 0, -r.Days), until)
	if !ok {
		out.Empty = true
		return out, nil
	}
	out.Since, out.Until, out.KnownFrom, out.Partial = hist.Since, hist.Until, hist.KnownFrom, hist.Partial
	for _, lane := range hist.Lanes {
		field := historyFields[lane.Field]
		vl := views.ChartLane{Label: whatsapp.FieldBadge(field, "").Label}
		for _, p := range lane.Periods {
			vl.Periods = append(vl.Periods, views.ChartPeriod{From: p.From, To: p.To, Badge: viewBadge(whatsapp.FieldBadge(field, p.Value))})
		}
		out.Lanes = append(out.Lanes, vl)
	}
	for _, ch := range hist.Changes {
		field := historyFields[ch.Field]
		from, to := whatsapp.FieldBadge(field, ch.From), whatsapp.FieldBadge(field, ch.To)
		out.Changes = append(out.Changes, views.ChartChange{At: ch.At, Label: to.Label, From: viewBadge(from), To: viewBadge(to)})
	}
	return out, nil
}

// chartRangeIndex finds a chart range by its name; -1 when there is none.
func chartRangeIndex(name string) int {
	for i, r := range chartRanges {
		if r.Name == name {
			return i
		}
	}
	return -1
}
