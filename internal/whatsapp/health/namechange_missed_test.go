package health

import (
	"context"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Meta's approval can come before any health read saw the change requested (the
// monitor sweeps every few minutes, a review can be quick): the number is registered
// and the latest snapshot has no new_name_status. The approval still needs its
// register call, and the old name still shows until then.
func TestNameChangeApprovedBeforeAnyReadSawItRegistersOnce(t *testing.T) {
	e := newRegEnv(t, "connected")
	in := e.inbox(connectedID)
	if err := e.reg.SetPIN(context.Background(), in, "424242", e.userID); err != nil {
		t.Fatal(err)
	}
	e.refresh(in)
	oldName := e.latest(in).Phone.VerifiedName
	e.svc.SetOnNameApproved(func(ctx context.Context, got db.Inbox) {
		snap := e.latest(in)
		if snap.Phone.VerifiedName != oldName || snap.Phone.NewNameStatus != whatsapp.NameApproved ||
			snap.RegistrationState != string(whatsapp.StateNameChangeNeedsRegister) {
			t.Errorf("before the register call: want the old name %q shown, new_name_status APPROVED and state %s; got %q, %q, %s",
				oldName, whatsapp.StateNameChangeNeedsRegister, snap.Phone.VerifiedName, snap.Phone.NewNameStatus, snap.RegistrationState)
		}
		e.reg.NameApproved(ctx, got)
	})
	if err := e.sim.RequestNameChange(connectedID, newDisplayName, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.ApproveName(connectedID); err != nil {
		t.Fatal(err)
	}
	e.applyWebhook(in, nameUpdate(in, whatsapp.NameDecisionApproved, newDisplayName))
	if n := e.registerCalls(connectedID); n != 1 {
		t.Fatalf("approval webhook for a registered number: want exactly 1 register call at once, got %d (attempts %s)",
			n, attemptsSummary(e.attempts(in)))
	}
	if n, _ := e.sim.Number(connectedID); n.VerifiedName != newDisplayName {
		t.Errorf("at Meta: want the new name applied, got %q", n.VerifiedName)
	}
	m := e.monitor()
	e.clock.Advance(20 * time.Minute)
	e.sweep(m)
	if n := e.registerCalls(connectedID); n != 1 {
		t.Errorf("a sweep after the re-registration: want still 1 register call, got %d", n)
	}
}
