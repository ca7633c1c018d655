package views

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The Account Health tab's history chart, drawn on the server as inline SVG: one lane
// per field (status, quality, messaging limit), one coloured bar per stretch of time a
// value held, an axis of dates under them. No script and no chart library; the change
// list beside it says the same in words.

// ChartRange is one choice of the chart's time window.
type ChartRange struct {
	Label    string // "30 days"
	URL      string
	Selected bool
}

// ChartPeriod is a stretch of time during which a field had one value.
type ChartPeriod struct {
	From, To time.Time
	Badge    HealthBadge // the value, worded and toned as everywhere else
}

// ChartLane is one field's periods, oldest first.
type ChartLane struct {
	Label   string // "Quality"
	Periods []ChartPeriod
}

// ChartChange is one change in the window, for the list beside the chart.
type ChartChange struct {
	At       time.Time
	Label    string // "Quality"
	From, To HealthBadge
}

// HistoryChart is the chart section of the Account Health tab.
type HistoryChart struct {
	Ranges []ChartRange
	// Window is the selected range in words ("the last 30 days").
	Window string
	// Problem says why the range asked for was not used ("" when it was).
	Problem string
	// Empty is set when there is nothing to draw (the number was never checked).
	Empty        bool
	Since, Until time.Time
	// KnownFrom is where the data starts (after Since for a younger inbox, or when
	// older changes were left out: Partial).
	KnownFrom time.Time
	Partial   bool
	Lanes     []ChartLane
	Changes   []ChartChange // newest first
	Now       time.Time
}

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartWidth      = 720.0
	chartLabelWidth = 118.0
	chartRightPad   = 10.0
	chartTop        = 6.0
	chartLaneHeight = 26.0
	chartLaneGap    = 10.0
	chartAxisHeight = 26.0
	// chartCharWidth estimates the width of one character of the 12-unit label font,
	// to write a value inside its bar only when it fits.
	chartCharWidth = 6.8
	// chartMinBar keeps a stretch shorter than a pixel visible.
	chartMinBar = 1.5
	// maxListedChanges bounds the change list beside the chart.
	maxListedChanges = 100
)

type svgBar struct {
	X, W     float64
	Tone     string
	Text     string // written inside the bar when it fits, else ""
	TextX    float64
	Title    string // tooltip
	Value    string
	Datetime string
}

type svgLane struct {
	Label string
	Y     float64
	TextY float64
	Bars  []svgBar
}

type svgTick struct {
	X     float64
	Label string
}

// svgChart is the chart's drawing, computed from a HistoryChart.
type svgChart struct {
	Height     float64
	ViewBox    string
	Lanes      []svgLane
	Ticks      []svgTick
	AxisY      float64
	TickTextY  float64
	NoData     *svgBar // the stretch before the data starts
	PlotBottom float64
}

func (c HistoryChart) x(t time.Time) float64 {
	span := c.Until.Sub(c.Since)
	plot := chartWidth - chartLabelWidth - chartRightPad
	if span <= 0 {
		return chartLabelWidth
	}
	f := float64(t.Sub(c.Since)) / float64(span)
	f = min(max(f, 0), 1)
	return chartLabelWidth + f*plot
}

// drawing lays the chart out.
func (c HistoryChart) drawing() svgChart {
	var d svgChart
	y := chartTop
	for _, lane := range c.Lanes {
		l := svgLane{Label: lane.Label, Y: y, TextY: y + chartLaneHeight/2 + 4}
		for _, p := range lane.Periods {
			x0, x1 := c.x(p.From), c.x(p.To)
			w := max(x1-x0, chartMinBar)
			bar := svgBar{X: round1(x0), W: round1(w), Tone: p.Badge.Tone, Value: p.Badge.Value,
				Title:    fmt.Sprintf("%s: %s, %s – %s", lane.Label, p.Badge.Text, chartTime(p.From), chartTime(p.To)),
				Datetime: p.From.UTC().Format(time.RFC3339)}
			if float64(len([]rune(p.Badge.Text)))*chartCharWidth+8 <= w {
				bar.Text, bar.TextX = p.Badge.Text, round1(x0+w/2)
			}
			l.Bars = append(l.Bars, bar)
		}
		d.Lanes = append(d.Lanes, l)
		y += chartLaneHeight + chartLaneGap
	}
	d.PlotBottom = y - chartLaneGap
	if c.KnownFrom.After(c.Since) {
		x1 := c.x(c.KnownFrom)
		if w := x1 - chartLabelWidth; w >= chartMinBar {
			nd := &svgBar{X: chartLabelWidth, W: round1(w), Title: "No data before " + chartTime(c.KnownFrom)}
			if 7*chartCharWidth+8 <= w {
				nd.Text, nd.TextX = "No data", round1(chartLabelWidth+w/2)
			}
			d.NoData = nd
		}
	}
	d.AxisY = d.PlotBottom + 4
	d.TickTextY = d.AxisY + 16
	d.Height = d.AxisY + chartAxisHeight
	d.ViewBox = fmt.Sprintf("0 0 %g %g", chartWidth, d.Height)
	for _, t := range c.ticks() {
		d.Ticks = append(d.Ticks, svgTick{X: round1(c.x(t)), Label: tickLabel(t, c.Until.Sub(c.Since))})
	}
	return d
}

// ticks are the dates marked on the axis: every day for a week, every Monday for a
// month, the first of every month for longer windows (UTC).
func (c HistoryChart) ticks() []time.Time {
	span := c.Until.Sub(c.Since)
	since := c.Since.UTC()
	var t time.Time
	var next func(time.Time) time.Time
	switch {
	case span <= 8*24*time.Hour:
		t = time.Date(since.Year(), since.Month(), since.Day()+1, 0, 0, 0, 0, time.UTC)
		next = func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }
	case span <= 62*24*time.Hour:
		t = time.Date(since.Year(), since.Month(), since.Day()+1, 0, 0, 0, 0, time.UTC)
		for t.Weekday() != time.Monday {
			t = t.AddDate(0, 0, 1)
		}
		next = func(t time.Time) time.Time { return t.AddDate(0, 0, 7) }
	default:
		t = time.Date(since.Year(), since.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		next = func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
	}
	var out []time.Time
	for ; t.Before(c.Until) && len(out) < 40; t = next(t) {
		out = append(out, t)
	}
	return out
}

func tickLabel(t time.Time, span time.Duration) string {
	switch {
	case span > 62*24*time.Hour && t.Month() == time.January:
		return t.Format("2006") // the year, where it begins
	case span > 62*24*time.Hour:
		return t.Format("Jan")
	}
	return t.Format("2 Jan")
}

func chartTime(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

func round1(f float64) float64 { return float64(int(f*10+0.5)) / 10 }

// svgNum writes a coordinate as fmt.Sprint would, without fmt's reflection: a chart
// has a few hundred of them.
func svgNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// Summary says in one paragraph what the chart shows, for its accessible description.
func (c HistoryChart) Summary() string {
	parts := []string{"Over " + c.Window + "."}
	if c.KnownFrom.After(c.Since) {
		parts = append(parts, "Data from "+chartTime(c.KnownFrom)+".")
	}
	for _, lane := range c.Lanes {
		switch n := len(lane.Periods); {
		case n == 0:
		case n == 1:
			parts = append(parts, lane.Label+": "+lane.Periods[0].Badge.Text+" throughout.")
		case n <= 6:
			words := []string{lane.Periods[0].Badge.Text + " at first"}
			for _, p := range lane.Periods[1:] {
				words = append(words, p.Badge.Text+" from "+p.From.UTC().Format("2 Jan 15:04"))
			}
			parts = append(parts, lane.Label+": "+strings.Join(words, ", then ")+".")
		default:
			words := []string{}
			for _, p := range lane.Periods[n-5:] {
				words = append(words, p.Badge.Text+" from "+p.From.UTC().Format("2 Jan 15:04"))
			}
			parts = append(parts, fmt.Sprintf("%s: %d changes; the last five: %s.", lane.Label, n-1, strings.Join(words, ", then ")))
		}
	}
	return strings.Join(parts, " ")
}

// listedChanges are the changes the list beside the chart shows, and how many more
// there are.
func (c HistoryChart) listedChanges() ([]ChartChange, int) {
	if len(c.Changes) <= maxListedChanges {
		return c.Changes, 0
	}
	return c.Changes[:maxListedChanges], len(c.Changes) - maxListedChanges
}

// HealthChartURL is the Account Health tab showing the history over a range.
func HealthChartURL(accountID, inboxID int64, rangeName string) string {
	return InboxHealthURL(accountID, inboxID) + "?range=" + rangeName + "#history-chart"
}
