package health

import (
	"context"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// A fetch that started before an edit pointed the inbox at another number (a sweep, a
// refresh in flight) is about the old number: it must not be stored as the new one's.
func TestFetchOfTheOldNumberIsNotStoredAfterAnEdit(t *testing.T) {
	e := newRegEnv(t, "connected")
	ctx := context.Background()
	old := e.inbox("109876543210003")
	if err := e.sim.AddNumber(graphsim.Number{PhoneNumber: "+12125550196", PhoneNumberID: "109876543210033", WABAID: old.WABAID,
		DisplayPhoneNumber: "+1 212-555-0196"}); err != nil {
		t.Fatal(err)
	}
	oldPhone, err := e.client.PhoneNumber(ctx, "EAAsim-demo-token-padaria", old.PhoneNumberID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.reg.EditInbox(ctx, old, InboxFields{Name: old.Name, PhoneNumber: "+12125550196", PhoneNumberID: "109876543210033",
		WABAID: old.WABAID, BusinessID: old.BusinessID}, db.Actor{Name: "admin@example.test"})
	if err != nil || !res.Afresh {
		t.Fatalf("edit to another number: want it saved afresh, got %+v (%v)", res, err)
	}
	e.reg.Wait()
	before, err := e.store.LatestSnapshot(ctx, old.ID)
	if err != nil || before.Phone.ID != "109876543210033" {
		t.Fatalf("want the new number's health, got %+v (%v)", before.Phone, err)
	}
	// The late answers about the old number: one refresh, one sweep.
	if _, err := e.svc.Record(ctx, old, oldPhone, nil, db.SourceFetch); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RecordAll(ctx, []Fetched{{Inbox: old, Phone: oldPhone}}, db.SourceSweep); err != nil {
		t.Fatal(err)
	}
	after, err := e.store.LatestSnapshot(ctx, old.ID)
	if err != nil || after.ID != before.ID || after.Phone.ID != "109876543210033" {
		t.Errorf("a fetch of the old number was stored as the inbox's health: %+v", after.Phone)
	}
	// A fetch made for the inbox as it is now is stored.
	if _, err := e.svc.Record(ctx, res.Inbox, before.Phone, nil, db.SourceFetch); err != nil {
		t.Fatal(err)
	}
	// (The same answer again: change-only snapshots record it as one more look.)
	if latest, _ := e.store.LatestSnapshot(ctx, old.ID); latest.CheckCount != before.CheckCount+1 {
		t.Errorf("a fetch of the inbox's current number must be stored: want %d looks, got %d", before.CheckCount+1, latest.CheckCount)
	}
}
