package health

// registrar.go holds the Registrar, its options and constructor, the Request, Result
// and Outcome types, and Register, the entry point, with the decision (gate) it
// makes before any register call.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Meta's register limit and how the registrar shares it.
const (
	// RegisterLimit is how many register calls Meta allows per number in RegisterWindow.
	RegisterLimit = 10
	// RegisterWindow is Meta's moving window for RegisterLimit.
	RegisterWindow = 72 * time.Hour
	// ReservedForPeople is how many of the window's calls automatic triggers (retries,
	// webhooks, setup) leave for people clicking "Complete registration": machines stop
	// at RegisterLimit-ReservedForPeople, so a customer can always try by hand.
	ReservedForPeople = 2
)

// Registrar defaults and bounds.
const (
	// DefaultLeaseTTL bounds how long one registration holds its inbox's lease. It is
	// well above lockedWorkTimeout, so a lease never expires under a live call, and it
	// is how long a crashed process blocks the inbox.
	DefaultLeaseTTL = 5 * time.Minute
	// DefaultFreshFor is how old health may be for a decision without asking Meta first.
	DefaultFreshFor = 30 * time.Second
	// lockedWorkTimeout bounds everything done under the lease: refresh, register,
	// refresh again.
	lockedWorkTimeout = 2 * time.Minute
	// subscribeTimeout bounds the webhook subscription after registration.
	subscribeTimeout = 30 * time.Second
	// setupTimeout bounds a background setup of a new inbox.
	setupTimeout = 4 * time.Minute
	// firstRetryDelay and maxRetryDelay bound the automatic retry backoff.
	firstRetryDelay = 15 * time.Minute
	maxRetryDelay   = 24 * time.Hour
)

// Outcome is what a registration request came to.
type Outcome string

// Outcomes of Register. Skipped and deferred made no register call.
const (
	OutcomeRegistered Outcome = "registered" // Meta accepted the register call
	OutcomeSkipped    Outcome = "skipped"    // nothing to do: registered already, or not ours to register
	OutcomeDeferred   Outcome = "deferred"   // not now: a later attempt may succeed
	OutcomeFailed     Outcome = "failed"     // the call failed, or a person must act first
)

// Request is one ask to register an inbox's number.
type Request struct {
	// Trigger is what asked: db.TriggerBanner, TriggerAPI, TriggerAutomatic,
	// TriggerWebhook, TriggerNameChange or TriggerSetup.
	Trigger string
	// UserID is the person who asked (banner and API), nil for machines.
	UserID *int64
	// Actor is who asked, as the inbox's change log names them (changes a person makes:
	// reconnecting, a PIN given or set anew).
	Actor db.Actor
	// Confirmed is an administrator's explicit "Try anyway" while Meta reviews the
	// display name: it allows ONE register call that will probably fail.
	Confirmed bool
}

// byPerson reports whether a person asked, which unlocks manual-only registration
// (unknown health, "Try anyway") and the calls reserved for people.
func (r Request) byPerson() bool {
	return r.Trigger == db.TriggerBanner || r.Trigger == db.TriggerAPI
}

// Result is what came of a registration request, ready to show.
type Result struct {
	Outcome Outcome
	// State is the registration state the decision was made on (registered after a
	// successful call).
	State whatsapp.RegistrationState
	// Reason says in plain words what happened and what happens next.
	Reason string
	// Kind classifies the failure or the reason for deferring (KindNone otherwise);
	// Kind.Explain() gives the customer's explanation and remedy.
	Kind whatsapp.Kind
	// GraphError is Meta's error when the register call failed with one.
	GraphError *whatsapp.GraphError
	// NeedsConfirmation: the display name is in review; an administrator may confirm
	// ("Try anyway") to force one attempt.
	NeedsConfirmation bool
	// NeedsPIN: Meta holds a two-step PIN we do not know; an administrator must enter it.
	NeedsPIN bool
	// NextRetryAt is when an automatic retry is planned, if any.
	NextRetryAt *time.Time
	// Attempt is the recorded attempt, when one was recorded.
	Attempt *db.RegistrationAttempt
	// Snapshot is the health the result leaves the inbox with (nil if none).
	Snapshot *db.HealthSnapshot
	// WebhookSubscribed and WebhookError report the webhook subscription made after a
	// successful registration or during setup.
	WebhookSubscribed bool
	WebhookError      string
}

// Explanation is the customer's explanation of the result's Kind (empty on success).
func (r Result) Explanation() whatsapp.Explanation { return r.Kind.Explain() }

// RegistrarOptions tune a Registrar; zero values take defaults.
type RegistrarOptions struct {
	// FrontendURL is the public base URL: the Meta app's webhook callback should be
	// {FrontendURL}/webhooks/whatsapp (see AppWebhookURL).
	FrontendURL string
	Logger      *slog.Logger
	// Now is the clock for schedules and the 72 h window; time.Now when nil. The store's
	// clock stamps attempts and leases, so tests move both together.
	Now func() time.Time
	// LeaseTTL is how long a registration may hold its inbox's lease; DefaultLeaseTTL
	// when zero.
	LeaseTTL time.Duration
	// HolderID names this process in lease rows; hostname, pid and a random suffix
	// when empty.
	HolderID string
	// FreshFor is how old health may be for a decision without refreshing first;
	// DefaultFreshFor when zero.
	FreshFor time.Duration
	// AppID and AppSecret identify the Meta app (WHATSAPP_APP_ID, WHATSAPP_APP_SECRET):
	// with both, the app's webhook fields are checked and the app is recognised among a
	// business account's subscribed apps. Optional.
	AppID, AppSecret string
}

// Registrar registers numbers with Meta exactly when it can succeed: it decides from
// fresh health, lets one registration per inbox run at a time (across processes, by a
// lease row), spends Meta's 10 calls per 72 h with care, keeps the PIN safe across
// crashes, records every attempt and plans automatic retries.
type Registrar struct {
	store       *db.Store
	graph       Graph
	health      *Service
	frontendURL string
	log         *slog.Logger
	now         func() time.Time
	leaseTTL    time.Duration
	freshFor    time.Duration
	holder      string
	appID       string
	appSecret   string
	appFields   appFieldsCache
	leaseSeq    atomic.Uint64

	// background ends with Close: it cancels calls made on behalf of requests and the
	// tasks started in the background, which tasks tracks for Wait.
	background context.Context
	stop       context.CancelFunc
	tasks      sync.WaitGroup

	// statuses caches Status for display (pages and the health API read it on every
	// view). It is never used to decide a call: Register always reads the database.
	statusMu sync.Mutex
	statuses map[int64]cachedStatus
}

// NewRegistrar builds the registrar.
func NewRegistrar(store *db.Store, graph Graph, svc *Service, opts RegistrarOptions) *Registrar {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	// A lease shorter than the work it guards would let a second call in.
	opts.LeaseTTL = max(opts.LeaseTTL, lockedWorkTimeout+time.Minute)
	if opts.FreshFor <= 0 {
		opts.FreshFor = DefaultFreshFor
	}
	if opts.HolderID == "" {
		opts.HolderID = defaultHolderID()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Registrar{store: store, graph: graph, health: svc, frontendURL: strings.TrimRight(opts.FrontendURL, "/"),
		log: opts.Logger, now: opts.Now, leaseTTL: opts.LeaseTTL, freshFor: opts.FreshFor, holder: opts.HolderID,
		appID: opts.AppID, appSecret: opts.AppSecret, background: ctx, stop: cancel}
}

// Close cancels registrations in flight and background tasks, and waits for them.
func (r *Registrar) Close() {
	r.stop()
	r.tasks.Wait()
}

// Wait blocks until the background tasks started so far (setups, webhook-triggered
// attempts) have finished.
func (r *Registrar) Wait() { r.tasks.Wait() }

// DecisionFor is the registration decision for an inbox on a snapshot of its health:
// nil or a failed fetch is unknown health. What the inbox knows beyond Meta's health
// report (a display-name change approved since the last registration) goes in too.
func DecisionFor(in db.Inbox, snap *db.HealthSnapshot) whatsapp.Decision {
	if snap == nil || !snap.OK {
		return whatsapp.Decide(nil)
	}
	return whatsapp.DecideWith(snap.Phone, whatsapp.RegistrationFacts{NameChangeApproved: in.NameChangeApprovedAt != nil})
}

// OverallOf is the overall status of a snapshot (nil: never checked). A failed fetch
// counts with its error kind, on the last good data the snapshot kept.
func OverallOf(snap *db.HealthSnapshot) whatsapp.OverallStatus {
	if snap == nil {
		return whatsapp.DeriveOverallStatus(nil, nil, whatsapp.KindNone)
	}
	kind := whatsapp.KindNone
	if !snap.OK {
		kind = snap.ErrorKind
		if kind == whatsapp.KindNone {
			kind = whatsapp.KindUnknown
		}
	}
	return whatsapp.DeriveOverallStatus(snap.Phone, snap.BusinessHealth, kind)
}

// AppWebhookURL is the callback URL to enter in the Meta App Dashboard: Meta sends the
// account-level webhooks (name approvals among them) only there.
func AppWebhookURL(frontendURL string) string {
	return strings.TrimRight(frontendURL, "/") + "/webhooks/whatsapp"
}

// Register registers the inbox's number if, and only if, fresh health says a call can
// succeed and the caller may make it. Only one registration per inbox runs at a time:
// a concurrent request is deferred ("already in progress") without calling Meta. The
// work runs detached from ctx once started, so a browser giving up cannot cut a call
// that Meta may already have acted on. err is only for storage failures; everything
// Meta answers is in the Result.
func (r *Registrar) Register(ctx context.Context, in db.Inbox, req Request) (Result, error) {
	defer r.forgetStatus(in.ID)
	release, err := r.lease(ctx, in.ID, "")
	if errors.Is(err, db.ErrLeaseHeld) {
		return r.alreadyInProgress(ctx, in), nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("health: register inbox %d: %w", in.ID, err)
	}
	work, cancel := r.detach(ctx, lockedWorkTimeout)
	res, err := r.registerHoldingLease(work, in, req)
	cancel()
	release()
	if err != nil {
		return res, fmt.Errorf("health: register inbox %d: %w", in.ID, err)
	}
	if res.Outcome == OutcomeRegistered {
		r.subscribeAfterRegistration(ctx, in, &res)
	}
	r.log.Info("registration", "inbox_id", in.ID, "trigger", req.Trigger, "outcome", res.Outcome,
		"state", res.State, "kind", res.Kind)
	return res, nil
}

// registerHoldingLease is the whole decision and call, run while this registration
// holds the inbox's lease.
func (r *Registrar) registerHoldingLease(ctx context.Context, in db.Inbox, req Request) (Result, error) {
	in, err := r.store.InboxByID(ctx, in.ID) // the PIN state and schedule as they are now
	if err != nil {
		return Result{}, err
	}
	snap, err := r.freshHealth(ctx, in)
	if err != nil {
		return Result{}, err
	}
	history, err := r.callHistory(ctx, in.ID)
	if err != nil {
		return Result{}, err
	}
	if res, stop := r.gate(in, req, snap, history); stop {
		return r.settleWithoutCall(ctx, in, req, res)
	}
	return r.call(ctx, in, req, snap, history)
}

// freshHealth returns the latest snapshot, refreshed from Meta first when it is older
// than freshFor. A failed fetch comes back as a snapshot too (unknown health); err is
// only for storage failures.
func (r *Registrar) freshHealth(ctx context.Context, in db.Inbox) (*db.HealthSnapshot, error) {
	latest, err := r.store.LatestSnapshot(ctx, in.ID)
	switch {
	case err == nil && r.now().Sub(latest.CheckedAt) <= r.freshFor:
		return &latest, nil
	case err != nil && !errors.Is(err, db.ErrNotFound):
		return nil, err
	}
	snap, err := r.health.Refresh(ctx, in, db.SourceFetch)
	if err != nil {
		return nil, err
	}
	return &snap, nil
}

// gate applies the decision table, the PIN state and the call budget. stop says that
// no call may be made, and res says why.
func (r *Registrar) gate(in db.Inbox, req Request, snap *db.HealthSnapshot, h callHistory) (res Result, stop bool) {
	d := DecisionFor(in, snap)
	res = Result{State: d.State, Reason: d.Reason, Snapshot: snap}
	if h.registeredSince(snap) {
		res.Outcome, res.State = OutcomeSkipped, whatsapp.StateRegistered
		res.Reason = "This number was just registered; Meta's health report will show it shortly."
		return res, true
	}
	if blockedByHealth(snap, d, req, &res) {
		return res, true
	}
	if in.PINState == db.PINStateMismatch {
		res.Outcome, res.Kind, res.NeedsPIN = OutcomeFailed, whatsapp.KindPINMismatch, true
		res.Reason = "Meta holds a different two-step verification PIN for this number. An administrator must enter the existing PIN, or set a new one, before registration can be tried again."
		return res, true
	}
	if d.NeedsStoredPIN && !db.PINUsable(in.PINState) {
		// Re-registering a registered number with a PIN we made up would only
		// mismatch (133005) and spend one of the ten calls.
		res.Outcome, res.NeedsPIN = OutcomeFailed, true
		res.Reason = "Meta approved the new display name. It shows only after the number is registered again with its two-step verification PIN, which this app does not know: an administrator must enter it."
		return res, true
	}
	if until := r.budgetBlockedUntil(req, h); !until.IsZero() {
		res.Outcome, res.Kind, res.NextRetryAt = OutcomeDeferred, whatsapp.KindRegisterRateLimited, &until
		res.Reason = budgetReason(req, until)
		return res, true
	}
	if until := r.health.RateLimitedUntil(in.WABAID); until.After(r.now()) {
		// Meta rate-limited this business account: a call now would be refused too.
		res.Outcome, res.Kind, res.NextRetryAt = OutcomeDeferred, whatsapp.KindRateLimited, &until
		res.Reason = "Meta asked us to slow down for this business account. Registration can be tried again after " +
			until.UTC().Format("15:04 UTC") + "."
		return res, true
	}
	return res, false
}

// blockedByHealth reports whether the decision, or a health failure no call can get
// past, forbids a call for this request, and fills res with why.
func blockedByHealth(snap *db.HealthSnapshot, d whatsapp.Decision, req Request, res *Result) bool {
	if snap != nil && !snap.OK && !snap.ErrorKind.Retryable() && snap.ErrorKind != whatsapp.KindUnknown &&
		snap.ErrorKind != whatsapp.KindInvalidRequest {
		// Token expired, account locked and the like: a register call would fail the
		// same way and spend one of the ten.
		res.Outcome, res.Kind = OutcomeFailed, snap.ErrorKind
		res.Reason = snap.ErrorKind.Explain().Message
		return true
	}
	switch {
	case d.State == whatsapp.StateRegistered, d.State == whatsapp.StateOnPremise,
		d.State == whatsapp.StateDisplayNameActionRequired, d.State == whatsapp.StateCoexistence:
		res.Outcome = OutcomeSkipped
	case d.AutoRegister, req.byPerson() && d.AllowsManual(req.Confirmed):
		return false
	case d.State == whatsapp.StateWaitingForDisplayName:
		res.Outcome, res.Kind = OutcomeDeferred, whatsapp.KindDisplayNameNotReady
		res.NeedsConfirmation = req.byPerson()
	default: // unknown health: only a person's click may take the risk
		res.Outcome = OutcomeDeferred
	}
	return true
}
