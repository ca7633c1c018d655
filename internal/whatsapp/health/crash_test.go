package health

import (
	"context"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// A process that dies after Meta received the register call, before it could write
// anything else, must leave the PIN Meta now holds in the database, and the attempt
// must show as interrupted after the restart.
func TestCrashAfterMetaReceivedTheCall(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)
	release := e.sim.HoldRegister(pendingID) // Meta acts, but its answer never arrives
	defer release()

	done := make(chan error, 1)
	go func() {
		_, err := e.reg.Register(context.Background(), in, e.person())
		done <- err
	}()
	waitUntil(t, "Meta received the register call", func() bool { return e.sim.ReceivedPIN(pendingID) != "" })
	metaPIN := e.sim.ReceivedPIN(pendingID)

	// The crash: the database goes away first, then everything in flight stops.
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	e.reg.Close()
	if err := <-done; err == nil {
		t.Fatal("the crashed registration cannot have finished: want an error, got nil")
	}

	e.open() // the restart, on the same file
	ctx := context.Background()
	if n, err := e.reg.MarkInterrupted(ctx); err != nil || n != 0 {
		t.Fatalf("while the dead process's lease lasts another process may be mid-call: want 0 marked, got %d (%v)", n, err)
	}
	e.clock.Advance(DefaultLeaseTTL + time.Second)
	if n, err := e.reg.MarkInterrupted(ctx); err != nil || n != 1 {
		t.Fatalf("after the lease expired: want 1 attempt marked interrupted, got %d (%v)", n, err)
	}

	stored := e.secrets(in)
	if stored.PIN != metaPIN || stored.PINState != db.PINStateGenerated {
		t.Fatalf("after the restart: want the PIN Meta received, still generated; got state %s, same PIN: %v", stored.PINState, stored.PIN == metaPIN)
	}
	attempts := e.attempts(in)
	if len(attempts) != 1 || attempts[0].Outcome != db.OutcomeInterrupted || !attempts[0].GraphCalled {
		t.Fatalf("attempts: want one interrupted attempt that reached Meta, got %+v", attempts)
	}

	// Meta forgets the registration (as after a deregistration) but keeps the PIN: a
	// new attempt must send the same PIN, or Meta would answer 133005.
	release()
	if err := e.sim.UpdateNumber(pendingID, func(n *graphsim.Number) {
		n.PlatformType, n.ThroughputLevel, n.Status = "NOT_APPLICABLE", "NOT_APPLICABLE", "PENDING"
	}); err != nil {
		t.Fatal(err)
	}
	res := e.register(e.reload(in), e.person())
	if res.Outcome != OutcomeRegistered {
		t.Fatalf("second registration: want registered with the stored PIN, got %s %s (%s)", res.Outcome, res.Kind, res.Reason)
	}
	if got := e.sim.ReceivedPIN(pendingID); got != metaPIN {
		t.Error("second registration sent a different PIN: a second PIN was generated")
	}
	if s := e.secrets(in); s.PIN != metaPIN || s.PINState != db.PINStateConfirmed {
		t.Errorf("after success: want the same PIN, confirmed; got state %s", s.PINState)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
