package health

import (
	"slices"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// The Account Health tab's history chart: what Meta said a number's status, quality
// rating and messaging limit were over a window of time, rebuilt from the change
// history (db.HealthChanges, kept HealthChangeRetention) and the newest snapshot.

// HistoryFields are the fields the chart draws, one lane each, in this order (the
// names of db.HealthChange.Field).
var HistoryFields = []string{"status", "quality_rating", "limit_tier"}

// HistoryPeriod is a stretch of time during which a field had one value.
type HistoryPeriod struct {
	From, To time.Time
	Value    string // as Meta sent it ("" when Meta did not report the field)
}

// HistoryLane is one field's periods, oldest first, covering KnownFrom to Until.
type HistoryLane struct {
	Field   string
	Periods []HistoryPeriod
}

// History is a number's health over [Since, Until].
type History struct {
	Since, Until time.Time
	// KnownFrom is where the data starts: Since, or later when the inbox was added
	// later or older changes were not read (Partial).
	KnownFrom time.Time
	// Partial: more changes were recorded than were read, so the oldest are left out.
	Partial bool
	Lanes   []HistoryLane
	// Changes are the changes of the drawn fields inside the window, newest first.
	Changes []db.HealthChange
}

// BuildHistory rebuilds the history over [since, until] from changes (newest first, as
// db.HealthChanges lists them; complete when they are every change kept) and the newest
// snapshot, whose values hold since the last change. ok is false when there is nothing
// to draw: the number was never checked successfully.
func BuildHistory(changes []db.HealthChange, complete bool, snap *db.HealthSnapshot, createdAt, since, until time.Time) (h History, ok bool) {
	if snap == nil || snap.Phone == nil {
		return History{}, false
	}
	h = History{Since: since, Until: until, KnownFrom: since}
	if createdAt.After(h.KnownFrom) {
		h.KnownFrom = createdAt
	}
	if !complete && len(changes) > 0 {
		if oldest := changes[len(changes)-1].At; oldest.After(h.KnownFrom) {
			h.KnownFrom, h.Partial = oldest, true
		}
	}
	if h.KnownFrom.After(until) {
		h.KnownFrom = until
	}
	p := snap.Phone
	current := map[string]string{"status": p.Status, "quality_rating": p.QualityRating, "limit_tier": p.LimitTier()}
	for _, field := range HistoryFields {
		h.Lanes = append(h.Lanes, HistoryLane{Field: field, Periods: periodsOf(field, changes, current[field], h.KnownFrom, until)})
	}
	for _, c := range changes {
		if c.At.After(h.KnownFrom) && !c.At.After(until) && slices.Contains(HistoryFields, c.Field) {
			h.Changes = append(h.Changes, c)
		}
	}
	return h, true
}

// periodsOf walks a field's changes from the newest back to from: the value after the
// newest change is the current one, and each change's from-value held before it.
func periodsOf(field string, changes []db.HealthChange, current string, from, until time.Time) []HistoryPeriod {
	var periods []HistoryPeriod
	end, value := until, current
	for _, c := range changes {
		if c.Field != field || c.At.After(until) {
			continue
		}
		if !c.At.After(from) {
			break
		}
		periods = append(periods, HistoryPeriod{From: c.At, To: end, Value: value})
		end, value = c.At, c.From
	}
	periods = append(periods, HistoryPeriod{From: from, To: end, Value: value})
	slices.Reverse(periods)
	// Join neighbours with one value (a change back and forth at one instant) and drop
	// empty stretches.
	out := periods[:0]
	for _, p := range periods {
		if !p.To.After(p.From) && len(periods) > 1 {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Value == p.Value {
			out[n-1].To = p.To
			continue
		}
		out = append(out, p)
	}
	return out
}
