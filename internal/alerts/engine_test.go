package alerts_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/alerts"
	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

func payloads(t *testing.T, bodies [][]byte) []alerts.Payload {
	t.Helper()
	out := make([]alerts.Payload, len(bodies))
	for i, b := range bodies {
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestOneAlertPerTransitionNotPerSweep(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	recv := newWebhookReceiver(t, 0)
	env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelWebhook, URL: recv.srv.URL, Secret: testSigningSecret})
	env.sweep()
	env.setNumber("Padaria Central — Support", func(n *graphsim.Number) { n.Status = "FLAGGED" })
	for range 4 {
		env.sweep()
		env.clock.Advance(15 * time.Minute)
		env.deliver()
	}
	if got := len(env.alertsOfKind(alerts.KindStatus)); got != 1 {
		t.Fatalf("four sweeps of one FLAGGED number made %d status alerts, want 1", got)
	}
	if bodies, _, _ := recv.accepted(); len(bodies) != 1 {
		t.Fatalf("receiver got %d alerts, want 1", len(bodies))
	}
}

func TestFlappingNumberProducesOneGroupedAlert(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	recv := newWebhookReceiver(t, 0)
	env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelWebhook, URL: recv.srv.URL, Secret: testSigningSecret,
		Kinds: []string{string(alerts.KindStatus)}})
	name := "Padaria Central — Support"
	env.sweep()
	// CONNECTED → FLAGGED → CONNECTED → FLAGGED → CONNECTED → FLAGGED, 5 minutes apart.
	for i, status := range []string{"FLAGGED", "CONNECTED", "FLAGGED", "CONNECTED", "FLAGGED"} {
		env.setNumber(name, func(n *graphsim.Number) { n.Status = status })
		env.sweep()
		env.deliver()
		if i < 4 {
			env.clock.Advance(5 * time.Minute)
		}
	}
	bodies, _, _ := recv.accepted()
	if len(bodies) != 1 {
		t.Fatalf("within the hour the receiver got %d alerts, want only the first", len(bodies))
	}
	list := env.alertsOfKind(alerts.KindStatus)
	if len(list) != 2 || list[1].State != db.AlertHeld || list[1].Count != 4 {
		t.Fatalf("alerts %+v: want the first sent and one held alert grouping the 4 later changes", list)
	}

	env.clock.Advance(41 * time.Minute) // an hour after the first alert
	env.deliver()
	bodies, _, _ = recv.accepted()
	if len(bodies) != 2 {
		t.Fatalf("after the hour the receiver got %d alerts in all, want 2 (the first and one grouped)", len(bodies))
	}
	grouped := payloads(t, bodies)[1]
	if grouped.Count != 4 || grouped.Type != "status.problem" || grouped.To != "FLAGGED" ||
		!strings.Contains(grouped.Reason, "changed 4 times") || !strings.Contains(grouped.Headline, "4 changes grouped") {
		t.Errorf("grouped alert = %+v", grouped)
	}
}

func TestRecoveryAlertFollowsTheProblem(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	recv := newWebhookReceiver(t, 0)
	env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelWebhook, URL: recv.srv.URL, Secret: testSigningSecret,
		Kinds: []string{string(alerts.KindStatus), string(alerts.KindQuality)}})
	name := "Padaria Central — Support"
	env.sweep()
	env.setNumber(name, func(n *graphsim.Number) { n.Status, n.QualityRating = "FLAGGED", "YELLOW" })
	env.sweep()
	env.deliver()
	env.clock.Advance(2 * time.Hour)
	env.setNumber(name, func(n *graphsim.Number) { n.Status, n.QualityRating = "CONNECTED", "GREEN" })
	env.sweep()
	env.deliver()

	bodies, _, _ := recv.accepted()
	got := map[string]alerts.Payload{}
	for _, p := range payloads(t, bodies) {
		got[p.Type] = p
	}
	if len(bodies) != 4 {
		t.Fatalf("want 4 alerts (status and quality, problem and recovery), got %d: %v", len(bodies), got)
	}
	rec, ok := got["status.recovered"]
	if !ok || rec.From != "FLAGGED" || rec.To != "CONNECTED" || !rec.Recovery || !strings.Contains(rec.Headline, "[Recovered]") ||
		!strings.Contains(rec.Headline, "back to CONNECTED") {
		t.Errorf("status recovery = %+v", rec)
	}
	if q, ok := got["quality.recovered"]; !ok || q.From != "YELLOW" || q.To != "GREEN" {
		t.Errorf("quality recovery = %+v", q)
	}
}

func TestBetterButNotRecoveredIsNotAlerted(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	name := "Padaria Central — Support"
	env.sweep()
	for _, q := range []string{"RED", "YELLOW"} {
		env.setNumber(name, func(n *graphsim.Number) { n.QualityRating = q })
		env.sweep()
		env.clock.Advance(2 * time.Hour)
	}
	list := env.alertsOfKind(alerts.KindQuality)
	if len(list) != 1 || list[0].To != "RED" {
		t.Fatalf("GREEN → RED → YELLOW made %+v, want only the drop to RED", list)
	}
	env.setNumber(name, func(n *graphsim.Number) { n.QualityRating = "GREEN" })
	env.sweep()
	list = env.alertsOfKind(alerts.KindQuality)
	if len(list) != 2 || list[1].Type != "quality.recovered" || list[1].From != "YELLOW" {
		t.Fatalf("back to GREEN: %+v, want a recovery from YELLOW", list)
	}
}

func TestMessagingLimitDropAndRestore(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	name := "Padaria Central — Support"
	env.sweep()
	before := ""
	env.setNumber(name, func(n *graphsim.Number) { before = n.BusinessMessagingLimit; n.BusinessMessagingLimit = "TIER_50" })
	env.sweep()
	env.clock.Advance(2 * time.Hour)
	env.setNumber(name, func(n *graphsim.Number) { n.BusinessMessagingLimit = before })
	env.sweep()
	list := env.alertsOfKind(alerts.KindMessagingLimit)
	if len(list) != 2 || list[0].Type != "messaging_limit.problem" || list[0].To != "TIER_50" ||
		list[1].Type != "messaging_limit.recovered" || list[1].To != before {
		t.Fatalf("limit %s → TIER_50 → back: %+v", before, list)
	}
}

func TestTokenStoppingIsAlertedAndItsRecovery(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	in := env.inbox("Padaria Central — Support")
	ctx := context.Background()
	if _, err := env.svc.Refresh(ctx, in, db.SourceFetch); err != nil {
		t.Fatal(err)
	}
	env.engine.Idle()
	env.sim.FailNext("GET", "/"+in.PhoneNumberID, 401, graphsim.GraphError{Code: 190, Message: "Error validating access token: Session has expired", Type: "OAuthException"})
	if _, err := env.svc.Refresh(ctx, in, db.SourceFetch); err != nil {
		t.Fatal(err)
	}
	env.engine.Idle()
	list := env.alertsOfKind(alerts.KindToken)
	if len(list) != 1 || list[0].To != string(whatsapp.KindTokenExpired) || list[0].Remedy == "" {
		t.Fatalf("an expired token: %+v, want one token alert with a remedy", list)
	}
	env.clock.Advance(2 * time.Hour)
	if _, err := env.svc.Refresh(ctx, in, db.SourceFetch); err != nil {
		t.Fatal(err)
	}
	env.engine.Idle()
	if list = env.alertsOfKind(alerts.KindToken); len(list) != 2 || list[1].Type != "token.recovered" {
		t.Fatalf("token working again: %+v", list)
	}
}

func TestRegistrationNotDoneAfterADayIsAlerted(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "pending_provisioning")
	env.sweep()
	if got := env.alertsOfKind(alerts.KindRegistration); len(got) != 0 {
		t.Fatalf("a number added just now: %+v, want no registration alert yet", got)
	}
	env.clock.Advance(25 * time.Hour)
	env.sweep()
	list := env.alertsOfKind(alerts.KindRegistration)
	if len(list) != 1 || list[0].To != "overdue" || !strings.Contains(list[0].Reason, "Still not registered 25 hours after the number was added") {
		t.Fatalf("25 hours later: %+v, want one overdue registration alert", list)
	}
}

func TestDeclinedDisplayNameNeedsAPerson(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "name_in_review")
	env.sweep()
	env.setNumber("Blue Harbor Travel", func(n *graphsim.Number) { n.NameStatus = "DECLINED" })
	env.sweep()
	list := env.alertsOfKind(alerts.KindRegistration)
	if len(list) != 1 || list[0].To != "display_name_declined" || list[0].Reason == "" || list[0].Remedy == "" {
		t.Fatalf("name declined: %+v, want a registration alert with reason and remedy", list)
	}
}

func TestAccountEventsAreAlerted(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	in := env.inbox("Padaria Central — Support")
	env.sweep()
	ctx := context.Background()
	apply := func(value string) {
		t.Helper()
		change := whatsapp.WebhookChange{Field: whatsapp.WebhookFieldAccountUpdate, Value: json.RawMessage(value)}
		if _, _, err := env.svc.ApplyWebhook(ctx, in, change); err != nil {
			t.Fatal(err)
		}
		env.engine.Idle()
	}
	apply(`{"event":"ACCOUNT_VIOLATION","violation_info":{"violation_type":"SCAM"}}`)
	apply(`{"event":"PARTNER_ADDED"}`) // needs nobody: no alert
	env.clock.Advance(2 * time.Hour)
	apply(`{"event":"ACCOUNT_RECONNECTED"}`)
	list := env.alertsOfKind(alerts.KindAccountEvent)
	if len(list) != 2 || list[0].Type != "account_event.problem" || list[0].To != "ACCOUNT_VIOLATION" ||
		list[1].Type != "account_event.recovered" {
		t.Fatalf("account events: %+v", list)
	}
}

func TestWebhookSilenceForAWeekIsAlerted(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	in := env.inbox("Padaria Central — Support")
	ctx := context.Background()
	subscribed := env.clock.Now()
	if err := env.store.SetWebhookSubscription(ctx, in.ID, &subscribed, ""); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		if err := env.engine.CheckWebhookSilence(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check()
	env.clock.Advance(6 * 24 * time.Hour)
	check()
	if got := env.alertsOfKind(alerts.KindWebhooksSilent); len(got) != 0 {
		t.Fatalf("6 days without webhooks: %+v, want no alert yet", got)
	}
	env.clock.Advance(25 * time.Hour)
	check()
	if got := env.alertsOfKind(alerts.KindWebhooksSilent); len(got) != 1 || got[0].Type != "webhooks_silent.problem" {
		t.Fatalf("7 days without webhooks: %+v, want one alert", got)
	}
	if _, err := env.store.AddWebhookEvent(ctx, db.WebhookEvent{WABAID: in.WABAID, Field: whatsapp.WebhookFieldQualityUpdate,
		Payload: `{}`, ReceivedAt: env.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	env.clock.Advance(2 * time.Hour)
	check()
	if got := env.alertsOfKind(alerts.KindWebhooksSilent); len(got) != 2 || got[1].Type != "webhooks_silent.recovered" {
		t.Fatalf("a webhook arrived: %+v, want the recovery", got)
	}
}

func TestDestinationGetsOnlyItsKinds(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	qualityOnly := newWebhookReceiver(t, 0)
	everything := newWebhookReceiver(t, 0)
	env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelWebhook, URL: qualityOnly.srv.URL, Secret: testSigningSecret,
		Kinds: []string{string(alerts.KindQuality)}})
	env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelWebhook, URL: everything.srv.URL, Secret: testSigningSecret})
	env.sweep()
	env.setNumber("Padaria Central — Support", func(n *graphsim.Number) { n.Status = "FLAGGED" })
	env.sweep()
	env.deliver()
	if b, _, _ := qualityOnly.accepted(); len(b) != 0 {
		t.Errorf("a quality-only destination got a status alert")
	}
	if b, _, _ := everything.accepted(); len(b) != 1 {
		t.Errorf("an all-kinds destination got %d alerts, want 1", len(b))
	}
}

func TestAlertsOlderThanTheRetentionArePruned(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	recv := newWebhookReceiver(t, 0)
	env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelWebhook, URL: recv.srv.URL, Secret: testSigningSecret})
	env.sweep()
	env.setNumber("Padaria Central — Support", func(n *graphsim.Number) { n.Status = "FLAGGED" })
	env.sweep()
	env.deliver()
	if got := len(env.alerts()); got != 1 {
		t.Fatalf("want 1 alert, got %d", got)
	}
	env.clock.Advance(db.AlertRetention - time.Hour)
	env.deliver()
	if got := len(env.alerts()); got != 1 {
		t.Fatalf("an alert younger than the retention was pruned")
	}
	env.clock.Advance(2 * time.Hour)
	env.deliver()
	if got := len(env.alerts()); got != 0 {
		t.Fatalf("an alert older than %s is kept (%d alerts)", db.AlertRetention, got)
	}
}

func TestDigestDestinationGetsOneDailyDigestInsteadOfEachAlert(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	// Start just after 09:00 UTC so the digest hour (08:00) is tomorrow.
	now := env.clock.Now()
	env.clock.Advance(time.Date(now.Year(), now.Month(), now.Day()+1, 9, 0, 30, 0, time.UTC).Sub(now))
	digest := newWebhookReceiver(t, 0)
	immediate := newWebhookReceiver(t, 0)
	env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelWebhook, URL: digest.srv.URL, Secret: testSigningSecret, Digest: true,
		Kinds: []string{string(alerts.KindStatus)}})
	env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelWebhook, URL: immediate.srv.URL, Secret: testSigningSecret})
	name := "Padaria Central — Support"
	env.sweep()
	env.setNumber(name, func(n *graphsim.Number) { n.Status = "FLAGGED" })
	env.sweep()
	env.deliver()
	if b, _, _ := immediate.accepted(); len(b) != 1 {
		t.Fatalf("the immediate destination got %d alerts, want 1", len(b))
	}
	if b, _, _ := digest.accepted(); len(b) != 0 {
		t.Fatalf("the digest destination got an alert as it happened")
	}
	env.clock.Advance(22*time.Hour + 58*time.Minute) // 07:59 the next day
	env.deliver()
	if b, _, _ := digest.accepted(); len(b) != 0 {
		t.Fatalf("a digest went out before 08:00: %s", b[0])
	}
	env.clock.Advance(2 * time.Minute)
	env.deliver()
	bodies, _, _ := digest.accepted()
	if len(bodies) != 1 {
		t.Fatalf("at 08:00 the digest destination got %d messages, want 1 digest", len(bodies))
	}
	p := payloads(t, bodies)[0]
	if p.Type != "digest" || p.Count != 1 || !strings.Contains(p.Reason, name+": status changed (CONNECTED → FLAGGED)") ||
		!strings.Contains(p.Headline, "1 alert in the last 24 hours") {
		t.Errorf("digest = %+v", p)
	}
	env.deliver()
	env.clock.Advance(24 * time.Hour)
	env.deliver()
	bodies, _, _ = digest.accepted()
	if len(bodies) != 2 {
		t.Fatalf("a day later: %d digests in all, want 2", len(bodies))
	}
	if p := payloads(t, bodies)[1]; p.Count != 0 || !strings.Contains(p.Reason, "No alerts in the last 24 hours") {
		t.Errorf("quiet day digest = %+v", p)
	}
}

// A reading older than one already looked at (a slow sweep answered after a webhook)
// says nothing new, and must not undo what the newer one said.
func TestAnOlderReadingArrivingLateIsIgnored(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	in := env.inbox("Padaria Central — Support")
	env.sweep()
	latest, err := env.store.LatestSnapshot(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	reading := func(status string, after time.Duration) db.HealthSnapshot {
		s := latest
		phone := *latest.Phone
		phone.Status = status
		s.Phone, s.CheckedAt = &phone, latest.CheckedAt.Add(after)
		return s
	}
	ctx := context.Background()
	if err := env.engine.Observe(ctx, in, reading("FLAGGED", 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := env.engine.Observe(ctx, in, reading("CONNECTED", time.Minute)); err != nil {
		t.Fatal(err)
	}
	list := env.alertsOfKind(alerts.KindStatus)
	if len(list) != 1 || list[0].Type != "status.problem" {
		t.Fatalf("a late older reading: %+v, want only the FLAGGED alert", list)
	}
}

// An inbox edited to show another number starts afresh: what the old number was is no
// baseline for the new one, so the new number's first reading raises nothing.
func TestAnInboxEditedToAnotherNumberStartsAfresh(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	sc, err := graphsim.LoadScenario("flagged_blocked") // a FLAGGED, RED number with no inbox
	if err != nil {
		t.Fatal(err)
	}
	if err := env.sim.Load(sc); err != nil {
		t.Fatal(err)
	}
	env.sweep() // the connected number: CONNECTED, GREEN
	in := env.inbox("Padaria Central — Support")
	n, b := sc.Numbers[0], sc.Businesses[0]
	if _, err := env.store.UpdateInbox(context.Background(), in.ID, db.InboxEdit{Name: in.Name, PhoneNumber: n.PhoneNumber,
		PhoneNumberID: n.PhoneNumberID, WABAID: n.WABAID, AccessToken: b.AccessToken, StartAfresh: true,
		MetaCheck: db.MetaCheckPassed, Change: db.InboxChange{Action: db.ChangeEdited, Actor: db.Actor{Name: "test"}}}); err != nil {
		t.Fatal(err)
	}
	env.sweep()
	env.sweep()
	if got := env.alerts(); len(got) != 0 {
		t.Fatalf("the new number's readings were compared with the old number's: %+v", got)
	}
}
