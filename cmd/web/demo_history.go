package main

import (
	"context"
	"fmt"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// The demo's past: a few numbers come with months of stored health, as the monitor
// would have recorded it, so their history charts have something to show. Each point
// is a snapshot at an age with Meta's status, quality rating and messaging limit; the
// newest point must be what the simulator reports now, so the first sweep records no
// change of its own.
type demoPoint struct {
	age                   time.Duration
	status, quality, tier string
}

const demoDay = 24 * time.Hour

var demoHistory = map[string][]demoPoint{
	"Padaria Central — Support": {
		{390 * demoDay, "CONNECTED", "GREEN", "TIER_250"},
		{300 * demoDay, "CONNECTED", "GREEN", "TIER_1K"},
		{120 * demoDay, "CONNECTED", "YELLOW", "TIER_1K"},
		{112 * demoDay, "CONNECTED", "GREEN", "TIER_1K"},
		{45 * demoDay, "CONNECTED", "GREEN", "TIER_2K"},
	},
	"Padaria Central — Orders": {
		{80 * demoDay, "CONNECTED", "GREEN", "TIER_1K"},
		{21 * demoDay, "CONNECTED", "YELLOW", "TIER_1K"},
		{5 * demoDay, "CONNECTED", "YELLOW", "TIER_250"},
	},
	"Quick Loans Desk": {
		{200 * demoDay, "CONNECTED", "GREEN", "TIER_1K"},
		{28 * demoDay, "CONNECTED", "YELLOW", "TIER_1K"},
		{9 * demoDay, "FLAGGED", "RED", "TIER_1K"},
		{3 * demoDay, "FLAGGED", "RED", "TIER_250"},
	},
}

// seedDemoHistory stores the past of a demo number (if it has one) and dates the inbox
// from its first point.
func seedDemoHistory(ctx context.Context, store *db.Store, in db.Inbox, n graphsim.Number, now time.Time) error {
	points := demoHistory[n.InboxName]
	if len(points) == 0 {
		return nil
	}
	last := points[len(points)-1]
	if current := phoneOf(n); last.status != current.Status || last.quality != current.QualityRating || last.tier != current.LimitTier() {
		return fmt.Errorf("demo: history of %q ends at %s/%s/%s, but the simulator reports %s/%s/%s", n.InboxName,
			last.status, last.quality, last.tier, current.Status, current.QualityRating, current.LimitTier())
	}
	if err := store.BackdateInbox(ctx, in.ID, now.Add(-points[0].age-time.Hour)); err != nil {
		return err
	}
	in.CreatedAt = now.Add(-points[0].age - time.Hour)
	for _, p := range points {
		phone := phoneOf(n)
		phone.Status, phone.QualityRating, phone.BusinessMessagingLimit, phone.MessagingLimitTier = p.status, p.quality, p.tier, ""
		snap := db.HealthSnapshot{InboxID: in.ID, CheckedAt: now.Add(-p.age), OK: true, Phone: &phone, Source: db.SourceSweep}
		snap.OverallStatus = health.OverallOf(&snap).Code
		snap.RegistrationState = string(health.DecisionFor(in, &snap).State)
		if _, err := store.AddSnapshot(ctx, snap); err != nil {
			return fmt.Errorf("demo: history of %q: %w", n.InboxName, err)
		}
	}
	return nil
}

// phoneOf is the phone-number node the simulator reports for a scenario number, in the
// fields the history compares.
func phoneOf(n graphsim.Number) whatsapp.PhoneNumber {
	return whatsapp.PhoneNumber{ID: n.PhoneNumberID, DisplayPhoneNumber: n.DisplayPhoneNumber, VerifiedName: n.VerifiedName,
		CodeVerificationStatus: n.CodeVerificationStatus, NameStatus: n.NameStatus, NewNameStatus: n.NewNameStatus,
		PlatformType: n.PlatformType, Throughput: whatsapp.Throughput{Level: n.ThroughputLevel}, Status: n.Status,
		QualityRating: n.QualityRating, MessagingLimitTier: n.MessagingLimitTier, BusinessMessagingLimit: n.BusinessMessagingLimit,
		AccountMode: n.AccountMode}
}
