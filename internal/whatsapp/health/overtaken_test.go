package health

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// A refresh whose answer the simulator holds back while the number changes and a sweep
// stores the change: the late answer, asked for first, is older news than the sweep's.
// heldFault, when set, is the error Meta gives the held refresh.
func overtakenRefresh(t *testing.T, heldFault *graphsim.GraphError) (e *regEnv, in db.Inbox, late db.HealthSnapshot) {
	t.Helper()
	e = newRegEnv(t, "connected")
	in = e.inbox("109876543210003")
	first := e.refresh(in)
	if !first.OK || first.Phone.QualityRating == "RED" {
		t.Fatalf("first look: want a good answer that is not RED, got %+v", first)
	}

	path := "/" + in.PhoneNumberID
	release := e.sim.HoldNext(http.MethodGet, path)
	defer release()
	if heldFault != nil {
		e.sim.FailNext(http.MethodGet, path, http.StatusInternalServerError, *heldFault)
	}
	asked := e.sim.CountRequests(http.MethodGet, path)
	done := make(chan db.HealthSnapshot, 1)
	go func() {
		snap, err := e.svc.Refresh(context.Background(), in, db.SourceFetch)
		if err != nil {
			t.Errorf("held refresh: %v", err)
		}
		done <- snap
	}()
	for i := 0; e.sim.CountRequests(http.MethodGet, path) == asked; i++ {
		if i > 2000 {
			t.Fatal("the held refresh never reached the simulator")
		}
		time.Sleep(time.Millisecond)
	}

	// Meanwhile the number turns RED and a sweep, asked later, stores it.
	e.clock.Advance(time.Minute)
	if err := e.sim.UpdateNumber(in.PhoneNumberID, func(n *graphsim.Number) { n.QualityRating = "RED" }); err != nil {
		t.Fatal(err)
	}
	e.sweep(e.monitor())
	if got := e.latest(in); !got.OK || got.Phone.QualityRating != "RED" {
		t.Fatalf("after the sweep: want RED stored, got %+v", got)
	}
	e.clock.Advance(time.Minute) // the late answer lands later still
	release()
	select {
	case late = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the held refresh did not return after its answer was released")
	}
	return e, in, late
}

func TestALateAnswerDoesNotReplaceNewerHealth(t *testing.T) {
	e, in, late := overtakenRefresh(t, nil)
	latest := e.latest(in)
	if latest.Phone.QualityRating != "RED" {
		t.Fatalf("the late GREEN answer replaced the newer RED: latest %+v", latest.Phone)
	}
	if late.ID != latest.ID || late.Phone.QualityRating != "RED" {
		t.Errorf("the overtaken refresh must return the newest health, got %+v", late)
	}
	changes, _ := e.store.HealthChanges(context.Background(), in.ID, 0)
	if len(changes) != 1 || changes[0].To != "RED" {
		t.Errorf("changes: want one, to RED, got %+v", changes)
	}
}

func TestALateErrorDoesNotReplaceANewerSuccess(t *testing.T) {
	e, in, late := overtakenRefresh(t, &graphsim.GraphError{Message: "An unexpected error has occurred.", Type: "OAuthException", Code: 2})
	latest := e.latest(in)
	if !latest.OK || latest.ErrorKind != whatsapp.KindNone || latest.Phone.QualityRating != "RED" {
		t.Fatalf("the late error replaced the newer success: latest %+v", latest)
	}
	if !late.OK || late.ID != latest.ID {
		t.Errorf("the overtaken refresh must return the newest (good) health, got %+v", late)
	}
}
