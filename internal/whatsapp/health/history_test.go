package health

import (
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

func TestBuildHistoryRebuildsPeriodsFromChanges(t *testing.T) {
	now := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	snap := &db.HealthSnapshot{OK: true, Phone: &whatsapp.PhoneNumber{Status: "FLAGGED", QualityRating: "RED", BusinessMessagingLimit: "TIER_250"}}
	changes := []db.HealthChange{ // newest first, as the store lists them
		{At: now.Add(-2 * day), Field: "limit_tier", From: "TIER_1K", To: "TIER_250"},
		{At: now.Add(-5 * day), Field: "quality_rating", From: "YELLOW", To: "RED"},
		{At: now.Add(-5 * day), Field: "status", From: "CONNECTED", To: "FLAGGED"},
		{At: now.Add(-6 * day), Field: "name_status", From: "PENDING_REVIEW", To: "APPROVED"},
		{At: now.Add(-20 * day), Field: "quality_rating", From: "GREEN", To: "YELLOW"},
	}
	since := now.Add(-30 * day)
	h, ok := BuildHistory(changes, true, snap, now.Add(-400*day), since, now)
	if !ok || !h.KnownFrom.Equal(since) || h.Partial {
		t.Fatalf("want data over the whole window, got ok=%v known from %v partial %v", ok, h.KnownFrom, h.Partial)
	}
	want := map[string][]HistoryPeriod{
		"status":         {{since, now.Add(-5 * day), "CONNECTED"}, {now.Add(-5 * day), now, "FLAGGED"}},
		"quality_rating": {{since, now.Add(-20 * day), "GREEN"}, {now.Add(-20 * day), now.Add(-5 * day), "YELLOW"}, {now.Add(-5 * day), now, "RED"}},
		"limit_tier":     {{since, now.Add(-2 * day), "TIER_1K"}, {now.Add(-2 * day), now, "TIER_250"}},
	}
	for _, lane := range h.Lanes {
		if got := lane.Periods; len(got) != len(want[lane.Field]) {
			t.Errorf("%s: want %v, got %v", lane.Field, want[lane.Field], got)
			continue
		}
		for i, p := range lane.Periods {
			w := want[lane.Field][i]
			if !p.From.Equal(w.From) || !p.To.Equal(w.To) || p.Value != w.Value {
				t.Errorf("%s period %d: want %v, got %v", lane.Field, i, w, p)
			}
		}
	}
	if len(h.Changes) != 4 {
		t.Errorf("want the 4 changes of drawn fields (not the name status), got %v", h.Changes)
	}

	// A week: what held before the window shows from its start.
	h, _ = BuildHistory(changes, true, snap, now.Add(-400*day), now.Add(-7*day), now)
	if q := h.Lanes[1].Periods; len(q) != 2 || q[0].Value != "YELLOW" || !q[0].From.Equal(now.Add(-7*day)) {
		t.Errorf("7 days of quality: want yellow from the window's start, then red, got %v", q)
	}

	// Only the newest changes were read: the data starts at the oldest one read.
	h, _ = BuildHistory(changes[:3], false, snap, now.Add(-400*day), since, now)
	if !h.Partial || !h.KnownFrom.Equal(now.Add(-5*day)) {
		t.Errorf("partial read: want data from the oldest change read, got %v (partial %v)", h.KnownFrom, h.Partial)
	}

	// A younger inbox: nothing before it was added.
	h, _ = BuildHistory(nil, true, snap, now.Add(-3*day), since, now)
	if !h.KnownFrom.Equal(now.Add(-3*day)) || len(h.Lanes[0].Periods) != 1 || h.Lanes[0].Periods[0].Value != "FLAGGED" {
		t.Errorf("inbox added 3 days ago without changes: want its current values from then, got %+v", h)
	}

	if _, ok := BuildHistory(changes, true, &db.HealthSnapshot{}, now, since, now); ok {
		t.Errorf("a number never read successfully: want nothing to draw")
	}
}
