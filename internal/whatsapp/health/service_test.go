package health_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

func (e *monitorEnv) numberCalls(in db.Inbox) int {
	return e.sim.CountRequests(http.MethodGet, "/"+in.PhoneNumberID)
}

// A sweep that meets a rate limit holds the business account off for refreshes too:
// neither Refresh nor a read of stale health calls Meta until the announced time.
func TestRefreshHonoursTheSweepsRateLimitHoldOff(t *testing.T) {
	t.Parallel()
	env := newMonitorEnv(t)
	env.addBusiness(wabaSmall, "token-small", 2)
	mon := env.monitor(health.MonitorOptions{})
	ctx := context.Background()
	if _, err := mon.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	env.sim.RateLimitBusiness(wabaSmall, 10)
	if _, err := mon.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if until := env.svc.RateLimitedUntil(wabaSmall); !until.Equal(monitorStart.Add(10 * time.Minute)) {
		t.Fatalf("service hold-off: want %v, got %v", monitorStart.Add(10*time.Minute), until)
	}
	in := env.inboxes[wabaSmall][0]
	before := env.latest(in)

	env.clock.Advance(8 * time.Minute) // older than the 5 min read TTL
	snap, err := env.svc.Refresh(ctx, in, db.SourceFetch)
	if err != nil {
		t.Fatal(err)
	}
	if snap.ID != before.ID {
		t.Errorf("refresh while held off: want the latest snapshot (%d) back, nothing recorded; got snapshot %d", before.ID, snap.ID)
	}
	if _, ok, err := env.svc.Current(ctx, in); err != nil || !ok {
		t.Fatalf("read while held off: %v %v", ok, err)
	}
	time.Sleep(100 * time.Millisecond) // a background refresh, if any, would be under way
	if n := env.numberCalls(in); n != 0 {
		t.Errorf("while held off: want no Graph call about the number, got %d", n)
	}
	if got := env.latest(in); got.ID != before.ID {
		t.Errorf("while held off: want nothing recorded, latest moved from %d to %d", before.ID, got.ID)
	}

	env.clock.Advance(3 * time.Minute) // past the announced time
	snap, err = env.svc.Refresh(ctx, in, db.SourceFetch)
	if err != nil || !snap.OK || snap.ID == before.ID {
		t.Fatalf("after the hold-off: want a fresh good snapshot, got ok=%v id=%d err=%v", snap.OK, snap.ID, err)
	}
	if n := env.numberCalls(in); n != 1 {
		t.Errorf("after the hold-off: want 1 Graph call, got %d", n)
	}
}

// A rate limit met by a single refresh holds off the sweep and other refreshes.
func TestARateLimitedRefreshHoldsOffTheBusinessAccount(t *testing.T) {
	t.Parallel()
	env := newMonitorEnv(t)
	env.addBusiness(wabaSmall, "token-small", 2)
	ctx := context.Background()
	first, second := env.inboxes[wabaSmall][0], env.inboxes[wabaSmall][1]
	env.sim.RateLimitBusiness(wabaSmall, 10)

	snap, err := env.svc.Refresh(ctx, first, db.SourceFetch)
	if err != nil || snap.OK || snap.ErrorKind != whatsapp.KindRateLimited {
		t.Fatalf("refresh meeting the limit: want a rate_limited error snapshot, got ok=%v kind=%q err=%v", snap.OK, snap.ErrorKind, err)
	}
	if until := env.svc.RateLimitedUntil(wabaSmall); until.Before(monitorStart.Add(9 * time.Minute)) {
		t.Fatalf("after a rate-limited refresh: want a hold-off of about 10 min, got until %v", until)
	}

	// The other number, never checked: nothing stored, nothing called, a clear answer.
	snap, err = env.svc.Refresh(ctx, second, db.SourceFetch)
	if err != nil {
		t.Fatal(err)
	}
	if snap.ID != 0 || snap.OK || snap.ErrorKind != whatsapp.KindRateLimited {
		t.Errorf("never-checked inbox while held off: want an unstored rate_limited snapshot, got %+v", snap)
	}
	if _, err := env.store.LatestSnapshot(ctx, second.ID); err != db.ErrNotFound {
		t.Errorf("never-checked inbox while held off: want nothing stored, got %v", err)
	}
	if n := env.numberCalls(second); n != 0 {
		t.Errorf("never-checked inbox while held off: want no Graph call, got %d", n)
	}
	stats, err := env.monitor(health.MonitorOptions{}).SweepOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.RateLimited != 1 || stats.GraphCalls != 0 || env.listCalls(wabaSmall) != 0 {
		t.Errorf("sweep after a rate-limited refresh: want the account skipped without a call, got %+v", stats)
	}
}
