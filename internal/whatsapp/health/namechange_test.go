package health

import (
	"context"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

const newDisplayName = "Padaria Central & Filhos"

// registeredWithPIN is a number registered at Meta whose PIN the inbox knows, and that
// PIN; the inbox's health shows it registered.
type registeredWithPIN func(t *testing.T, e *regEnv) (db.Inbox, string)

var registeredNumbers = []struct {
	name string
	make registeredWithPIN
}{
	{"PIN entered by an administrator", func(t *testing.T, e *regEnv) (db.Inbox, string) {
		in := e.inbox(connectedID)
		if err := e.reg.SetPIN(context.Background(), in, "424242", e.userID); err != nil {
			t.Fatalf("SetPIN: %v", err)
		}
		e.refresh(in)
		return e.reload(in), "424242"
	}},
	{"PIN from this app's own registration", func(t *testing.T, e *regEnv) (db.Inbox, string) {
		in := e.inbox(pendingID)
		if res := e.register(in, e.person()); res.Outcome != OutcomeRegistered {
			t.Fatalf("first registration: want registered, got %s %s (%s)", res.Outcome, res.Kind, res.Reason)
		}
		return e.reload(in), e.secrets(in).PIN
	}},
}

// approvalPaths deliver Meta's approval of a requested name change. check runs when the
// approval is known to the product and before the registrar acts on it.
var approvalPaths = []struct {
	name    string
	approve func(e *regEnv, in db.Inbox, check func())
}{
	{"phone_number_name_update webhook", func(e *regEnv, in db.Inbox, check func()) {
		e.svc.SetOnNameApproved(func(ctx context.Context, got db.Inbox) {
			check()
			e.reg.NameApproved(ctx, got)
		})
		if err := e.sim.ApproveName(in.PhoneNumberID); err != nil {
			e.t.Fatal(err)
		}
		e.applyWebhook(in, nameUpdate(in, whatsapp.NameDecisionApproved, newDisplayName))
	}},
	{"monitor sweep sees new_name_status APPROVED", func(e *regEnv, in db.Inbox, check func()) {
		if err := e.sim.ApproveName(in.PhoneNumberID); err != nil {
			e.t.Fatal(err)
		}
		e.clock.Advance(10 * time.Minute)
		m := NewMonitor(e.svc, e.store, e.client, MonitorOptions{Now: e.clock.Now, Logger: e.reg.log, Retention: -1,
			OnSwept: func(ctx context.Context) { check(); e.reg.OnSwept(ctx) }})
		e.sweep(m)
	}},
}

func TestApprovedNameChangeRegistersOnceWithTheStoredPIN(t *testing.T) {
	for _, number := range registeredNumbers {
		for _, path := range approvalPaths {
			t.Run(number.name+"/"+path.name, func(t *testing.T) {
				e := newRegEnv(t, "connected", "pending_provisioning")
				in, pin := number.make(t, e)
				id := in.PhoneNumberID
				if err := e.sim.RequestNameChange(id, newDisplayName, 0); err != nil {
					t.Fatal(err)
				}
				e.clock.Advance(time.Hour)
				if snap := e.refresh(in); snap.Phone == nil || snap.Phone.NewNameStatus != whatsapp.NamePendingReview ||
					snap.RegistrationState != string(whatsapp.StateRegistered) {
					t.Fatalf("while Meta reviews the new name: want a registered number with new_name_status PENDING_REVIEW, got %+v", snap)
				}
				callsBefore := e.registerCalls(id)
				attemptsBefore := len(e.attempts(in))

				checked := false
				path.approve(e, in, func() {
					checked = true
					cur := e.reload(in)
					if cur.NameChangeApprovedAt == nil {
						t.Errorf("once Meta approved the new name: want the inbox's NameChangeApprovedAt set, got nil")
					}
					snap := e.latest(cur)
					if d := DecisionFor(cur, &snap); d.State != whatsapp.StateNameChangeNeedsRegister {
						t.Errorf("once Meta approved the new name: want DecisionFor %s, got %s", whatsapp.StateNameChangeNeedsRegister, d.State)
					}
					if snap.RegistrationState != string(whatsapp.StateNameChangeNeedsRegister) {
						t.Errorf("stored registration state after the approval: want %s, got %s", whatsapp.StateNameChangeNeedsRegister, snap.RegistrationState)
					}
					if n := e.registerCalls(id); n != callsBefore {
						t.Errorf("before the registrar acted: want no new register call, got %d", n-callsBefore)
					}
				})
				if !checked {
					t.Fatal("the approval never reached the registrar's hook")
				}

				if n := e.registerCalls(id) - callsBefore; n != 1 {
					t.Fatalf("after the approval: want exactly 1 register call, got %d", n)
				}
				attempts := e.attempts(in)
				if len(attempts) != attemptsBefore+1 || attempts[0].Trigger != db.TriggerNameChange ||
					attempts[0].Outcome != db.OutcomeRegistered || !attempts[0].GraphCalled {
					t.Fatalf("attempts: want one new registered call triggered by %s, got %s", db.TriggerNameChange, attemptsSummary(attempts))
				}
				if got := e.sim.ReceivedPIN(id); got != pin {
					t.Errorf("PIN sent with the re-registration: want the stored one, got another (same: %v)", got == pin)
				}
				if s := e.secrets(in); s.PIN != pin || s.PINState != db.PINStateConfirmed {
					t.Errorf("stored PIN after the re-registration: want it unchanged and confirmed, got state %s (same PIN: %v)", s.PINState, s.PIN == pin)
				}
				cur := e.reload(in)
				if cur.NameChangeApprovedAt != nil {
					t.Errorf("after the re-registration: want NameChangeApprovedAt cleared, got %v", cur.NameChangeApprovedAt)
				}
				n, _ := e.sim.Number(id)
				if n.VerifiedName != newDisplayName || n.NameChangeAwaitingRegister {
					t.Errorf("at Meta: want verified_name %q and no change awaiting a register call, got %q (awaiting %v)",
						newDisplayName, n.VerifiedName, n.NameChangeAwaitingRegister)
				}
				if snap := e.latest(in); snap.Phone == nil || snap.Phone.VerifiedName != newDisplayName ||
					snap.RegistrationState != string(whatsapp.StateRegistered) {
					t.Errorf("health after the re-registration: want state registered with verified_name %q, got state %s with %+v",
						newDisplayName, snap.RegistrationState, snap.Phone)
				}

				// Nothing more: sweeps, due retries and replayed approvals make no call.
				e.svc.SetOnNameApproved(e.reg.NameApproved)
				m := e.monitor()
				for range 3 {
					e.clock.Advance(20 * time.Minute)
					e.sweep(m)
					if err := e.reg.RetryDue(context.Background()); err != nil {
						t.Fatal(err)
					}
					e.applyWebhook(e.reload(in), nameUpdate(in, whatsapp.NameDecisionApproved, newDisplayName))
				}
				if n := e.registerCalls(id) - callsBefore; n != 1 {
					t.Errorf("sweeps, due retries and replayed approvals after the re-registration: want still 1 register call, got %d", n)
				}
				if cur := e.reload(in); cur.NameChangeApprovedAt != nil {
					t.Errorf("replayed approvals must not mark a new name change, got NameChangeApprovedAt %v", cur.NameChangeApprovedAt)
				}
			})
		}
	}
}

func TestApprovedNameChangeWithoutAUsablePINMakesNoCall(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state string
		pin   string
	}{
		{"no PIN known", db.PINStateNone, ""},
		{"Meta refused the stored PIN", db.PINStateMismatch, "111111"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRegEnv(t, "connected")
			ctx := context.Background()
			in := e.inbox(connectedID)
			if tc.state != db.PINStateNone {
				if err := e.store.SetPIN(ctx, in.ID, tc.pin, tc.state); err != nil {
					t.Fatal(err)
				}
			}
			e.refresh(in)
			if err := e.sim.RequestNameChange(connectedID, newDisplayName, 0); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Hour)
			e.refresh(in)
			e.svc.SetOnNameApproved(e.reg.NameApproved)
			if err := e.sim.ApproveName(connectedID); err != nil {
				t.Fatal(err)
			}
			e.applyWebhook(in, nameUpdate(in, whatsapp.NameDecisionApproved, newDisplayName))
			if cur := e.reload(in); cur.NameChangeApprovedAt == nil {
				t.Fatal("the approval must be noted on the inbox even without a PIN")
			}

			for _, req := range []Request{{Trigger: db.TriggerNameChange}, {Trigger: db.TriggerAutomatic}, e.person(), {Trigger: db.TriggerAPI}} {
				res := e.register(e.reload(in), req)
				if res.Outcome != OutcomeFailed || !res.NeedsPIN {
					t.Errorf("%s without a usable PIN (%s): want failed asking for the PIN, got %s needsPIN=%v (%s)",
						req.Trigger, tc.state, res.Outcome, res.NeedsPIN, res.Reason)
				}
			}
			e.clock.Advance(20 * time.Minute)
			e.sweep(e.monitor())
			if err := e.reg.RetryDue(ctx); err != nil {
				t.Fatal(err)
			}
			if n := e.registerCalls(connectedID); n != 0 {
				t.Fatalf("without a usable PIN: want no register call, got %d", n)
			}
			if s := e.secrets(in); s.PINState != tc.state || s.PIN != tc.pin {
				t.Errorf("the PIN must be left as it was: want state %s, got %s", tc.state, s.PINState)
			}
			if n, _ := e.sim.Number(connectedID); !n.NameChangeAwaitingRegister {
				t.Errorf("at Meta: the approved name must still await its register call")
			}

			// The administrator enters the PIN Meta holds: the next Register re-registers once.
			if err := e.reg.SetPIN(ctx, in, "424242", e.userID); err != nil {
				t.Fatal(err)
			}
			res := e.register(e.reload(in), e.person())
			if res.Outcome != OutcomeRegistered {
				t.Fatalf("after SetPIN: want registered, got %s %s (%s)", res.Outcome, res.Kind, res.Reason)
			}
			for range 2 {
				e.register(e.reload(in), e.person())
				e.clock.Advance(20 * time.Minute)
				e.sweep(e.monitor())
			}
			if n := e.registerCalls(connectedID); n != 1 {
				t.Errorf("after SetPIN: want exactly 1 register call, got %d", n)
			}
			if got := e.sim.ReceivedPIN(connectedID); got != "424242" {
				t.Errorf("the re-registration must use the PIN entered, Meta received another")
			}
			if n, _ := e.sim.Number(connectedID); n.VerifiedName != newDisplayName {
				t.Errorf("at Meta: want verified_name %q, got %q", newDisplayName, n.VerifiedName)
			}
			if cur := e.reload(in); cur.NameChangeApprovedAt != nil {
				t.Errorf("after the re-registration: want NameChangeApprovedAt cleared, got %v", cur.NameChangeApprovedAt)
			}
		})
	}
}
