package health

import (
	"context"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// A replayed approval for a stuck pending number (Meta delivers an event more than
// once) spends no more calls than the backoff and budget allow.
func TestReplayedNameApprovalStaysWithinBackoffAndBudget(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before prepares the inbox; firstFails makes the first call fail transiently.
		before     func(e *regEnv, in db.Inbox)
		firstFails bool
		// wantCalls after both deliveries; wantAfterRetry once the planned retry ran
		// (for the used-up budget, when the oldest call left the 72 h window).
		wantCalls, wantAfterRetry int
	}{
		{name: "first attempt succeeds", wantCalls: 1, wantAfterRetry: 1},
		{name: "first attempt fails transiently", firstFails: true, wantCalls: 1, wantAfterRetry: 2},
		{name: "automatic budget used up", wantCalls: 0, wantAfterRetry: 1, before: func(e *regEnv, in db.Inbox) {
			// Another process's eight automatic calls in the window.
			for range RegisterLimit - ReservedForPeople {
				a, err := e.store.StartAttempt(context.Background(), in.ID, db.TriggerAutomatic, nil, true)
				if err != nil {
					e.t.Fatal(err)
				}
				a.Outcome, a.ErrorKind = db.OutcomeFailed, whatsapp.KindTransient
				if err := e.store.FinishAttempt(context.Background(), a); err != nil {
					e.t.Fatal(err)
				}
			}
		}},
	} {
		for _, backToBack := range []bool{false, true} {
			name := tc.name + "/after the first finished"
			if backToBack {
				name = tc.name + "/back to back"
			}
			t.Run(name, func(t *testing.T) {
				e := newRegEnv(t, "name_in_review")
				in := e.inbox(inReviewID)
				e.svc.SetOnNameApproved(e.reg.NameApproved)
				if res := e.register(in, Request{Trigger: db.TriggerAutomatic}); res.Outcome != OutcomeDeferred {
					t.Fatalf("before approval: want deferred, got %s", res.Outcome)
				}
				if tc.before != nil {
					tc.before(e, in)
				}
				if err := e.sim.ApproveName(inReviewID); err != nil {
					t.Fatal(err)
				}
				if tc.firstFails {
					e.failRegisterTransiently(inReviewID)
				}
				approval := nameUpdate(in, whatsapp.NameDecisionApproved, "Blue Harbor Travel")
				if backToBack {
					for range 2 {
						if _, _, err := e.svc.ApplyWebhook(context.Background(), in, approval); err != nil {
							t.Fatal(err)
						}
					}
					e.reg.Wait()
				} else {
					e.applyWebhook(in, approval)
					e.clock.Advance(time.Minute)
					e.applyWebhook(e.reload(in), approval)
				}
				if n := e.registerCalls(inReviewID); n != tc.wantCalls {
					t.Fatalf("after the approval and its replay: want %d register calls, got %d (attempts %s)",
						tc.wantCalls, n, attemptsSummary(e.attempts(in)))
				}

				// The planned retry, if any, is what may call next.
				if next := e.reload(in).RegistrationNextRetryAt; next != nil {
					e.clock.Set(next.Add(time.Second))
				}
				if err := e.reg.RetryDue(context.Background()); err != nil {
					t.Fatal(err)
				}
				e.applyWebhook(e.reload(in), approval)
				if n := e.registerCalls(inReviewID); n != tc.wantAfterRetry {
					t.Errorf("after the planned retry and one more replay: want %d register calls, got %d (attempts %s)",
						tc.wantAfterRetry, n, attemptsSummary(e.attempts(in)))
				}
			})
		}
	}
}

// A backoff that waited for Meta's display-name review ends with the approval even when
// no webhook arrives (a Meta app whose callback is not set up yet): the next sweep sees
// the approved name and registers at once, not hours later when the backoff ends.
func TestSweepSeeingTheApprovedNameEndsTheBackoffAtOnce(t *testing.T) {
	e := newRegEnv(t, "name_in_review")
	in := e.inbox(inReviewID)
	confirmed := e.person()
	confirmed.Confirmed = true
	if res := e.register(in, confirmed); res.Kind != whatsapp.KindDisplayNameNotReady {
		t.Fatalf("try anyway while in review: want 2388001, got %s %s", res.Outcome, res.Kind)
	}
	later := e.clock.Now().Add(12 * time.Hour) // a long backoff after several refusals
	if err := e.store.SetRegistrationSchedule(context.Background(), in.ID, &later, 6); err != nil {
		t.Fatal(err)
	}
	m := e.monitor()
	e.clock.Advance(time.Second) // the review is still open
	e.sweep(m)
	if n := e.registerCalls(inReviewID); n != 1 {
		t.Fatalf("sweep while still in review: want no new call, got %d in all: %s", n, attemptsSummary(e.attempts(in)))
	}

	// Meta approves the name; the simulator has no app callback, so no webhook comes.
	if err := e.sim.ApproveName(inReviewID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(15 * time.Minute)
	e.sweep(m)
	if n := e.registerCalls(inReviewID); n != 2 {
		t.Fatalf("first sweep after the approval: want exactly one more register call, got %d in all", n)
	}
	if a := e.attempts(in); a[0].Outcome != db.OutcomeRegistered || a[0].Trigger != db.TriggerAutomatic {
		t.Errorf("want the automatic attempt registered, got %s", attemptsSummary(a))
	}
	e.clock.Advance(15 * time.Minute)
	e.sweep(m)
	if n := e.registerCalls(inReviewID); n != 2 {
		t.Errorf("later sweeps: want no further call, got %d in all", n)
	}
}
