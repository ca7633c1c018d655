package health

import (
	"context"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// coexistenceID is the demo scenario's number on the WhatsApp Business app (Corner Bakery).
const coexistenceID = "109876543210014"

// A coexistence number (is_on_biz_app) is never registered from here, whatever asks.
func TestCoexistenceNumberIsNeverRegistered(t *testing.T) {
	for _, tc := range []struct {
		name string
		// shape changes the demo number before the inbox is made; nameChange asks Meta
		// for a new name to approve later (numbers on the Cloud API only).
		shape      func(n *graphsim.Number)
		nameChange bool
	}{
		{name: "on the Business app only"},
		{name: "name in review", shape: func(n *graphsim.Number) { n.NameStatus = "PENDING_REVIEW" }},
		{name: "also on the Cloud API, with a name change", nameChange: true, shape: func(n *graphsim.Number) {
			n.PlatformType, n.ThroughputLevel, n.Status = "CLOUD_API", "STANDARD", "CONNECTED"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRegEnv(t, "demo")
			ctx := context.Background()
			if tc.shape != nil {
				if err := e.sim.UpdateNumber(coexistenceID, tc.shape); err != nil {
					t.Fatal(err)
				}
			}
			in := e.inbox(coexistenceID)
			if err := e.reg.SetPIN(ctx, in, "314159", e.userID); err != nil { // even with a PIN at hand
				t.Fatal(err)
			}
			wantSkipped := func(what string, res Result) {
				t.Helper()
				if res.Outcome != OutcomeSkipped || res.State != whatsapp.StateCoexistence {
					t.Errorf("%s: want skipped/coexistence, got %s/%s (%s)", what, res.Outcome, res.State, res.Reason)
				}
			}

			res, err := e.reg.Setup(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			wantSkipped("Setup", res)

			e.svc.SetOnNameApproved(e.reg.NameApproved)
			if tc.nameChange {
				if err := e.sim.RequestNameChange(coexistenceID, "Corner Bakery & Café", 0); err != nil {
					t.Fatal(err)
				}
				e.clock.Advance(time.Minute)
				e.refresh(in)
			}
			if tc.shape != nil || tc.nameChange {
				if err := e.sim.ApproveName(coexistenceID); err != nil {
					t.Fatal(err)
				}
			}
			e.applyWebhook(e.reload(in), nameUpdate(in, whatsapp.NameDecisionApproved, "Corner Bakery & Café"))

			m := e.monitor()
			for range 3 {
				e.clock.Advance(30 * time.Minute)
				e.sweep(m)
				if err := e.reg.RetryDue(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, req := range []Request{e.person(), {Trigger: db.TriggerAPI, Confirmed: true}, {Trigger: db.TriggerAutomatic},
				{Trigger: db.TriggerWebhook}, {Trigger: db.TriggerNameChange}} {
				wantSkipped(req.Trigger+" register", e.register(e.reload(in), req))
			}
			if n := e.registerCalls(coexistenceID); n != 0 {
				t.Fatalf("a coexistence number: want no register call, got %d (attempts %s)", n, attemptsSummary(e.attempts(in)))
			}
			if snap := e.latest(in); snap.RegistrationState != string(whatsapp.StateCoexistence) {
				t.Errorf("stored registration state: want coexistence, got %s", snap.RegistrationState)
			}
			if cur := e.reload(in); cur.RegistrationNextRetryAt != nil {
				t.Errorf("no automatic retry may be planned for a coexistence number, got one at %s", cur.RegistrationNextRetryAt)
			}
			if n, _ := e.sim.Number(coexistenceID); !n.IsOnBizApp || n.Registrations != 0 {
				t.Errorf("at Meta: want the number still on the Business app and never registered, got on app %v, %d registrations", n.IsOnBizApp, n.Registrations)
			}
		})
	}
}
