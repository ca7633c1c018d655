// Package health keeps each inbox's WhatsApp health current: it fetches it from the
// Graph API, stores what every fetch found (change-only snapshots: storeChecks), serves
// reads from the latest snapshot,
// and runs the background monitor, the registrar and webhook updates on top of that.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Graph is the part of the Graph API client the product uses; *whatsapp.Client
// implements it, and tests may wrap it.
type Graph interface {
	PhoneNumber(ctx context.Context, token, phoneNumberID string) (*whatsapp.PhoneNumber, error)
	BusinessPhoneNumbers(ctx context.Context, token, wabaID string) ([]whatsapp.PhoneNumber, error)
	Register(ctx context.Context, token, phoneNumberID, pin string) error
	SubscribeApp(ctx context.Context, token, wabaID string) error
	SubscribedApps(ctx context.Context, token, wabaID string) ([]whatsapp.SubscribedApp, error)
	BusinessOwner(ctx context.Context, token, wabaID string) (businessID string, err error)
	SetTwoStepPIN(ctx context.Context, token, phoneNumberID, pin string) error
	Deregister(ctx context.Context, token, phoneNumberID string) error
	AppSubscriptions(ctx context.Context, appID, appSecret string) ([]whatsapp.AppSubscription, error)
	RequestCode(ctx context.Context, token, phoneNumberID, method, language string) error
	VerifyCode(ctx context.Context, token, phoneNumberID, code string) error
}

// Defaults for reading health.
const (
	// DefaultTTL is how old the latest snapshot may be before a read triggers a refresh.
	// With the monitor running, set it above the sweep interval (the server uses 1.5×
	// HEALTH_REFRESH_INTERVAL): the monitor keeps snapshots fresh, and a read should call
	// Meta only when sweeps stopped reaching an inbox, never between two sweeps.
	DefaultTTL = 5 * time.Minute
	// minHoldOff is the shortest pause after a rate limit: Meta's limits last minutes,
	// and an immediate retry only extends them.
	minHoldOff = time.Minute
	// firstFetchWait bounds how long a read waits for an inbox's very first fetch.
	firstFetchWait = 8 * time.Second
	// refreshTimeout bounds one refresh, whoever asked for it.
	refreshTimeout = 20 * time.Second
)

// Service reads and refreshes inbox health.
type Service struct {
	store  *db.Store
	graph  Graph
	log    *slog.Logger
	now    func() time.Time
	ttl    time.Duration
	flight singleflight.Group
	// background bounds refreshes started on behalf of reads; Close cancels them.
	background       context.Context
	cancelBackground context.CancelFunc
	// nameApproved is the hook SetOnNameApproved installs (webhooks.go).
	nameApproved nameApprovedHook
	// observer is told about stored health (SetObserver, observer.go).
	observer observerHook

	// backoffMu guards notBeforeAt: business account (WABA) id -> no Graph call about
	// it, or any of its numbers, before this time. Set when Meta answers with a rate
	// limit (80008 and friends), by the monitor's sweep or by a single refresh; both
	// ask it before calling.
	backoffMu   sync.Mutex
	notBeforeAt holds
	onHoldOff   func(wabaID string)
	// slowUntil (under backoffMu): business account -> no call before this time,
	// because Meta reported its budget nearly spent; budget: the app's (budget.go).
	slowUntil holds
	budget    budgetState

	// shownNumber is, for each inbox an edit pointed at another number (phone-number id
	// or business account), the numberKey it shows now. A fetch started before the edit
	// (a sweep, a refresh in flight) is about the old number and is not stored as the
	// new one's health.
	shownNumber sync.Map

	// demandMu guards onDemand: inbox id -> the last refresh a person asked for.
	demandMu sync.Mutex
	onDemand map[int64]*demandRefresh
}

// RefreshCooldown is how long the answer of a refresh a person asked for (the Refresh
// button, the API) stands: asking again within it gets that answer, or joins it while
// it runs, instead of another Graph call.
const RefreshCooldown = 30 * time.Second

// demandRefresh is one refresh a person asked for; done closes when snap and err are set.
type demandRefresh struct {
	done     chan struct{}
	finished time.Time
	snap     db.HealthSnapshot
	err      error
}

// numberKey names the Meta number an inbox shows: its phone-number id in its business
// account.
func numberKey(in db.Inbox) string { return in.PhoneNumberID + "@" + in.WABAID }

// renumbered records that the inbox now shows another number (after an edit).
func (s *Service) renumbered(in db.Inbox) { s.shownNumber.Store(in.ID, numberKey(in)) }

// staleFetch reports whether a fetch made with in is about a number the inbox no
// longer shows.
func (s *Service) staleFetch(in db.Inbox) bool {
	shown, ok := s.shownNumber.Load(in.ID)
	return ok && shown.(string) != numberKey(in)
}

// Options tune a Service; zero values take defaults.
type Options struct {
	TTL    time.Duration
	Logger *slog.Logger
	Now    func() time.Time
	// OnRateLimitHoldOff, when set, is called each time Meta's rate limit stops Graph
	// calls about a business account (the metrics count them).
	OnRateLimitHoldOff func(wabaID string)
}

// NewService builds the health service.
func NewService(store *db.Store, graph Graph, opts Options) *Service {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{store: store, graph: graph, log: opts.Logger, now: opts.Now, ttl: opts.TTL,
		background: ctx, cancelBackground: cancel, notBeforeAt: holds{}, slowUntil: holds{}, onDemand: map[int64]*demandRefresh{}, onHoldOff: opts.OnRateLimitHoldOff}
}

// Close stops refreshes started in the background.
func (s *Service) Close() { s.cancelBackground() }

// Current returns the inbox's latest snapshot without waiting on Meta when one exists:
// if it is older than the TTL a refresh starts in the background and the next read
// sees it. An inbox never checked waits (bounded) for its first fetch. ok is false when
// there is still nothing to show.
func (s *Service) Current(ctx context.Context, in db.Inbox) (snap db.HealthSnapshot, ok bool, err error) {
	snap, err = s.store.LatestSnapshot(ctx, in.ID)
	switch {
	case err == nil:
		if s.now().Sub(snap.CheckedAt) > s.ttl {
			s.refreshInBackground(in, db.SourceFetch)
		}
		return snap, true, nil
	case !errors.Is(err, db.ErrNotFound):
		return db.HealthSnapshot{}, false, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, firstFetchWait)
	defer cancel()
	snap, err = s.Refresh(waitCtx, in, db.SourceFetch)
	if err != nil {
		if latest, lerr := s.store.LatestSnapshot(ctx, in.ID); lerr == nil {
			return latest, true, nil
		}
		return db.HealthSnapshot{}, false, nil
	}
	return snap, true, nil
}

// refreshInBackground starts a refresh that nobody waits for (Close cancels it).
func (s *Service) refreshInBackground(in db.Inbox, source string) {
	if _, limited := s.notBefore(in.WABAID); limited {
		return // Refresh would return the snapshot the caller already has
	}
	go func() {
		if _, err := s.Refresh(s.background, in, source); err != nil && s.background.Err() == nil {
			s.log.Warn("background health refresh", "inbox_id", in.ID, "source", source, "error", err)
		}
	}()
}

// Refresh fetches the number's health from Meta now and stores it. Concurrent refreshes
// of one inbox share one Graph call. A failed fetch is stored too (keeping the last good
// data, marked stale) and returned as the snapshot, with a nil error: the failure is
// data to show, not a reason to fail the page. err is only for storage failures.
//
// While Meta has asked us to wait on the inbox's business account (RateLimitedUntil),
// Refresh calls nobody and stores nothing: it returns the latest snapshot, or, for an
// inbox never checked, an unstored snapshot (ID 0) saying health is rate limited.
func (s *Service) Refresh(ctx context.Context, in db.Inbox, source string) (db.HealthSnapshot, error) {
	ch := s.flight.DoChan(strconv.FormatInt(in.ID, 10), func() (any, error) {
		// Detached from the first caller: a caller giving up must not cancel the
		// fetch the others are waiting on.
		fetchCtx, cancel := context.WithTimeout(s.background, refreshTimeout)
		defer cancel()
		return s.fetchAndStore(fetchCtx, in, source)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return db.HealthSnapshot{}, res.Err
		}
		return res.Val.(db.HealthSnapshot), nil
	case <-ctx.Done():
		return db.HealthSnapshot{}, fmt.Errorf("health: refresh inbox %d: %w", in.ID, ctx.Err())
	}
}

// RefreshOnDemand is Refresh for a person asking (the Refresh button, the API): one
// Graph call and one snapshot per inbox per RefreshCooldown, however many ask, on
// however many instances (db.ClaimRefresh). The
// first request fetches; requests while it runs wait for it, and requests within
// RefreshCooldown after it get the newest snapshot without calling Meta. The fetch is
// not tied to the first request, so one caller giving up fails nobody else.
func (s *Service) RefreshOnDemand(ctx context.Context, in db.Inbox) (db.HealthSnapshot, error) {
	s.demandMu.Lock()
	d, ok := s.onDemand[in.ID]
	now := s.now()
	joined := ok && (d.finished.IsZero() || now.Sub(d.finished) < RefreshCooldown)
	if !joined {
		s.pruneOnDemand(now)
		d = &demandRefresh{done: make(chan struct{})}
		s.onDemand[in.ID] = d
		go func() {
			var snap db.HealthSnapshot
			claimed, err := s.store.ClaimRefresh(s.background, in.ID, now, RefreshCooldown)
			switch {
			case err == nil && !claimed:
				// Another instance sharing the database refreshed it within the
				// cooldown: its answer is the newest snapshot (within db.CacheTTL).
				snap, err = s.store.LatestSnapshot(s.background, in.ID)
			case err == nil:
				snap, err = s.Refresh(s.background, in, db.SourceFetch)
			}
			s.demandMu.Lock()
			d.snap, d.err, d.finished = snap, err, s.now()
			s.demandMu.Unlock()
			close(d.done)
		}()
	}
	s.demandMu.Unlock()
	select {
	case <-d.done:
	case <-ctx.Done():
		return db.HealthSnapshot{}, fmt.Errorf("health: refresh inbox %d: %w", in.ID, ctx.Err())
	}
	if d.err != nil || !joined {
		return d.snap, d.err
	}
	// Joined an earlier answer: a sweep or webhook may have stored a newer one since.
	if latest, err := s.store.LatestSnapshot(ctx, in.ID); err == nil && latest.CheckedAt.After(d.snap.CheckedAt) {
		return latest, nil
	}
	return d.snap, nil
}

// pruneOnDemand forgets refreshes whose cooldown is over (demandMu held): the map
// holds only inboxes refreshed in the last RefreshCooldown.
func (s *Service) pruneOnDemand(now time.Time) {
	for id, d := range s.onDemand {
		if !d.finished.IsZero() && now.Sub(d.finished) >= RefreshCooldown {
			delete(s.onDemand, id)
		}
	}
}

func (s *Service) fetchAndStore(ctx context.Context, in db.Inbox, source string) (db.HealthSnapshot, error) {
	if until, limited := s.notBefore(in.WABAID); limited {
		return s.heldOff(ctx, in, until)
	}
	secrets, err := s.store.Secrets(ctx, in.ID)
	if err != nil {
		return db.HealthSnapshot{}, fmt.Errorf("health: refresh inbox %d: %w", in.ID, err)
	}
	asked := s.now().UTC()
	phone, fetchErr := s.graph.PhoneNumber(s.reporting(ctx), secrets.AccessToken, in.PhoneNumberID)
	if whatsapp.KindOf(fetchErr) == whatsapp.KindRateLimited {
		s.holdOff(in.WABAID, whatsapp.RetryDelay(fetchErr))
	}
	return s.record(ctx, in, phone, fetchErr, source, asked)
}

// heldOff is what Refresh returns, without calling Meta, while the inbox's business
// account is rate limited.
func (s *Service) heldOff(ctx context.Context, in db.Inbox, until time.Time) (db.HealthSnapshot, error) {
	latest, err := s.store.LatestSnapshot(ctx, in.ID)
	if err == nil {
		return latest, nil
	}
	if !errors.Is(err, db.ErrNotFound) {
		return db.HealthSnapshot{}, fmt.Errorf("health: refresh inbox %d: %w", in.ID, err)
	}
	snap := db.HealthSnapshot{InboxID: in.ID, CheckedAt: s.now().UTC(), ErrorKind: whatsapp.KindRateLimited,
		ErrorMessage: fmt.Sprintf("Meta rate limit on business account %s: no call before %s", in.WABAID, until.UTC().Format(time.RFC3339))}
	snap.OverallStatus, snap.RegistrationState = deriveStates(in, snap)
	return snap, nil
}

// unstoredLatest is the inbox's latest snapshot, or when it has none an unstored one
// (ID 0) of unknown health saying why: what a fetch whose result is not stored returns.
func (s *Service) unstoredLatest(ctx context.Context, in db.Inbox, why string) (db.HealthSnapshot, error) {
	latest, err := s.store.LatestSnapshot(ctx, in.ID)
	if err == nil {
		return latest, nil
	}
	if !errors.Is(err, db.ErrNotFound) {
		return db.HealthSnapshot{}, fmt.Errorf("health: record inbox %d: %w", in.ID, err)
	}
	snap := db.HealthSnapshot{InboxID: in.ID, CheckedAt: s.now().UTC(), ErrorKind: whatsapp.KindUnknown, ErrorMessage: why}
	snap.OverallStatus, snap.RegistrationState = deriveStates(in, snap)
	return snap, nil
}

// RateLimitedUntil reports until when no Graph call is made about a business account
// (WABA), because Meta answered with a rate limit; the zero time when calls are free.
func (s *Service) RateLimitedUntil(wabaID string) time.Time {
	until, _ := s.notBefore(wabaID)
	return until
}

// HoldOff stops Graph calls about a business account for d (at least a minute), after
// Meta answered a call about it with a rate limit. A longer hold-off already in place
// stays.
func (s *Service) HoldOff(wabaID string, d time.Duration) { s.holdOff(wabaID, d) }

// notBefore reports until when no call about the business account is made: Meta
// rate-limited it, or reported its budget nearly spent (slowedUntil).
func (s *Service) notBefore(wabaID string) (time.Time, bool) {
	s.backoffMu.Lock()
	defer s.backoffMu.Unlock()
	now := s.now()
	until, ok := s.notBeforeAt.active(wabaID, now)
	if slowed, isSlowed := s.slowUntil.active(wabaID, now); isSlowed && slowed.After(until) {
		return slowed, true
	}
	return until, ok
}

func (s *Service) holdOff(wabaID string, d time.Duration) {
	until := s.now().Add(max(d, minHoldOff))
	s.backoffMu.Lock()
	defer s.backoffMu.Unlock()
	s.notBeforeAt.extend(wabaID, until)
	s.log.Warn("business account rate limited by Meta; no Graph calls about it until then", "waba_id", wabaID, "until", until)
	if s.onHoldOff != nil {
		s.onHoldOff(wabaID)
	}
}

// holds maps a business account (WABA) id to the time before which no Graph call
// about it is made; the Service keeps one for Meta's rate limits and one for budgets
// nearly spent, both under its backoffMu.
type holds map[string]time.Time

// extend makes the hold last until then, unless a longer one is in place; it reports
// whether it changed.
func (h holds) extend(wabaID string, until time.Time) bool {
	if !until.After(h[wabaID]) {
		return false
	}
	h[wabaID] = until
	return true
}

// active reports the hold still in force at now, forgetting one that ended.
func (h holds) active(wabaID string, now time.Time) (time.Time, bool) {
	until, ok := h[wabaID]
	if !ok {
		return time.Time{}, false
	}
	if !now.Before(until) {
		delete(h, wabaID)
		return time.Time{}, false
	}
	return until, true
}

// Record stores the outcome of one fetch of an inbox's health, made now. With fetchErr
// set, the snapshot keeps the last good data and records why the fetch failed.
func (s *Service) Record(ctx context.Context, in db.Inbox, phone *whatsapp.PhoneNumber, fetchErr error, source string) (db.HealthSnapshot, error) {
	return s.record(ctx, in, phone, fetchErr, source, s.now().UTC())
}

// record is Record for a fetch that asked Meta at asked.
func (s *Service) record(ctx context.Context, in db.Inbox, phone *whatsapp.PhoneNumber, fetchErr error, source string, asked time.Time) (db.HealthSnapshot, error) {
	if s.staleFetch(in) {
		s.log.Info("health fetch of a number the inbox no longer shows, not stored", "inbox_id", in.ID)
		return s.unstoredLatest(ctx, in, "The inbox was pointed at another number while this check ran; it is checked again.")
	}
	snap, err := s.snapshotOf(ctx, in, phone, fetchErr, source, asked)
	if err != nil {
		return db.HealthSnapshot{}, err
	}
	stored, err := s.storeChecks(ctx, []check{{in, snap}})
	if err != nil {
		return db.HealthSnapshot{}, fmt.Errorf("health: record inbox %d: %w", in.ID, err)
	}
	return stored[0], nil
}

// check is one look at an inbox's health on its way to the database.
type check struct {
	in   db.Inbox
	snap db.HealthSnapshot
}

// storeChecks is the one place health checks are stored (a refresh, a sweep's page, a
// webhook folded in), in one transaction, and the observer is told about each.
//
// Two rules hold for every check. An unchanged one only records the look on the
// inbox's newest snapshot (db: change-only snapshots). And a check's time is when Meta
// was asked (or the webhook arrived), so an answer that was asked for before the
// newest stored one, but came back after it (a slow sweep racing a refresh or a
// webhook), is older news: it replaces neither the newer state nor, being an error, a
// newer success. It is not stored, the observer is not told, and the newest snapshot
// is returned in its place.
func (s *Service) storeChecks(ctx context.Context, checks []check) ([]db.HealthSnapshot, error) {
	snaps := make([]db.HealthSnapshot, len(checks))
	for i, c := range checks {
		snaps[i] = c.snap
		snaps[i].IfNewest = true
	}
	stored, err := s.store.AddSnapshots(ctx, snaps)
	if err != nil {
		return nil, err
	}
	for i, snap := range stored {
		if snap.Superseded {
			s.log.Info("health answer overtaken by a newer one, not stored", "inbox_id", snap.InboxID,
				"asked_at", checks[i].snap.CheckedAt, "newest_at", snap.CheckedAt)
			continue
		}
		s.healthRecorded(checks[i].in, snap)
	}
	return stored, nil
}

// Fetched is the outcome of fetching one inbox's health, for RecordAll.
type Fetched struct {
	Inbox db.Inbox
	Phone *whatsapp.PhoneNumber
	Err   error
	// Asked is when Meta was asked (the zero time: now).
	Asked time.Time
}

// RecordAll stores several fetch outcomes in one transaction, as Record does one.
func (s *Service) RecordAll(ctx context.Context, fetched []Fetched, source string) error {
	checks := make([]check, 0, len(fetched))
	for _, f := range fetched {
		if s.staleFetch(f.Inbox) {
			continue // the inbox was pointed at another number during the sweep
		}
		asked := f.Asked
		if asked.IsZero() {
			asked = s.now().UTC()
		}
		snap, err := s.snapshotOf(ctx, f.Inbox, f.Phone, f.Err, source, asked)
		if err != nil {
			return err
		}
		checks = append(checks, check{f.Inbox, snap})
	}
	if _, err := s.storeChecks(ctx, checks); err != nil {
		return fmt.Errorf("health: record %d inboxes: %w", len(checks), err)
	}
	return nil
}

// snapshotOf builds the snapshot of one fetch: with fetchErr set it keeps the last good
// data and says why the fetch failed.
func (s *Service) snapshotOf(ctx context.Context, in db.Inbox, phone *whatsapp.PhoneNumber, fetchErr error, source string, asked time.Time) (db.HealthSnapshot, error) {
	snap := db.HealthSnapshot{InboxID: in.ID, CheckedAt: asked, OK: fetchErr == nil, Phone: phone, Source: source}
	kind := whatsapp.KindNone
	if fetchErr != nil {
		kind = whatsapp.KindOf(fetchErr)
		if kind == whatsapp.KindNone {
			kind = whatsapp.KindUnknown
		}
		snap.ErrorKind = kind
		snap.ErrorMessage = fetchErr.Error()
		var ge *whatsapp.GraphError
		if errors.As(fetchErr, &ge) {
			snap.ErrorCode, snap.ErrorSubcode = ge.Code, ge.Subcode
		}
		snap.Phone = nil
		if last, err := s.store.LatestSnapshot(ctx, in.ID); err == nil {
			snap.Phone, snap.BusinessHealth = last.Phone, last.BusinessHealth
		} else if !errors.Is(err, db.ErrNotFound) {
			return db.HealthSnapshot{}, fmt.Errorf("health: record inbox %d: %w", in.ID, err)
		}
		s.log.Warn("health fetch failed", "inbox_id", in.ID, "kind", kind, "code", snap.ErrorCode, "subcode", snap.ErrorSubcode)
	}
	if phone != nil && (phone.NewNameStatus == whatsapp.NameApproved || phone.IsOnBizApp == nil) {
		// Only then does the previous read matter; it is skipped otherwise.
		last, err := s.store.LatestSnapshot(ctx, in.ID)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return db.HealthSnapshot{}, fmt.Errorf("health: record inbox %d: %w", in.ID, err)
		}
		var prev *whatsapp.PhoneNumber
		if err == nil {
			prev = last.Phone
		}
		snap.Phone = keepCoexistence(prev, phone)
		if in, err = s.noteNameChange(ctx, in, prev, snap.Phone); err != nil {
			return db.HealthSnapshot{}, err
		}
	}
	snap.OverallStatus, snap.RegistrationState = deriveStates(in, snap)
	return snap, nil
}

// keepCoexistence carries the last known is_on_biz_app into a read where Meta did not
// report it (a retired field, an answer without it): a number on the WhatsApp Business
// app must never be registered, and an unreported flag is no news that it left the app.
func keepCoexistence(prev, next *whatsapp.PhoneNumber) *whatsapp.PhoneNumber {
	if next.IsOnBizApp != nil || prev == nil || prev.IsOnBizApp == nil {
		return next
	}
	kept := *next
	onBizApp := *prev.IsOnBizApp
	kept.IsOnBizApp = &onBizApp
	return &kept
}

// noteNameChange records on the inbox that Meta approved a display-name change of the
// registered number between two health reads (prev, next): the new name shows only
// after a register call made from now on. It returns the inbox as it now is.
func (s *Service) noteNameChange(ctx context.Context, in db.Inbox, prev, next *whatsapp.PhoneNumber) (db.Inbox, error) {
	if !whatsapp.NameChangeApproved(prev, next) || in.NameChangeApprovedAt != nil {
		return in, nil
	}
	now := s.now().UTC()
	if err := s.store.MarkNameChangeApproved(ctx, in.ID, now); err != nil {
		return in, fmt.Errorf("health: note name change of inbox %d: %w", in.ID, err)
	}
	s.log.Info("display-name change approved; the number must be registered again for it to show", "inbox_id", in.ID)
	in.NameChangeApprovedAt = &now
	return in, nil
}
