package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Monitor defaults.
const (
	// DefaultSweepInterval is how often the monitor refreshes every inbox.
	DefaultSweepInterval = 15 * time.Minute
	// DefaultSweepConcurrency bounds the business accounts fetched at once: at Meta's
	// ~100 ms per call, 16 in flight sweep 10,000 numbers in 500 accounts in about 3 s
	// and 100,000 in 5,000 in about 30 s. Meta's rate limits are per business account
	// (one call each per sweep) and per app, and the budget the answers report slows
	// the sweep down before either is reached (budget.go).
	DefaultSweepConcurrency = 16
	// DefaultSnapshotRetention is how long snapshots are kept (db.SnapshotRetention,
	// 7 days; each inbox's newest is kept whatever its age). The change history is
	// kept apart, for db.HealthChangeRetention (400 days): see "Data retention" in
	// db/snapshots.go.
	DefaultSnapshotRetention = db.SnapshotRetention
	// DefaultPruneInterval is how often at most the monitor prunes, after a sweep:
	// at the default sweep interval an hour's snapshots of 10,000 inboxes are 40,000
	// rows, deleted in small batches on the sweep's writer between its pages
	// (db.Pruner), instead of a scan after every sweep.
	DefaultPruneInterval = time.Hour
	// sweepGroupTimeout bounds one group's paged listing, whatever the client's own timeout.
	sweepGroupTimeout = 60 * time.Second
)

// errNumberNotListedMessage is recorded for an inbox whose number is missing from its
// business account's phone_numbers list: the number was removed from the account, or
// the inbox was set up with the wrong ids. A person must act, so it is not retryable.
const errNumberNotListedMessage = "number not found in business account"

// MonitorOptions tune a Monitor; zero values take defaults.
type MonitorOptions struct {
	// Interval between sweeps; DefaultSweepInterval when zero.
	Interval time.Duration
	// Jitter moves each wait between sweeps by a random amount up to ±Jitter, so many
	// instances started together do not hit Meta in step. Default Interval/10;
	// negative disables it.
	Jitter time.Duration
	// Concurrency bounds the groups fetched at once; DefaultSweepConcurrency when zero.
	Concurrency int
	// Retention is how long snapshots are kept; DefaultSnapshotRetention when zero,
	// negative disables pruning (of snapshots and of the change history).
	Retention time.Duration
	// PruneInterval is the least time between two prunings; DefaultPruneInterval when
	// zero. The first sweep prunes.
	PruneInterval time.Duration
	// Now is the clock for pruning; time.Now when nil. (Rate-limit hold-offs use the
	// Service's clock.)
	Now    func() time.Time
	Logger *slog.Logger
	// OnSwept, when set, runs after every sweep (the registration feature retries
	// pending registrations there, on fresh health). It runs on the monitor's
	// goroutine: the next sweep waits for it.
	OnSwept func(ctx context.Context)
	// Leader, when set, says before each scheduled sweep whether this process runs
	// them (several instances on one PostgreSQL database: one leads; db.Leadership).
	// A follower asks again every half Interval, so when the leader dies another
	// instance sweeps within one Interval. SweepOnce called directly always sweeps.
	Leader Leader
	// OnSweepDone, when set, is told what each sweep did, how long it took and whether
	// it failed (the metrics record it). It runs after OnSwept, on the monitor's goroutine.
	OnSweepDone func(stats SweepStats, took time.Duration, err error)
}

// Leader is the monitor's claim to sweep among several instances (db.Leadership).
type Leader interface {
	// Check reports whether this process leads now, taking the lead if it is free.
	Check(ctx context.Context) (bool, error)
	// Release gives the lead up, at shutdown.
	Release()
}

// SweepStats says what one sweep did.
type SweepStats struct {
	Groups         int   // (business account, token) groups found
	GraphCalls     int   // BusinessPhoneNumbers calls made (each may read several pages)
	RateLimited    int   // groups skipped because Meta asked us to wait (Slowed included)
	Slowed         int   // of those, groups skipped or paced because their budget or the app's was nearly spent (budget.go)
	InboxesUpdated int   // inboxes that got a good snapshot
	Errors         int   // inboxes that got an error snapshot, or could not be read
	Pruned         int64 // old snapshots and health changes deleted (0 when pruning was not due)
}

// Monitor keeps every inbox's health fresh in the background. Inboxes that share a
// business account and access token are fetched together with one paged
// /{waba-id}/phone_numbers call, not one call per number.
type Monitor struct {
	svc   *Service
	store *db.Store
	graph Graph
	opts  MonitorOptions
	log   *slog.Logger

	sweepMu   sync.Mutex // one sweep at a time, whoever starts it
	lastPrune time.Time  // guarded by sweepMu
}

// NewMonitor builds a monitor; Run starts it.
func NewMonitor(svc *Service, store *db.Store, graph Graph, opts MonitorOptions) *Monitor {
	if opts.Interval <= 0 {
		opts.Interval = DefaultSweepInterval
	}
	if opts.Jitter == 0 {
		opts.Jitter = opts.Interval / 10
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultSweepConcurrency
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultSnapshotRetention
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = DefaultPruneInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Monitor{svc: svc, store: store, graph: graph, opts: opts, log: opts.Logger}
}

// Run sweeps at once, then every Interval (± jitter), until ctx ends. It returns only
// when no sweep is running any more.
func (m *Monitor) Run(ctx context.Context) {
	if m.opts.Leader != nil {
		defer m.opts.Leader.Release()
	}
	role := 0
	for {
		wait := m.nextWait()
		if m.leads(ctx, &role) {
			stats, err := m.SweepOnce(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				m.log.Error("health sweep failed", "error", err)
			} else {
				m.log.Info("health sweep", "groups", stats.Groups, "graph_calls", stats.GraphCalls,
					"rate_limited", stats.RateLimited, "slowed", stats.Slowed, "updated", stats.InboxesUpdated, "errors", stats.Errors,
					"pruned", stats.Pruned)
			}
		} else {
			wait /= 2
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// leads asks the Leader (if any) whether this process sweeps now, and logs when that
// changes. An error (the database unreachable) is logged and counts as not leading.
// role is what the last call found: 0 not asked yet, 1 leading, 2 following.
func (m *Monitor) leads(ctx context.Context, role *int) bool {
	if m.opts.Leader == nil {
		return true
	}
	ok, err := m.opts.Leader.Check(ctx)
	if err != nil && ctx.Err() == nil {
		m.log.Error("health monitor: check leadership", "error", err)
	}
	now := 2
	if ok && err == nil {
		now = 1
	}
	if now != *role {
		if now == 1 {
			m.log.Info("health monitor: this instance leads the sweeps")
		} else if err == nil {
			m.log.Info("health monitor: another instance leads the sweeps; this one stands by")
		}
	}
	*role = now
	return now == 1
}

func (m *Monitor) nextWait() time.Duration {
	wait := m.opts.Interval
	if j := m.opts.Jitter; j > 0 {
		wait += time.Duration(rand.Int64N(int64(2*j)+1)) - j
	}
	return max(wait, time.Second)
}

// sweepGroups fetches the groups, at most Concurrency at once, and adds up what they
// did. It is a pipeline: the fetchers only call Meta, and one writer stores each
// fetched business account's page in one transaction while the next pages are being
// fetched. SQLite has one writer anyway; fetchers that wrote themselves would queue on
// its lock instead of calling Meta, so the sweep took the sum of both, not the longer.
// The pruning (pruner, when not nil) runs on the same writer, a small batch at a time
// whenever no fetched page waits, and what is left of it after the last page: pages
// first, so the fetchers never stall behind the deletes (a pruning that took turns
// with the pages held the writer for most of the sweep and the sweep took both).
func (m *Monitor) sweepGroups(ctx context.Context, groups []sweepGroup, pruner *db.Pruner) (SweepStats, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		stats SweepStats
		errs  []error
	)
	fetched := make(chan fetchedGroup, m.opts.Concurrency)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		prune := func() {
			done, err := pruner.Step(ctx)
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("health: sweep: %w", err))
				mu.Unlock()
			}
			if done || err != nil {
				pruner = nil
			}
		}
		for {
			var fg fetchedGroup
			var open bool
			if pruner != nil {
				select {
				case fg, open = <-fetched:
				default:
					prune() // no page waits for the writer
					continue
				}
			} else {
				fg, open = <-fetched
			}
			if !open {
				break
			}
			gs, err := m.storeGroup(ctx, fg)
			mu.Lock()
			stats.add(gs)
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		}
		for pruner != nil {
			prune()
		}
	}()
	slots := make(chan struct{}, m.opts.Concurrency)
	sweepStart := time.Now()
	for i, g := range groups {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break // shutting down: start no more groups
		}
		if usage := m.svc.appUsage(); usage >= BudgetStopAt {
			// The app's budget is nearly spent: the rest waits for the next sweep.
			<-slots
			mu.Lock()
			stats.RateLimited += len(groups) - i
			stats.Slowed += len(groups) - i
			mu.Unlock()
			m.log.Warn("health sweep: the app is near Meta's rate limit; the rest of the sweep waits for the next", "usage_percent", usage, "left", len(groups)-i)
			break
		} else if usage >= BudgetSlowDownAt {
			// Spread what is left over the interval instead of a burst.
			if !m.pace(ctx, sweepStart, i, len(groups)) {
				<-slots
				break
			}
			mu.Lock()
			stats.Slowed++
			mu.Unlock()
		}
		wg.Go(func() {
			defer func() { <-slots }()
			fg, ok, err := m.fetchGroup(ctx, g)
			if !ok {
				mu.Lock()
				stats.add(fg.stats)
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
				return
			}
			fetched <- fg
		})
	}
	wg.Wait()
	close(fetched)
	<-writerDone
	return stats, errors.Join(errs...)
}

// pace waits, when the app's budget is high, until group i of n is due on an even
// spread of the groups over nine tenths of the interval from the sweep's start. It
// returns false when ctx ended.
func (m *Monitor) pace(ctx context.Context, sweepStart time.Time, i, n int) bool {
	due := sweepStart.Add(time.Duration(float64(m.opts.Interval) * 0.9 * float64(i) / float64(n)))
	wait := time.Until(due)
	if wait <= 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *SweepStats) add(o SweepStats) {
	s.Groups += o.Groups
	s.GraphCalls += o.GraphCalls
	s.RateLimited += o.RateLimited
	s.Slowed += o.Slowed
	s.InboxesUpdated += o.InboxesUpdated
	s.Errors += o.Errors
	s.Pruned += o.Pruned
}

// sweepGroup is the inboxes fetched by one BusinessPhoneNumbers call: their ids from
// the grouping, their rows (inboxes) from when the fetch started.
type sweepGroup struct {
	wabaID  string
	token   string
	ids     []int64
	inboxes []db.Inbox
}

// SweepOnce refreshes every inbox once, prunes old data when due (at most every
// PruneInterval) and calls OnSwept. Fetch
// failures are recorded as error snapshots, not returned: err is only for failures to
// read or write the database, joined across groups.
func (m *Monitor) SweepOnce(ctx context.Context) (stats SweepStats, err error) {
	m.sweepMu.Lock()
	defer m.sweepMu.Unlock()
	if m.opts.OnSweepDone != nil {
		start := time.Now()
		defer func() {
			if ctx.Err() == nil { // a sweep cut short by shutdown says nothing about the sweeps
				m.opts.OnSweepDone(stats, time.Since(start), err)
			}
		}()
	}
	return m.sweep(ctx)
}

func (m *Monitor) sweep(ctx context.Context) (SweepStats, error) {

	var stats SweepStats
	groups, unreadable, err := m.groups(ctx)
	if err != nil {
		return stats, err
	}
	stats.Groups = len(groups)
	stats.Errors = unreadable

	// The pruning, when due, runs on the sweep's writer between and after the pages'
	// transactions (sweepGroups).
	var pruner *db.Pruner
	if now := m.opts.Now(); m.opts.Retention > 0 && (m.lastPrune.IsZero() || now.Sub(m.lastPrune) >= m.opts.PruneInterval) {
		m.lastPrune = now
		pruner = m.store.NewPruner(db.PruneBefore{Snapshots: now.Add(-m.opts.Retention), Changes: now.Add(-db.HealthChangeRetention),
			WebhookEvents: now.Add(-db.WebhookEventRetention)})
	}
	fetched, err := m.sweepGroups(ctx, groups, pruner)
	stats.add(fetched)
	if pruner != nil {
		stats.Pruned = pruner.Pruned()
	}
	if ctx.Err() != nil {
		return stats, fmt.Errorf("health: sweep: %w", ctx.Err())
	}
	if m.opts.OnSwept != nil {
		m.opts.OnSwept(ctx)
	}
	return stats, err
}

// groups groups every inbox by business account and token: a system-user token may
// serve several accounts, and two tokens on one account may see different numbers, so
// both make the key. Only the inboxes' ids are kept: each group's inboxes are read
// when its fetch starts (fetchGroup), so a sweep of 100,000 inboxes holds the few
// groups in flight, not the fleet. unreadable counts inboxes whose token could not be
// decrypted (logged, left out).
func (m *Monitor) groups(ctx context.Context) (groups []sweepGroup, unreadable int, err error) {
	type key struct{ waba, token string }
	index := map[key]int{}
	err = m.store.EachInboxToken(ctx, func(it db.InboxToken) error {
		if it.Err != nil {
			m.log.Error("health sweep: read inbox secrets", "inbox_id", it.ID, "error", it.Err)
			unreadable++
			return nil
		}
		k := key{it.WABAID, it.AccessToken}
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, sweepGroup{wabaID: it.WABAID, token: it.AccessToken})
		}
		groups[i].ids = append(groups[i].ids, it.ID)
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, 0, fmt.Errorf("health: sweep: %w", err)
	}
	return groups, unreadable, nil
}

// loadInboxes reads a group's inboxes as they are now, just before its fetch. An inbox
// deleted since the grouping is left out, and so is one moved to another business
// account (the next sweep fetches it with its new account).
func (m *Monitor) loadInboxes(ctx context.Context, g sweepGroup) ([]db.Inbox, error) {
	inboxes, err := m.store.InboxesByIDs(ctx, g.ids)
	if err != nil {
		return nil, fmt.Errorf("health: sweep: %w", err)
	}
	kept := inboxes[:0]
	for _, in := range inboxes {
		if in.WABAID == g.wabaID {
			kept = append(kept, in)
		}
	}
	return kept, nil
}

// fetchedGroup is one group's answer from Meta, on its way to the writer.
type fetchedGroup struct {
	g        sweepGroup
	numbers  []whatsapp.PhoneNumber
	fetchErr error
	asked    time.Time
	stats    SweepStats
}

// fetchGroup fetches one group's numbers with one paged call. A group whose business
// account is rate limited is skipped until the time Meta announced, keeping its
// inboxes' last snapshots as they are. The group's inboxes are read first (only
// then: a skipped group costs no read). ok is false when there is nothing to store;
// err is a failure to read the inboxes, which are then counted as errors.
func (m *Monitor) fetchGroup(ctx context.Context, g sweepGroup) (fg fetchedGroup, ok bool, err error) {
	if until, limited := m.svc.notBefore(g.wabaID); limited {
		m.log.Debug("health sweep: business account rate limited, skipped", "waba_id", g.wabaID, "until", until)
		fg.stats.RateLimited = 1
		if _, slowed := m.svc.slowedUntil(g.wabaID); slowed {
			fg.stats.Slowed = 1
		}
		return fg, false, nil
	}
	if g.inboxes, err = m.loadInboxes(ctx, g); err != nil {
		if ctx.Err() != nil {
			return fg, false, nil // shutting down: the sweep reports ctx's error
		}
		fg.stats.Errors = len(g.ids)
		return fg, false, err
	}
	fg.g = g
	if len(g.inboxes) == 0 {
		return fg, false, nil // all deleted or moved since the grouping
	}
	callCtx, cancel := context.WithTimeout(m.svc.reporting(ctx), sweepGroupTimeout)
	fg.asked = m.svc.now().UTC()
	fg.numbers, fg.fetchErr = m.graph.BusinessPhoneNumbers(callCtx, g.token, g.wabaID)
	cancel()
	fg.stats.GraphCalls = 1
	if ctx.Err() != nil {
		// Shutting down: a cancelled call says nothing about the numbers.
		return fg, false, nil
	}
	if whatsapp.KindOf(fg.fetchErr) == whatsapp.KindRateLimited {
		m.svc.holdOff(g.wabaID, whatsapp.RetryDelay(fg.fetchErr))
	}
	return fg, true, nil
}

// storeGroup records a snapshot per inbox of one fetched group, in one transaction.
func (m *Monitor) storeGroup(ctx context.Context, fg fetchedGroup) (SweepStats, error) {
	stats, g := fg.stats, fg.g
	byID := make(map[string]*whatsapp.PhoneNumber, len(fg.numbers))
	for i := range fg.numbers {
		byID[fg.numbers[i].ID] = &fg.numbers[i]
	}
	fetched := make([]Fetched, 0, len(g.inboxes))
	for _, in := range g.inboxes {
		phone, err := byID[in.PhoneNumberID], fg.fetchErr
		if err == nil && phone == nil {
			err = numberNotListed(in)
		}
		fetched = append(fetched, Fetched{Inbox: in, Phone: phone, Err: err, Asked: fg.asked})
	}
	// One transaction for the whole business account: one commit instead of one per number.
	if err := m.svc.RecordAll(ctx, fetched, db.SourceSweep); err != nil {
		stats.Errors += len(fetched)
		return stats, err
	}
	if err := m.settleMetaChecks(ctx, g, fg.numbers, fg.fetchErr); err != nil {
		return stats, err
	}
	for _, f := range fetched {
		if f.Err != nil {
			stats.Errors++
		} else {
			stats.InboxesUpdated++
		}
	}
	return stats, nil
}

func numberNotListed(in db.Inbox) error {
	return fmt.Errorf("health: sweep: phone number id %s: %w", in.PhoneNumberID, &whatsapp.GraphError{
		HTTPStatus: http.StatusNotFound,
		Message:    errNumberNotListedMessage + " " + in.WABAID,
		Kind:       whatsapp.KindInvalidRequest,
	})
}

// RateLimitedUntil reports until when no Graph call is made for a business account
// (zero time when it is free to call); the hold-off is the Service's, shared with
// refreshes.
func (m *Monitor) RateLimitedUntil(wabaID string) time.Time {
	return m.svc.RateLimitedUntil(wabaID)
}
