package health_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

func change(field, value string) whatsapp.WebhookChange {
	return whatsapp.WebhookChange{Field: field, Value: json.RawMessage(value)}
}

// webhookInbox is one connected number that was already checked once.
func webhookInbox(t *testing.T, env *monitorEnv) db.Inbox {
	t.Helper()
	env.addBusiness(wabaThird, "token-third", 1)
	in := env.inboxes[wabaThird][0]
	if _, err := env.svc.Refresh(context.Background(), in, db.SourceFetch); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestApplyWebhookUpdatesHealthAtOnce(t *testing.T) {
	t.Parallel()
	env := newMonitorEnv(t)
	in := webhookInbox(t, env)
	digits := in.PhoneNumber[1:]
	ctx := context.Background()
	calls := len(env.sim.Requests())

	snap, recorded, err := env.svc.ApplyWebhook(ctx, in, change(whatsapp.WebhookFieldQualityUpdate,
		`{"display_phone_number":"`+digits+`","event":"FLAGGED","current_limit":"TIER_250"}`))
	if err != nil || !recorded {
		t.Fatalf("quality update: want a recorded snapshot, got recorded=%v err=%v", recorded, err)
	}
	if snap.Source != db.SourceWebhook || snap.Phone.Status != "FLAGGED" || snap.Phone.LimitTier() != "TIER_250" ||
		snap.OverallStatus != whatsapp.OverallRestricted {
		t.Errorf("quality update: want a webhook snapshot with status FLAGGED, tier TIER_250, overall restricted; got source=%q status=%q tier=%q overall=%q",
			snap.Source, snap.Phone.Status, snap.Phone.LimitTier(), snap.OverallStatus)
	}
	if latest := env.latest(in); latest.ID != snap.ID {
		t.Errorf("the webhook snapshot must be the latest: want id %d, got %d", snap.ID, latest.ID)
	}
	if got := len(env.sim.Requests()); got != calls {
		t.Errorf("a webhook with stored health must not call Meta: %d calls made", got-calls)
	}

	_, recorded, err = env.svc.ApplyWebhook(ctx, in, change(whatsapp.WebhookFieldQualityUpdate,
		`{"display_phone_number":"15550000000","event":"FLAGGED"}`))
	if err != nil || recorded {
		t.Errorf("a change about another number: want nothing recorded, got recorded=%v err=%v", recorded, err)
	}
}

func TestApplyWebhookWithoutHealthFetchesIt(t *testing.T) {
	t.Parallel()
	env := newMonitorEnv(t)
	env.addBusiness(wabaThird, "token-third", 1)
	in := env.inboxes[wabaThird][0]
	snap, recorded, err := env.svc.ApplyWebhook(context.Background(), in, change(whatsapp.WebhookFieldQualityUpdate,
		`{"event":"UPGRADE","current_limit":"TIER_10K"}`))
	if err != nil || !recorded {
		t.Fatalf("want a fetched snapshot, got recorded=%v err=%v", recorded, err)
	}
	if snap.Source != db.SourceWebhook || !snap.OK || env.sim.CountRequests(http.MethodGet, "/"+in.PhoneNumberID) != 1 {
		t.Errorf("want one fetch of the number stored with source webhook, got source=%q ok=%v", snap.Source, snap.OK)
	}
}

func TestApplyWebhookKeepsTheLastFetchError(t *testing.T) {
	t.Parallel()
	env := newMonitorEnv(t)
	in := webhookInbox(t, env)
	if err := env.sim.UpdateBusiness(wabaThird, func(b *graphsim.Business) { b.TokenExpired = true }); err != nil {
		t.Fatal(err)
	}
	if _, err := env.svc.Refresh(context.Background(), in, db.SourceFetch); err != nil {
		t.Fatal(err)
	}
	snap, recorded, err := env.svc.ApplyWebhook(context.Background(), in, change(whatsapp.WebhookFieldQualityUpdate,
		`{"event":"DOWNGRADE","current_limit":"TIER_50"}`))
	if err != nil || !recorded {
		t.Fatalf("want a recorded snapshot, got recorded=%v err=%v", recorded, err)
	}
	if snap.OK || snap.ErrorKind != whatsapp.KindTokenExpired || snap.Phone.LimitTier() != "TIER_50" {
		t.Errorf("want the new tier with the token error still shown, got ok=%v kind=%q tier=%q", snap.OK, snap.ErrorKind, snap.Phone.LimitTier())
	}
}

func TestApplyWebhookCallsTheNameApprovedHook(t *testing.T) {
	t.Parallel()
	env := newMonitorEnv(t)
	in := webhookInbox(t, env)
	var mu sync.Mutex
	var approved []int64
	env.svc.SetOnNameApproved(func(_ context.Context, got db.Inbox) {
		mu.Lock()
		defer mu.Unlock()
		approved = append(approved, got.ID)
	})
	ctx := context.Background()
	for _, decision := range []string{"PENDING", "REJECTED", "APPROVED"} {
		if _, _, err := env.svc.ApplyWebhook(ctx, in, change(whatsapp.WebhookFieldNameUpdate,
			`{"display_phone_number":"`+in.PhoneNumber[1:]+`","decision":"`+decision+`","requested_verified_name":"New Name"}`)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(approved) != 1 || approved[0] != in.ID {
		t.Errorf("OnNameApproved: want one call for inbox %d (the APPROVED decision only), got %v", in.ID, approved)
	}
	// The number is registered: the new name is a name change, approved but shown only
	// after the next register call, as Meta reports it.
	if snap := env.latest(in); snap.Phone.NewNameStatus != whatsapp.NameApproved || snap.Phone.VerifiedName == "New Name" {
		t.Errorf("after approval: want new_name_status APPROVED and the old name kept, got %q as %q", snap.Phone.NewNameStatus, snap.Phone.VerifiedName)
	}
	env.svc.SetOnNameApproved(nil) // removing the hook is allowed
	if _, _, err := env.svc.ApplyWebhook(ctx, in, change(whatsapp.WebhookFieldNameUpdate, `{"decision":"APPROVED"}`)); err != nil {
		t.Fatal(err)
	}
}
