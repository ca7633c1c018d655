package health

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/pgtest"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

var regT0 = time.Date(2025, 10, 1, 9, 0, 0, 0, time.UTC)

const regFrontendURL = "https://inbox.example.test"

// regEnv is the registrar against the simulator over real HTTP, on one fake clock.
type regEnv struct {
	t       *testing.T
	sim     *graphsim.Server
	clock   *graphsim.FakeClock
	store   *db.Store
	dbPath  string
	cipher  *db.Cipher
	client  *whatsapp.Client
	svc     *Service
	reg     *Registrar
	logs    *syncBuffer
	account int64
	userID  int64
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newRegEnv(t *testing.T, scenarios ...string) *regEnv {
	t.Helper()
	clock := graphsim.NewFakeClock(regT0)
	sim := graphsim.New(graphsim.Config{AppSecret: "test-app-secret", Clock: clock, Seed: 7})
	for _, name := range scenarios {
		sc, err := graphsim.LoadScenario(name)
		if err != nil {
			t.Fatalf("LoadScenario(%q): %v", name, err)
		}
		if err := sim.Load(sc); err != nil {
			t.Fatalf("Load(%q): %v", name, err)
		}
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(func() { ts.Close(); sim.Close() })

	cipher, err := db.NewCipher("registrar-test-secret")
	if err != nil {
		t.Fatal(err)
	}
	e := &regEnv{t: t, sim: sim, clock: clock, cipher: cipher, dbPath: pgtest.Database(t, filepath.Join(t.TempDir(), "app.db")), logs: &syncBuffer{}}
	e.client = whatsapp.NewClient(ts.URL+sim.Prefix(), nil, whatsapp.WithRetry(1, 0, 0))
	e.open()
	u, err := e.store.CreateUser(context.Background(), "admin@example.test", "correct horse battery", "Acme", db.RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	e.account, e.userID = u.AccountID, u.UserID
	return e
}

// open opens the store (again) on the same file and builds the services on it, as a
// process starting would.
func (e *regEnv) open() {
	e.t.Helper()
	store, err := db.Open(context.Background(), e.dbPath, e.cipher)
	if err != nil {
		e.t.Fatalf("open store: %v", err)
	}
	store.SetClock(e.clock.Now)
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.store = store
	e.svc = NewService(store, e.client, Options{Now: e.clock.Now, Logger: logger})
	e.reg = NewRegistrar(store, e.client, e.svc, RegistrarOptions{FrontendURL: regFrontendURL, Logger: logger, Now: e.clock.Now})
	e.t.Cleanup(func() { e.reg.Close(); e.svc.Close(); store.Close() })
}

// inbox creates the inbox of a simulated number, with its business's token.
func (e *regEnv) inbox(phoneNumberID string) db.Inbox {
	e.t.Helper()
	n, ok := e.sim.Number(phoneNumberID)
	if !ok {
		e.t.Fatalf("simulator has no number %s", phoneNumberID)
	}
	b, ok := e.sim.Business(n.WABAID)
	if !ok {
		e.t.Fatalf("simulator has no business %s", n.WABAID)
	}
	in, err := e.store.CreateInbox(context.Background(), db.NewInbox{AccountID: e.account, Name: n.InboxName,
		PhoneNumber: n.PhoneNumber, PhoneNumberID: n.PhoneNumberID, WABAID: n.WABAID, BusinessID: b.BusinessID,
		AccessToken: b.AccessToken})
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

func (e *regEnv) register(in db.Inbox, req Request) Result {
	e.t.Helper()
	res, err := e.reg.Register(context.Background(), in, req)
	if err != nil {
		e.t.Fatalf("Register(%s): %v", req.Trigger, err)
	}
	return res
}

func (e *regEnv) registerCalls(id string) int {
	return e.sim.CountRequests(http.MethodPost, "/"+id+"/register")
}

func (e *regEnv) reload(in db.Inbox) db.Inbox {
	e.t.Helper()
	cur, err := e.store.InboxByID(context.Background(), in.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return cur
}

func (e *regEnv) secrets(in db.Inbox) db.InboxSecrets {
	e.t.Helper()
	s, err := e.store.Secrets(context.Background(), in.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *regEnv) attempts(in db.Inbox) []db.RegistrationAttempt {
	e.t.Helper()
	a, err := e.store.Attempts(context.Background(), in.ID, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *regEnv) person() Request {
	id := e.userID
	return Request{Trigger: db.TriggerBanner, UserID: &id}
}

// Simulated numbers (graphsim/scenarios).
const (
	pendingID      = "109876543210001" // pending_provisioning
	inReviewID     = "109876543210002" // name_in_review
	connectedID    = "109876543210003" // connected
	pinSetID       = "109876543210007" // pin_already_set (Meta holds 246810)
	limitReachedID = "109876543210008" // register_limit_reached
	metaHeldPIN    = "246810"
)

func TestRegisterNameInReviewMakesNoCall(t *testing.T) {
	e := newRegEnv(t, "name_in_review")
	in := e.inbox(inReviewID)

	for _, req := range []Request{{Trigger: db.TriggerAutomatic}, {Trigger: db.TriggerWebhook}, {Trigger: db.TriggerSetup}} {
		if res := e.register(in, req); res.Outcome != OutcomeDeferred || res.State != whatsapp.StateWaitingForDisplayName {
			t.Errorf("%s trigger while the name is in review: want deferred/waiting_for_display_name, got %s/%s", req.Trigger, res.Outcome, res.State)
		}
	}
	res := e.register(in, e.person())
	if res.Outcome != OutcomeDeferred || !res.NeedsConfirmation {
		t.Errorf("a click while the name is in review: want deferred asking for confirmation, got %s (needs confirmation %v)", res.Outcome, res.NeedsConfirmation)
	}
	if n := e.registerCalls(inReviewID); n != 0 {
		t.Fatalf("register calls while the name is in review: want 0, got %d", n)
	}
	if s := e.secrets(in); s.PINState != db.PINStateNone {
		t.Errorf("no call means no PIN made: want PIN state none, got %s", s.PINState)
	}
	if cur := e.reload(in); cur.RegistrationNextRetryAt == nil {
		t.Errorf("a machine deferred while waiting must plan an automatic check, got no next retry")
	}

	// "Try anyway": one call, which Meta refuses with 2388001, explained in plain words.
	confirmed := e.person()
	confirmed.Confirmed = true
	res = e.register(in, confirmed)
	if res.Outcome != OutcomeFailed || res.Kind != whatsapp.KindDisplayNameNotReady {
		t.Fatalf("try anyway: want failed display_name_not_ready, got %s %s", res.Outcome, res.Kind)
	}
	if !strings.Contains(res.Explanation().Title, "display name") {
		t.Errorf("explanation: want it to speak of the display name, got %q", res.Explanation().Title)
	}
	if n := e.registerCalls(inReviewID); n != 1 {
		t.Errorf("try anyway: want exactly 1 register call, got %d", n)
	}
	if a := e.attempts(in); len(a) == 0 || a[0].GraphCode != 100 || a[0].GraphSubcode != 2388001 || a[0].Trigger != db.TriggerBanner {
		t.Errorf("attempt: want the latest recorded with code 100/2388001 and trigger banner, got %+v", a)
	}
}

func TestNameApprovedWebhookRegistersWithOneCall(t *testing.T) {
	e := newRegEnv(t, "name_in_review")
	in := e.inbox(inReviewID)
	e.svc.SetOnNameApproved(e.reg.NameApproved)
	if res := e.register(in, Request{Trigger: db.TriggerAutomatic}); res.Outcome != OutcomeDeferred {
		t.Fatalf("before approval: want deferred, got %s", res.Outcome)
	}

	if err := e.sim.ApproveName(inReviewID); err != nil {
		t.Fatal(err)
	}
	change := whatsapp.WebhookChange{Field: "phone_number_name_update",
		Value: json.RawMessage(`{"display_phone_number":"14155550118","decision":"APPROVED","requested_verified_name":"Blue Harbor Travel"}`)}
	if _, _, err := e.svc.ApplyWebhook(context.Background(), in, change); err != nil {
		t.Fatalf("apply webhook: %v", err)
	}
	e.reg.Wait()

	if n := e.registerCalls(inReviewID); n != 1 {
		t.Fatalf("after the APPROVED webhook: want exactly 1 register call, got %d", n)
	}
	attempts := e.attempts(in)
	if len(attempts) != 1 || attempts[0].Outcome != db.OutcomeRegistered || attempts[0].Trigger != db.TriggerWebhook {
		t.Fatalf("attempts: want one registered attempt triggered by the webhook, got %+v", attempts)
	}
	latest, err := e.store.LatestSnapshot(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if latest.RegistrationState != string(whatsapp.StateRegistered) || latest.Source != db.SourceRegistration {
		t.Errorf("health after success: want a fresh registration snapshot saying registered, got %s from %s", latest.RegistrationState, latest.Source)
	}
	if cur := e.reload(in); cur.RegistrationNextRetryAt != nil || cur.WebhookSubscribedAt == nil {
		t.Errorf("after success: want no retry planned and the webhook subscribed, got next retry %v, subscribed %v (%q)",
			cur.RegistrationNextRetryAt, cur.WebhookSubscribedAt, cur.WebhookSubscriptionError)
	}
	if s := e.secrets(in); s.PINState != db.PINStateConfirmed || s.PIN != e.sim.ReceivedPIN(inReviewID) {
		t.Errorf("PIN: want the one Meta received, confirmed; got state %s, same as Meta's: %v", s.PINState, s.PIN == e.sim.ReceivedPIN(inReviewID))
	}
}

func TestRegisterProvisionedNumberMakesNoCall(t *testing.T) {
	e := newRegEnv(t, "connected")
	in := e.inbox(connectedID)
	for _, req := range []Request{e.person(), {Trigger: db.TriggerAutomatic}, {Trigger: db.TriggerAPI}} {
		if res := e.register(in, req); res.Outcome != OutcomeSkipped || res.State != whatsapp.StateRegistered {
			t.Errorf("%s on a provisioned number: want skipped/registered, got %s/%s", req.Trigger, res.Outcome, res.State)
		}
	}
	if n := e.registerCalls(connectedID); n != 0 {
		t.Fatalf("register calls for a provisioned number: want 0, got %d", n)
	}
}

func TestRegisterSuccessSubscribesWebhookAndNeverLogsSecrets(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)
	res := e.register(in, e.person())
	if res.Outcome != OutcomeRegistered || !res.WebhookSubscribed {
		t.Fatalf("want registered with the webhook subscribed, got %s (webhook error %q)", res.Outcome, res.WebhookError)
	}
	if res.Snapshot == nil || DecisionFor(db.Inbox{}, res.Snapshot).State != whatsapp.StateRegistered {
		t.Errorf("result health: want a snapshot saying registered, got %+v", res.Snapshot)
	}
	b, _ := e.sim.Business(in.WABAID)
	// The app is subscribed without an override: Meta sends the account's webhooks to
	// the app's own callback, and the customer's message webhooks stay where they are.
	if b.Subscription == nil || b.Subscription.OverrideCallbackURI != "" || b.Subscription.VerifyToken != "" {
		t.Errorf("subscription at Meta: want the app subscribed with no override, got %+v", b.Subscription)
	}
	pin := e.secrets(in).PIN
	for _, secret := range []string{pin, "EAAsim-demo-token-acme", in.WebhookVerifyToken} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("logs must never hold a PIN, token or verify token; found %q in:\n%s", secret, e.logs.String())
		}
	}
}

func TestRegisterWebhookSubscriptionFailureIsReported(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)
	e.sim.FailNext(http.MethodPost, "/"+in.WABAID+"/subscribed_apps", http.StatusForbidden,
		graphsim.GraphError{Code: 200, Message: "(#200) Permissions error"})
	res := e.register(in, e.person())
	if res.Outcome != OutcomeRegistered {
		t.Fatalf("want registered, got %s", res.Outcome)
	}
	if res.WebhookSubscribed || res.WebhookError == "" {
		t.Fatalf("a failed subscription must be reported: got subscribed=%v error=%q", res.WebhookSubscribed, res.WebhookError)
	}
	if cur := e.reload(in); cur.WebhookSubscriptionError == "" || cur.WebhookSubscribedAt != nil {
		t.Errorf("the inbox must record the failed subscription, got %+v", cur)
	}
}

func TestFiftyConcurrentClicksMakeOneRegisterCall(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)
	release := e.sim.HoldRegister(pendingID) // the winner's call stays open while the others arrive
	defer release()

	const clicks = 50
	results := make(chan Result, clicks)
	for range clicks {
		go func() {
			res, err := e.reg.Register(context.Background(), in, e.person())
			if err != nil {
				t.Errorf("Register: %v", err)
			}
			results <- res
		}()
	}
	outcomes := map[Outcome]int{}
	for range clicks - 1 {
		outcomes[(<-results).Outcome]++
	}
	release()
	outcomes[(<-results).Outcome]++

	if n := e.registerCalls(pendingID); n != 1 {
		t.Fatalf("50 concurrent clicks: want exactly 1 register call, got %d", n)
	}
	if outcomes[OutcomeRegistered] != 1 || outcomes[OutcomeDeferred] != clicks-1 {
		t.Errorf("outcomes: want 1 registered and %d deferred (already in progress), got %v", clicks-1, outcomes)
	}
	if a := e.attempts(in); len(a) != 1 {
		t.Errorf("attempts: the clicks that found one in progress record nothing; want 1 attempt, got %d", len(a))
	}
}

func TestTwoProcessesOnOneDatabaseMakeOneRegisterCall(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)
	first := e.reg
	e.open() // a second process: its own store pool and registrar on the same file
	second := e.reg
	release := e.sim.HoldRegister(pendingID)
	defer release()

	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[Outcome]int{}
	for i := range 20 {
		reg := first
		if i%2 == 1 {
			reg = second
		}
		wg.Go(func() {
			res, err := reg.Register(context.Background(), in, Request{Trigger: db.TriggerAutomatic})
			if err != nil {
				t.Errorf("Register: %v", err)
			}
			mu.Lock()
			outcomes[res.Outcome]++
			if outcomes[OutcomeDeferred] == 19 {
				release()
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if n := e.registerCalls(pendingID); n != 1 {
		t.Fatalf("two processes racing: want exactly 1 register call, got %d (outcomes %v)", n, outcomes)
	}
}

// Even after the winner let go of the lease, a late click sees the registration and
// makes no call.
func TestLateClickAfterSuccessMakesNoCall(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)
	if res := e.register(in, e.person()); res.Outcome != OutcomeRegistered {
		t.Fatalf("first click: want registered, got %s", res.Outcome)
	}
	if res := e.register(in, e.person()); res.Outcome != OutcomeSkipped {
		t.Fatalf("second click: want skipped, got %s", res.Outcome)
	}
	if n := e.registerCalls(pendingID); n != 1 {
		t.Fatalf("want 1 register call, got %d", n)
	}
}

func TestRegisterLimitReachedAtMetaIsNotTriedAgain(t *testing.T) {
	e := newRegEnv(t, "register_limit_reached")
	in := e.inbox(limitReachedID)
	res := e.register(in, e.person())
	if res.Outcome != OutcomeFailed || res.Kind != whatsapp.KindRegisterRateLimited || res.NextRetryAt == nil {
		t.Fatalf("first click: want failed register_rate_limited with a next retry, got %s %s %v", res.Outcome, res.Kind, res.NextRetryAt)
	}
	if want := e.clock.Now().Add(72 * time.Hour); !res.NextRetryAt.Equal(want) {
		t.Errorf("next retry: want when Meta's window frees (%s), got %s", want, res.NextRetryAt)
	}
	for _, req := range []Request{e.person(), {Trigger: db.TriggerAPI}, {Trigger: db.TriggerAutomatic}} {
		if res := e.register(in, req); res.Outcome != OutcomeDeferred || res.Kind != whatsapp.KindRegisterRateLimited {
			t.Errorf("%s after 133016: want deferred register_rate_limited without a call, got %s %s", req.Trigger, res.Outcome, res.Kind)
		}
	}
	if n := e.registerCalls(limitReachedID); n != 1 {
		t.Fatalf("after Meta's 133016: want no further call, got %d calls in all", n)
	}
	st, err := e.reg.Status(context.Background(), e.reload(in))
	if err != nil {
		t.Fatal(err)
	}
	if st.AttemptsLeft != 0 || st.BlockedUntil == nil {
		t.Errorf("status: want 0 attempts left and a time when it frees, got %+v", st)
	}

	e.clock.Advance(72*time.Hour + time.Minute)
	if res := e.register(in, e.person()); res.Outcome != OutcomeRegistered {
		t.Fatalf("after the window freed: want registered, got %s %s (%s)", res.Outcome, res.Kind, res.Reason)
	}
}

// failRegisterTransiently makes Meta's next register call answer a transient 500.
func (e *regEnv) failRegisterTransiently(id string) {
	e.sim.FailNext(http.MethodPost, "/"+id+"/register", http.StatusInternalServerError,
		graphsim.GraphError{Code: 2, Message: "An unexpected error has occurred. Please retry your request later."})
}

func TestEleventhCallInSeventyTwoHoursIsNeverSent(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)

	// Machines stop at 8, keeping 2 for people: the first automatic attempt, then
	// each retry the monitor finds due.
	e.failRegisterTransiently(pendingID)
	e.register(in, Request{Trigger: db.TriggerAutomatic})
	for range RegisterLimit - ReservedForPeople {
		in = e.reload(in)
		if in.RegistrationNextRetryAt == nil {
			t.Fatalf("after %d automatic calls: want a retry planned", e.registerCalls(pendingID))
		}
		e.clock.Set(*in.RegistrationNextRetryAt)
		e.failRegisterTransiently(pendingID)
		if err := e.reg.RetryDue(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.registerCalls(pendingID); n != RegisterLimit-ReservedForPeople {
		t.Fatalf("automatic calls in one window: want %d, got %d", RegisterLimit-ReservedForPeople, n)
	}
	firstCall := e.attempts(in)[RegisterLimit-ReservedForPeople-1].StartedAt
	if next := e.reload(in).RegistrationNextRetryAt; next == nil || !next.Equal(firstCall.Add(RegisterWindow)) {
		t.Errorf("paused machines: want the next retry when the oldest call leaves the window (%s), got %v", firstCall.Add(RegisterWindow), next)
	}
	e.sim.ClearFaults()
	// The two kept for people: both sent; then the 11th is refused without a call.
	for range ReservedForPeople {
		e.failRegisterTransiently(pendingID)
		if res := e.register(in, e.person()); res.Outcome != OutcomeFailed {
			t.Fatalf("a click with calls left: want the call made (failed transiently), got %s (%s)", res.Outcome, res.Reason)
		}
	}
	e.sim.ClearFaults()
	res := e.register(in, e.person())
	if res.Outcome != OutcomeDeferred || res.Kind != whatsapp.KindRegisterRateLimited || res.NextRetryAt == nil {
		t.Fatalf("11th: want deferred register_rate_limited with the time it frees, got %s %s", res.Outcome, res.Kind)
	}
	if n := e.registerCalls(pendingID); n != RegisterLimit {
		t.Fatalf("want exactly %d register calls sent, got %d", RegisterLimit, n)
	}
	if !strings.Contains(res.Reason, "10 registration attempts") {
		t.Errorf("reason: want it to explain the limit in plain words, got %q", res.Reason)
	}

	// The window moves: once the oldest call is 72 h old, one more may go.
	e.clock.Set(res.NextRetryAt.Add(time.Second))
	if res := e.register(in, e.person()); res.Outcome != OutcomeRegistered {
		t.Fatalf("after the oldest call left the window: want registered, got %s %s (%s)", res.Outcome, res.Kind, res.Reason)
	}
	if n := e.registerCalls(pendingID); n != RegisterLimit+1 {
		t.Errorf("want one more call once the window moved, got %d in all", n)
	}
}

func TestAutomaticRetryBacksOffAndHonoursWaits(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)

	var waits []time.Duration
	for range 4 {
		e.failRegisterTransiently(pendingID)
		before := e.clock.Now()
		e.register(in, Request{Trigger: db.TriggerAutomatic})
		in = e.reload(in)
		if in.RegistrationNextRetryAt == nil {
			t.Fatal("a transient failure must plan a retry")
		}
		waits = append(waits, in.RegistrationNextRetryAt.Sub(before))
		e.clock.Set(*in.RegistrationNextRetryAt)
	}
	want := []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("backoff %d: want %s, got %s (all: %v)", i+1, want[i], waits[i], waits)
		}
	}
	if got := backoff(20); got != maxRetryDelay {
		t.Errorf("backoff cap: want %s, got %s", maxRetryDelay, got)
	}

	// 133015: Meta asks for about five minutes, and gets them.
	e.sim.FailNext(http.MethodPost, "/"+pendingID+"/register", http.StatusBadRequest,
		graphsim.GraphError{Code: 133015, Message: "(#133015) The phone number you are attempting to register was recently deleted"})
	now := e.clock.Now()
	res := e.register(in, Request{Trigger: db.TriggerAutomatic})
	if res.Kind != whatsapp.KindRecentlyDeleted || res.NextRetryAt == nil || res.NextRetryAt.Sub(now) != 5*time.Minute {
		t.Errorf("133015: want a retry in 5 minutes, got %s next %v", res.Kind, res.NextRetryAt)
	}

	// Token expired: no retry until someone reconnects.
	e.clock.Advance(5 * time.Minute)
	e.sim.FailNext(http.MethodPost, "/"+pendingID+"/register", http.StatusUnauthorized,
		graphsim.GraphError{Code: 190, Message: "Error validating access token: Session has expired"})
	res = e.register(in, Request{Trigger: db.TriggerAutomatic})
	if res.Kind != whatsapp.KindTokenExpired || res.NextRetryAt != nil {
		t.Errorf("190: want token_expired and no retry planned, got %s next %v", res.Kind, res.NextRetryAt)
	}
	if cur := e.reload(in); cur.RegistrationNextRetryAt != nil {
		t.Errorf("190: the schedule must be cleared, got %v", cur.RegistrationNextRetryAt)
	}
}

func TestAccountLockedIsNotRetried(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)
	if err := e.sim.UpdateBusiness(in.WABAID, func(b *graphsim.Business) { b.Locked = true }); err != nil {
		t.Fatal(err)
	}
	res := e.register(in, Request{Trigger: db.TriggerAutomatic})
	if res.Outcome != OutcomeFailed || res.Kind != whatsapp.KindAccountLocked || res.NextRetryAt != nil {
		t.Fatalf("locked account: want failed account_locked without a retry, got %s %s %v", res.Outcome, res.Kind, res.NextRetryAt)
	}
}

func TestPINMismatchAsksForPINAndNeverOverwritesIt(t *testing.T) {
	e := newRegEnv(t, "pin_already_set")
	in := e.inbox(pinSetID)
	res := e.register(in, e.person())
	if res.Outcome != OutcomeFailed || res.Kind != whatsapp.KindPINMismatch || !res.NeedsPIN {
		t.Fatalf("want failed pin_mismatch asking for the PIN, got %s %s needsPIN=%v", res.Outcome, res.Kind, res.NeedsPIN)
	}
	sent := e.sim.ReceivedPIN(pinSetID)
	stored := e.secrets(in)
	if stored.PINState != db.PINStateMismatch || stored.PIN != sent {
		t.Fatalf("after 133005: want state mismatch and the PIN we sent kept, got state %s (same PIN: %v)", stored.PINState, stored.PIN == sent)
	}
	for _, req := range []Request{e.person(), {Trigger: db.TriggerAutomatic}, {Trigger: db.TriggerWebhook}} {
		res := e.register(in, req)
		if !res.NeedsPIN || res.Outcome != OutcomeFailed {
			t.Errorf("%s while the PIN is unknown: want failed asking for the PIN, got %s", req.Trigger, res.Outcome)
		}
	}
	if n := e.registerCalls(pinSetID); n != 1 {
		t.Fatalf("no call may be made until the PIN is entered: want 1 call, got %d", n)
	}
	if s := e.secrets(in); s.PIN != sent {
		t.Fatal("the stored PIN was overwritten")
	}

	if err := e.reg.SetPIN(context.Background(), in, "12345", e.userID); !errors.Is(err, ErrInvalidPIN) {
		t.Errorf("a 5-digit PIN: want ErrInvalidPIN, got %v", err)
	}
	if err := e.reg.SetPIN(context.Background(), in, metaHeldPIN, e.userID); err != nil {
		t.Fatal(err)
	}
	if s := e.secrets(in); s.PINState != db.PINStateProvided || s.PIN != metaHeldPIN {
		t.Fatalf("after the administrator entered it: want state provided with that PIN, got %s", s.PINState)
	}
	if res := e.register(in, e.person()); res.Outcome != OutcomeRegistered {
		t.Fatalf("with the right PIN: want registered, got %s %s", res.Outcome, res.Kind)
	}
	if s := e.secrets(in); s.PINState != db.PINStateConfirmed || s.PIN != metaHeldPIN {
		t.Errorf("after success: want the entered PIN confirmed, got %s", s.PINState)
	}
	if strings.Contains(e.logs.String(), metaHeldPIN) || strings.Contains(e.logs.String(), sent) {
		t.Error("a PIN appeared in the logs")
	}
}

func TestSetupRegistersAndSubscribes(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning", "name_in_review")
	pending := e.inbox(pendingID)
	e.reg.StartSetup(context.Background(), pending)
	e.reg.Wait()
	if n := e.registerCalls(pendingID); n != 1 {
		t.Fatalf("setup of a pending number: want 1 register call, got %d", n)
	}
	if a := e.attempts(pending); len(a) != 1 || a[0].Trigger != db.TriggerSetup || a[0].Outcome != db.OutcomeRegistered {
		t.Errorf("setup attempt: want one registered attempt by setup, got %+v", a)
	}

	review := e.inbox(inReviewID)
	res, err := e.reg.Setup(context.Background(), review)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeDeferred || !res.WebhookSubscribed {
		t.Fatalf("setup while the name is in review: want deferred with the webhook subscribed (so approval reaches us), got %s subscribed=%v %q",
			res.Outcome, res.WebhookSubscribed, res.WebhookError)
	}
	if n := e.registerCalls(inReviewID); n != 0 {
		t.Errorf("setup while the name is in review: want no register call, got %d", n)
	}
	cur := e.reload(review)
	if cur.WebhookSubscribedAt == nil || cur.RegistrationNextRetryAt == nil {
		t.Errorf("setup must record the subscription and plan a check, got subscribed %v next %v", cur.WebhookSubscribedAt, cur.RegistrationNextRetryAt)
	}
	if a := e.attempts(review); len(a) != 1 || a[0].Outcome != string(OutcomeDeferred) || a[0].GraphCalled {
		t.Errorf("setup's deferral must be shown as an attempt without a call, got %+v", a)
	}
}

func TestSetupReportsMissingParameters(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)
	// Subscribing the app needs no callback URL (the App Dashboard holds it), so a
	// registrar without FRONTEND_URL sets up all the same; missing ids still stop it.
	reg := NewRegistrar(e.store, e.client, e.svc, RegistrarOptions{Now: e.clock.Now})
	defer reg.Close()
	in.PhoneNumberID, in.WABAID = "", ""
	res, err := reg.Setup(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeFailed || !strings.Contains(res.Reason, "phone number ID is missing") ||
		!strings.Contains(res.Reason, "WhatsApp Business Account ID is missing") {
		t.Fatalf("want a failure naming each missing parameter, got %s %q", res.Outcome, res.Reason)
	}
	if cur := e.reload(in); !strings.Contains(cur.WebhookSubscriptionError, "phone number ID is missing") {
		t.Errorf("the webhook subscription error must be shown, got %q", cur.WebhookSubscriptionError)
	}
	if n := len(e.sim.Requests()); n != 0 {
		t.Errorf("invalid setup must not call Meta, got %d requests", n)
	}
}

func TestUnknownHealthAllowsClicksButNotMachines(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)
	e.sim.SetFaults(graphsim.Faults{ServerErrorRate: 1})
	res := e.register(in, Request{Trigger: db.TriggerAutomatic})
	if res.Outcome != OutcomeDeferred || res.State != whatsapp.StateUnknown {
		t.Fatalf("automatic with unknown health: want deferred/unknown, got %s/%s", res.Outcome, res.State)
	}
	e.sim.ClearFaults()
	e.sim.FailNext(http.MethodGet, "/"+pendingID, http.StatusInternalServerError, graphsim.GraphError{Code: 1, Message: "An unknown error occurred"})
	e.clock.Advance(time.Minute)
	if res := e.register(in, e.person()); res.Outcome != OutcomeRegistered {
		t.Fatalf("a click with unknown health: want the call made, got %s (%s)", res.Outcome, res.Reason)
	}
}

func TestRetryDuePlansStuckNumbersBeforeCalling(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning", "pin_already_set")
	ctx := context.Background()
	stuck := e.inbox(pendingID)
	if _, err := e.svc.Refresh(ctx, stuck, db.SourceSweep); err != nil { // as the monitor's sweep does
		t.Fatal(err)
	}
	if err := e.reg.RetryDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.registerCalls(pendingID); n != 0 {
		t.Fatalf("a stuck number nobody tried is planned, not called at once (people may click first): got %d calls", n)
	}
	next := e.reload(stuck).RegistrationNextRetryAt
	if want := e.clock.Now().Add(15 * time.Minute); next == nil || !next.Equal(want) {
		t.Fatalf("first automatic retry: want it planned at %s, got %v", want, next)
	}
	e.clock.Set(*next)
	if err := e.reg.RetryDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.registerCalls(pendingID); n != 1 {
		t.Fatalf("when the retry is due: want 1 register call, got %d", n)
	}
	if a := e.attempts(stuck); len(a) != 1 || a[0].Trigger != db.TriggerAutomatic || a[0].Outcome != db.OutcomeRegistered {
		t.Errorf("want one automatic registered attempt, got %+v", a)
	}

	// A number a person must fix (Meta holds another PIN) stays off the schedule.
	wrongPIN := e.inbox(pinSetID)
	if res := e.register(wrongPIN, Request{Trigger: db.TriggerAutomatic}); !res.NeedsPIN {
		t.Fatalf("want the PIN asked for, got %s %s", res.Outcome, res.Kind)
	}
	if err := e.reg.RetryDue(ctx); err != nil {
		t.Fatal(err)
	}
	if next := e.reload(wrongPIN).RegistrationNextRetryAt; next != nil {
		t.Errorf("a number waiting for a person's PIN must get no automatic retry, got one at %s", next)
	}
}

func TestHolderIsDeadLocalProcess(t *testing.T) {
	host, _ := os.Hostname()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := dead.Process.Pid
	for _, tc := range []struct {
		holder string
		want   bool
	}{
		{fmt.Sprintf("%s/%d/abcd#1", host, deadPID), true},
		{fmt.Sprintf("%s/%d/abcd#1", host, os.Getpid()), false},  // ourselves (or a sibling registrar)
		{fmt.Sprintf("%s/%d/abcd#1", host, os.Getppid()), false}, // alive
		{fmt.Sprintf("other-host/%d/abcd#1", deadPID), false},    // cannot check another host
		{"garbage", false},
	} {
		if got := holderIsDeadLocalProcess(tc.holder, host); got != tc.want {
			t.Errorf("holderIsDeadLocalProcess(%q): want %v, got %v", tc.holder, tc.want, got)
		}
	}
}

func TestRateLimitedRegisterHoldsOffTheBusinessAccount(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)
	e.sim.FailNext(http.MethodPost, "/"+pendingID+"/register", http.StatusBadRequest,
		graphsim.GraphError{Message: "(#80008) There have been too many calls to this WhatsApp Business account.", Type: "OAuthException", Code: 80008})

	first := e.register(in, e.person())
	if first.Outcome != OutcomeFailed || first.Kind != whatsapp.KindRateLimited {
		t.Fatalf("first click: want failed/rate_limited, got %s/%s (%s)", first.Outcome, first.Kind, first.Reason)
	}
	second := e.register(e.reload(in), e.person())
	if second.Outcome != OutcomeDeferred || second.Kind != whatsapp.KindRateLimited || second.NextRetryAt == nil {
		t.Fatalf("second click during Meta's hold-off: want deferred with a time, got %s/%s (%s)", second.Outcome, second.Kind, second.Reason)
	}
	if n := e.registerCalls(pendingID); n != 1 {
		t.Fatalf("during the hold-off no register call may be sent: want 1 call in all, got %d", n)
	}
	e.clock.Advance(second.NextRetryAt.Sub(e.clock.Now()) + 2*time.Minute)
	if third := e.register(e.reload(in), e.person()); third.Outcome != OutcomeRegistered {
		t.Fatalf("after the hold-off: want registered, got %s/%s (%s)", third.Outcome, third.Kind, third.Reason)
	}
}

func TestStatusForDisplayIsCachedBriefly(t *testing.T) {
	e := newRegEnv(t, "pending_provisioning")
	in := e.inbox(pendingID)
	ctx := context.Background()
	if st, err := e.reg.Status(ctx, in); err != nil || st.LastAttempt != nil {
		t.Fatalf("before any attempt: want no last attempt, got %+v %v", st, err)
	}
	// Another process records an attempt: shown once the short cache expires.
	if _, err := e.store.StartAttempt(ctx, in.ID, db.TriggerAPI, nil, true); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(statusCacheTTL + time.Second)
	st, err := e.reg.Status(ctx, in)
	if err != nil || st.LastAttempt == nil || st.AttemptsLeft != RegisterLimit-1 {
		t.Fatalf("after the cache expired: want the other process's attempt and %d left, got %+v %v", RegisterLimit-1, st, err)
	}
	// This process's own registration is shown at once.
	res := e.register(e.reload(in), e.person())
	st, _ = e.reg.Status(ctx, e.reload(in))
	if st.LastAttempt == nil || res.Attempt == nil || st.LastAttempt.ID != res.Attempt.ID {
		t.Fatalf("right after a registration: want its attempt shown, got %+v (result %+v)", st.LastAttempt, res.Attempt)
	}
}
