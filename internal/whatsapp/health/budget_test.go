package health

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// budgetFleet adds n business accounts of one number each to the simulator and an
// inbox for each to the store.
func budgetFleet(e *regEnv, n int) []db.Inbox {
	e.t.Helper()
	var inboxes []db.Inbox
	for w := range n {
		waba, pn := fmt.Sprintf("9%014d", w), fmt.Sprintf("8%014d", w)
		if err := e.sim.AddBusiness(graphsim.Business{WABAID: waba, BusinessID: fmt.Sprintf("7%014d", w), Name: "Budget Co",
			AccessToken: fmt.Sprintf("EAAbudget-token-%03d", w)}); err != nil {
			e.t.Fatal(err)
		}
		if err := e.sim.AddNumber(graphsim.Number{InboxName: fmt.Sprintf("Budget %d", w), PhoneNumber: fmt.Sprintf("+1555900%04d", w),
			PhoneNumberID: pn, WABAID: waba, DisplayPhoneNumber: "+1 555-900", VerifiedName: "Budget Co",
			CodeVerificationStatus: "VERIFIED", NameStatus: "APPROVED", PlatformType: "CLOUD_API", Status: "CONNECTED",
			QualityRating: "GREEN"}); err != nil {
			e.t.Fatal(err)
		}
		inboxes = append(inboxes, e.inbox(pn))
	}
	return inboxes
}

// Meta's per-account budget: the answers report the account's usage rising with every
// sweep and refresh; above 75 % the monitor and refreshes leave the account alone for a
// while, so Meta never has to answer 80008.
func TestRisingAccountUsageSlowsTheAccountDownBeforeMetaLimitsIt(t *testing.T) {
	e := newRegEnv(t)
	in := budgetFleet(e, 1)[0]
	// 8 calls per hour for the account: a sweep and a refresh every 5 minutes would
	// spend it in 20 minutes.
	e.sim.SetBudget(graphsim.Budget{BusinessCalls: 8, Window: time.Hour})
	m := e.monitor()
	slowed, stored := 0, 0
	for round := range 36 { // three hours
		stats, err := m.SweepOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		slowed += stats.Slowed
		stored += stats.InboxesUpdated
		if _, err := e.svc.RefreshOnDemand(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		if latest := e.latest(in); !latest.OK {
			t.Fatalf("round %d: the inbox's health turned into an error: %+v", round, latest)
		}
		e.clock.Advance(5 * time.Minute)
	}
	if n := e.sim.CountFaults("budget"); n != 0 {
		t.Errorf("Meta answered %d calls with 80008: the monitor did not slow down in time", n)
	}
	if slowed == 0 {
		t.Error("no sweep was slowed down although the account's usage went above 75 %")
	}
	calls := e.sim.CountRequests(http.MethodGet, "/"+in.WABAID+"/phone_numbers") + e.sim.CountRequests(http.MethodGet, "/"+in.PhoneNumberID)
	if calls < 9 {
		t.Errorf("want the account still checked regularly (at least every 20 minutes), got %d calls in 3 hours", calls)
	}
	t.Logf("3 hours: %d calls (of 72 without the slow-down), %d sweeps slowed, %d sweep snapshots", calls, slowed, stored)
}

// Meta's app-wide budget: once the app's usage is above 75 % a sweep spreads the
// accounts it has left over its interval, and above 90 % leaves them for the next.
func TestRisingAppUsageSpreadsTheSweepOverItsInterval(t *testing.T) {
	e := newRegEnv(t)
	budgetFleet(e, 10)
	e.sim.SetBudget(graphsim.Budget{AppCalls: 24, Window: time.Hour})
	const interval = 2 * time.Second
	// Two accounts at a time: the usage of the first answers is known before the last
	// accounts are started, as in a sweep of hundreds of accounts.
	m := NewMonitor(e.svc, e.store, e.client, MonitorOptions{Now: e.clock.Now, Logger: e.reg.log, Retention: -1, Interval: interval, Concurrency: 2})

	sweep := func() (SweepStats, time.Duration) {
		t.Helper()
		start := time.Now()
		stats, err := m.SweepOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return stats, time.Since(start)
	}
	first, fast := sweep() // 10 of 24 calls: 41 %
	if first.Slowed != 0 || first.GraphCalls != 10 {
		t.Fatalf("first sweep: want 10 calls at once, got %+v", first)
	}
	second, spread := sweep() // from 75 % (18 calls) on, paced
	if second.Slowed == 0 || spread < interval/4 {
		t.Errorf("second sweep: want the accounts after 75 %% spread over the interval, got %+v in %s (the first took %s)", second, spread, fast)
	}
	third, _ := sweep() // above 90 %: the rest waits
	if third.Slowed == 0 || third.GraphCalls >= 10 {
		t.Errorf("third sweep: want it cut short near the app's limit, got %+v", third)
	}
	if n := e.sim.CountFaults("budget"); n != 0 {
		t.Errorf("Meta answered %d calls with a rate limit: the sweep did not slow down in time", n)
	}
}
