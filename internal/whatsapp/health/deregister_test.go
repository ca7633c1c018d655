package health

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

func TestDeregisterAndRegisterIsRefusedWithoutA133000(t *testing.T) {
	for _, tc := range []struct {
		name string
		last func(e *regEnv, in db.Inbox) // the history before the request
	}{
		{"no call yet", func(*regEnv, db.Inbox) {}},
		{"last call failed transiently", func(e *regEnv, in db.Inbox) {
			e.failRegisterTransiently(pendingID)
			e.register(in, e.person())
		}},
		{"last call succeeded", func(e *regEnv, in db.Inbox) { e.register(in, e.person()) }},
		{"133000 followed by a transient failure", func(e *regEnv, in db.Inbox) {
			e.sim.Inject(http.MethodPost, "/"+pendingID+"/register", graphsim.FailureIncompleteDeregistration())
			e.register(in, e.person())
			e.failRegisterTransiently(pendingID)
			e.register(e.reload(in), e.person())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRegEnv(t, "pending_provisioning")
			in := e.inbox(pendingID)
			tc.last(e, in)
			requests := len(e.sim.Requests())
			_, err := e.reg.DeregisterAndRegister(context.Background(), e.reload(in), e.person())
			if !errors.Is(err, ErrNoDeregistrationPending) {
				t.Errorf("want ErrNoDeregistrationPending, got %v", err)
			}
			if got := e.sim.Requests()[requests:]; len(got) != 0 {
				t.Errorf("a refused deregistration must not call Meta, got %d requests: %+v", len(got), got)
			}
		})
	}
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)
	if _, err := e.reg.DeregisterAndRegister(context.Background(), in, Request{Trigger: db.TriggerAutomatic}); err == nil {
		t.Errorf("a machine asking to deregister: want an error, got none")
	}
	if n := e.deregisterCalls(pendingID); n != 0 {
		t.Errorf("want no deregister call, got %d", n)
	}
}

func TestDeregisterAndRegisterAfter133000(t *testing.T) {
	for _, tc := range []struct {
		name string
		// earlier is how many calls (failing transiently) precede the 133000.
		earlier   int
		wantError error
	}{
		{"133000 injected on register", 0, nil},
		{"exactly two calls left", RegisterLimit - 3, nil},
		{"one call left", RegisterLimit - 2, ErrNotEnoughCallsLeft},
	} {
		for _, flag := range []bool{false, true} {
			name := tc.name
			if flag {
				name += "/number flagged deregistration_incomplete"
			}
			t.Run(name, func(t *testing.T) {
				e := newRegEnv(t, "pending_provisioning")
				in := e.inbox(pendingID)
				for range tc.earlier {
					e.failRegisterTransiently(pendingID)
					e.register(e.reload(in), e.person())
				}
				if flag {
					if err := e.sim.UpdateNumber(pendingID, func(n *graphsim.Number) { n.DeregistrationIncomplete = true }); err != nil {
						t.Fatal(err)
					}
				} else {
					e.sim.Inject(http.MethodPost, "/"+pendingID+"/register", graphsim.FailureIncompleteDeregistration())
				}
				res := e.register(e.reload(in), e.person())
				if res.Kind != whatsapp.KindDeregistrationIncomplete {
					t.Fatalf("register: want deregistration_incomplete (133000), got %s %s (%s)", res.Outcome, res.Kind, res.Reason)
				}
				before := e.status(in)
				requests := len(e.sim.Requests())
				registersBefore := e.registerCalls(pendingID)

				res, err := e.reg.DeregisterAndRegister(context.Background(), e.reload(in), e.person())
				if tc.wantError != nil {
					if !errors.Is(err, tc.wantError) {
						t.Fatalf("with %d calls left: want %v, got %v (%s)", before.AttemptsLeft, tc.wantError, err, res.Outcome)
					}
					if got := e.sim.Requests()[requests:]; len(got) != 0 {
						t.Errorf("a refused deregistration must not call Meta, got %+v", got)
					}
					return
				}
				if err != nil {
					t.Fatalf("DeregisterAndRegister with %d calls left: %v", before.AttemptsLeft, err)
				}
				if res.Outcome != OutcomeRegistered {
					t.Fatalf("want registered, got %s %s (%s)", res.Outcome, res.Kind, res.Reason)
				}
				if n := e.deregisterCalls(pendingID); n != 1 {
					t.Errorf("want exactly 1 deregister call, got %d", n)
				}
				if n := e.registerCalls(pendingID) - registersBefore; n != 1 {
					t.Errorf("want exactly 1 register call after the deregistration, got %d", n)
				}
				deregAt := e.requestIndex(http.MethodPost, "/"+pendingID+"/deregister", requests)
				registerAt := e.requestIndex(http.MethodPost, "/"+pendingID+"/register", requests)
				if deregAt < 0 || registerAt < deregAt {
					t.Errorf("order at Meta: want deregister then register, got deregister at %d, register at %d", deregAt, registerAt)
				}
				after := e.status(in)
				if after.AttemptsLeft != before.AttemptsLeft-2 {
					t.Errorf("budget: want both calls counted (%d left, then %d), got %d", before.AttemptsLeft, before.AttemptsLeft-2, after.AttemptsLeft)
				}
				attempts := e.attempts(in)
				if attempts[0].Outcome != db.OutcomeRegistered || attempts[1].Outcome != db.OutcomeDeregistered || !attempts[1].GraphCalled {
					t.Errorf("attempts: want deregistered (counted) then registered, got %s", attemptsSummary(attempts))
				}
				if got, stored := e.sim.ReceivedPIN(pendingID), e.secrets(in).PIN; got != stored {
					t.Errorf("the register call after deregistering must use the stored PIN")
				}
				if n, _ := e.sim.Number(pendingID); n.PlatformType != "CLOUD_API" || n.DeregistrationIncomplete {
					t.Errorf("at Meta: want the number registered again, got platform %s (incomplete %v)", n.PlatformType, n.DeregistrationIncomplete)
				}
				// Done: it cannot be asked again.
				if _, err := e.reg.DeregisterAndRegister(context.Background(), e.reload(in), e.person()); !errors.Is(err, ErrNoDeregistrationPending) {
					t.Errorf("after success: want ErrNoDeregistrationPending, got %v", err)
				}
			})
		}
	}
}
