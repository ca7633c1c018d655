package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// Engine defaults.
const (
	// DefaultRegistrationOverdueAfter is how long after a number was added its
	// registration may take before that is an alert.
	DefaultRegistrationOverdueAfter = 24 * time.Hour
	// DefaultGroupInterval is the least time between two alerts of one inbox and kind:
	// what happens in between is grouped into one alert, sent when the interval ends,
	// with the number of transitions it stands for.
	DefaultGroupInterval = time.Hour
	// DefaultWebhookSilenceAfter is how long a subscribed business account may send no
	// account-level webhook before that is an alert.
	DefaultWebhookSilenceAfter = 7 * 24 * time.Hour
	// queueSize bounds the readings waiting for the engine. A full queue drops a
	// reading (logged): the next reading of the inbox is compared with the last value
	// the engine saw, so a transition is alerted late, not lost.
	queueSize = 20_000
)

// StatusReader reads an inbox's registration status; *health.Registrar implements it.
type StatusReader interface {
	Status(ctx context.Context, in db.Inbox) (health.Status, error)
}

// EngineOptions tune an Engine; zero values take defaults.
type EngineOptions struct {
	Now                      func() time.Time
	Logger                   *slog.Logger
	RegistrationOverdueAfter time.Duration
	GroupInterval            time.Duration
	WebhookSilenceAfter      time.Duration
	// Status reads registration status (Meta's attempts left); without it the
	// "attempts used" alert is not raised.
	Status StatusReader
	// Queued, when set, is called after alerts were queued for delivery (the
	// dispatcher's Wake).
	Queued func()
}

// Engine turns health readings into alerts. HealthRecorded and AccountEventReceived
// (health.HealthObserver) only queue the news; Run works through the queue, one
// reading at a time, so the comparison with the last value seen never races.
type Engine struct {
	store *db.Store
	opts  EngineOptions
	log   *slog.Logger
	queue chan func(ctx context.Context) error
	busy  pendingCount // queued and running items, for Idle

	// evalMu makes one evaluation at a time (the queue's, and the webhook-silence check
	// from the monitor's goroutine), so a comparison with the last value never races;
	// it guards conditions, the cache of alert_conditions by inbox.
	evalMu     sync.Mutex
	conditions map[int64]cachedConditions
}

// cachedConditions are an inbox's conditions as the engine last knew them, for the
// number it showed then: an inbox edited to show another number starts afresh (the
// store forgets the old number's conditions, see db.InboxEdit.StartAfresh).
type cachedConditions struct {
	number string // phone-number id @ business account
	conds  map[string]db.AlertCondition
	// readAt is the CheckedAt of the newest reading looked at: an older one arriving
	// later (a slow sweep answered after a webhook) says nothing new.
	readAt time.Time
}

func numberOf(in db.Inbox) string { return in.PhoneNumberID + "@" + in.WABAID }

// NewEngine builds an engine; Run starts it.
func NewEngine(store *db.Store, opts EngineOptions) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RegistrationOverdueAfter <= 0 {
		opts.RegistrationOverdueAfter = DefaultRegistrationOverdueAfter
	}
	if opts.GroupInterval <= 0 {
		opts.GroupInterval = DefaultGroupInterval
	}
	if opts.WebhookSilenceAfter <= 0 {
		opts.WebhookSilenceAfter = DefaultWebhookSilenceAfter
	}
	return &Engine{store: store, opts: opts, log: opts.Logger, queue: make(chan func(ctx context.Context) error, queueSize),
		conditions: map[int64]cachedConditions{}}
}

var _ health.HealthObserver = (*Engine)(nil)

// HealthRecorded queues a stored health reading (health.HealthObserver).
func (e *Engine) HealthRecorded(in db.Inbox, snap db.HealthSnapshot) {
	e.enqueue(func(ctx context.Context) error { return e.Observe(ctx, in, snap) })
}

// AccountEventReceived queues an account-level event (health.HealthObserver).
func (e *Engine) AccountEventReceived(in db.Inbox, change whatsapp.WebhookChange) {
	e.enqueue(func(ctx context.Context) error { return e.ObserveAccountEvent(ctx, in, change) })
}

func (e *Engine) enqueue(item func(ctx context.Context) error) {
	e.busy.add(1)
	select {
	case e.queue <- item:
	default:
		e.busy.add(-1)
		e.log.Warn("alerts: engine queue full, reading dropped (the next reading of the inbox is compared instead)")
	}
}

// Run works through the queue until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case item := <-e.queue:
			if err := item(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("alerts: evaluate health", "error", err)
			}
			e.busy.add(-1)
		}
	}
}

// Idle waits until every queued reading has been worked through (tests, shutdown).
func (e *Engine) Idle() { e.busy.waitZero() }

// pendingCount counts work items and lets a caller wait until there are none.
type pendingCount struct {
	mu   sync.Mutex
	cond *sync.Cond
	n    int
}

func (p *pendingCount) add(d int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += d
	if p.n == 0 && p.cond != nil {
		p.cond.Broadcast()
	}
}

func (p *pendingCount) waitZero() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cond == nil {
		p.cond = sync.NewCond(&p.mu)
	}
	for p.n > 0 {
		p.cond.Wait()
	}
}

// Observe compares one health reading of an inbox with what the engine saw last and
// raises an alert for each transition worth one.
func (e *Engine) Observe(ctx context.Context, in db.Inbox, snap db.HealthSnapshot) error {
	e.evalMu.Lock()
	defer e.evalMu.Unlock()
	// The inbox as it is now: a register attempt may have changed its PIN state since
	// the reading was taken, an edit the number it shows.
	fresh, err := e.store.InboxByID(ctx, in.ID)
	if errors.Is(err, db.ErrNotFound) {
		return nil // removed meanwhile
	}
	if err != nil {
		return fmt.Errorf("alerts: observe inbox %d: %w", in.ID, err)
	}
	if numberOf(in) != numberOf(fresh) {
		return nil // a reading of the number the inbox showed before an edit
	}
	cached, err := e.conditionsOf(ctx, fresh)
	if err != nil {
		return err
	}
	if snap.CheckedAt.Before(cached.readAt) {
		return nil
	}
	cached.readAt = snap.CheckedAt
	e.conditions[fresh.ID] = cached
	r := reading{inbox: fresh, snap: snap, now: e.opts.Now(), registrationOverdueAfter: e.opts.RegistrationOverdueAfter}
	input := health.AdviceInput{Inbox: fresh, Snapshot: &snap, Administrator: true, Now: r.now}
	if e.opts.Status != nil && snap.OK && snap.RegistrationState != string(whatsapp.StateRegistered) {
		if st, err := e.opts.Status.Status(ctx, fresh); err == nil {
			input.Status, input.HasStatus = st, true
			r.attemptsUsed = st.BlockedUntil != nil
		} else {
			e.log.Warn("alerts: read registration status", "inbox_id", in.ID, "error", err)
		}
	}
	r.advice = health.Advise(input)
	var changed []db.AlertCondition
	for _, rl := range rules {
		value, known := rl.read(r)
		if !known {
			continue
		}
		next, err := e.compare(ctx, r, rl, value)
		if err != nil {
			return err
		}
		if next != nil {
			changed = append(changed, *next)
		}
	}
	return e.remember(ctx, fresh.ID, changed)
}

// compare reads where the inbox's condition of the rule's kind goes with value, raising
// an alert when that is a worsening, or a recovery from an open problem. It returns
// the condition to remember, or nil when nothing changed.
func (e *Engine) compare(ctx context.Context, r reading, rl rule, value string) (*db.AlertCondition, error) {
	cached, err := e.conditionsOf(ctx, r.inbox)
	if err != nil {
		return nil, err
	}
	conds := cached.conds
	kind := string(rl.kind)
	prev, seen := conds[kind]
	next := db.AlertCondition{Kind: kind, Value: value, ChangedAt: r.now}
	switch {
	case !seen:
		// Baseline: the first value seen raises nothing.
	case prev.Value == value:
		return nil, nil
	case rl.worse(prev.Value, value):
		next.Firing, next.OKValue = true, prev.OKValue
		if !prev.Firing {
			next.OKValue = prev.Value
		}
		reason, remedy := rl.explain(r, prev.Value, value, false)
		if err := e.raise(ctx, r.inbox, rl.kind, rl.kind.ProblemType(), prev.Value, value, reason, remedy); err != nil {
			return nil, err
		}
	case prev.Firing && rl.recovered(prev.OKValue, value):
		reason, remedy := rl.explain(r, prev.Value, value, true)
		if err := e.raise(ctx, r.inbox, rl.kind, rl.kind.RecoveredType(), prev.Value, value, reason, remedy); err != nil {
			return nil, err
		}
	default:
		// Better but not recovered, or a harmless change: remembered, not alerted.
		next.Firing, next.OKValue = prev.Firing, prev.OKValue
	}
	return &next, nil
}

// remember stores an inbox's changed conditions in one write. It runs after the
// alerts they raised are stored: a crash in between raises them again at the next
// reading rather than losing them.
func (e *Engine) remember(ctx context.Context, inboxID int64, changed []db.AlertCondition) error {
	if len(changed) == 0 {
		return nil
	}
	if err := e.store.SaveAlertConditions(ctx, inboxID, changed); err != nil {
		return err
	}
	conds := e.conditions[inboxID].conds
	for _, c := range changed {
		conds[c.Kind] = c
	}
	return nil
}

func (e *Engine) conditionsOf(ctx context.Context, in db.Inbox) (cachedConditions, error) {
	if c, ok := e.conditions[in.ID]; ok && c.number == numberOf(in) {
		return c, nil
	}
	conds, err := e.store.AlertConditions(ctx, in.ID)
	if err != nil {
		return cachedConditions{}, fmt.Errorf("alerts: %w", err)
	}
	c := cachedConditions{number: numberOf(in), conds: conds}
	e.conditions[in.ID] = c
	return c, nil
}

// ObserveAccountEvent raises an alert for an account-level event that needs a person
// (or says the business account is back in order).
func (e *Engine) ObserveAccountEvent(ctx context.Context, in db.Inbox, change whatsapp.WebhookChange) error {
	e.evalMu.Lock()
	defer e.evalMu.Unlock()
	alertType, event, reason, remedy, ok := accountEventAlert(change)
	if !ok {
		return nil
	}
	return e.raise(ctx, in, KindAccountEvent, alertType, "", event, reason, remedy)
}

// CheckWebhookSilence looks at every inbox whose app subscription to its business
// account is in place: no account-level webhook for WebhookSilenceAfter (counted from
// the subscription when none ever came) is an alert, and one arriving again its
// recovery. The monitor runs it after each sweep.
func (e *Engine) CheckWebhookSilence(ctx context.Context) error {
	e.evalMu.Lock()
	defer e.evalMu.Unlock()
	now := e.opts.Now()
	last := map[string]time.Time{}
	err := e.store.EachInboxPage(ctx, func(page []db.Inbox) error {
		for _, in := range page {
			if in.WebhookSubscribedAt == nil {
				continue
			}
			at, ok := last[in.WABAID]
			if !ok {
				var err error
				if at, err = e.store.LastWebhookEventAt(ctx, in.WABAID, whatsapp.AppWebhookFields); err != nil {
					return err
				}
				last[in.WABAID] = at
			}
			at = latest(at, *in.WebhookSubscribedAt)
			value := webhooksReceiving
			if now.Sub(at) >= e.opts.WebhookSilenceAfter {
				value = webhooksSilent
			}
			next, err := e.compare(ctx, reading{inbox: in, now: now}, webhooksSilentRule, value)
			if err != nil {
				return err
			}
			if next != nil {
				if err := e.remember(ctx, in.ID, []db.AlertCondition{*next}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("alerts: webhook silence: %w", err)
	}
	return nil
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// raise records one transition as an alert. At most one alert per inbox and kind goes
// out per GroupInterval: a transition within the interval after the last alert joins
// one held alert (counted), sent when the interval ends with what was seen last.
func (e *Engine) raise(ctx context.Context, in db.Inbox, kind Kind, alertType, from, to, reason, remedy string) error {
	now := e.opts.Now()
	last, err := e.store.LatestAlertOf(ctx, in.ID, string(kind))
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("alerts: raise: %w", err)
	}
	found := err == nil
	if found && last.State == db.AlertHeld {
		last.Count++
		last.Type, last.To, last.Reason, last.Remedy, last.OccurredAt = alertType, to, reason, remedy, now
		return e.store.UpdateHeldAlert(ctx, last)
	}
	id := in.ID
	a := db.Alert{AccountID: in.AccountID, InboxID: &id, InboxName: in.Name, PhoneNumber: in.PhoneNumber, Kind: string(kind),
		Type: alertType, From: from, To: to, Reason: reason, Remedy: remedy, OccurredAt: now, Count: 1}
	if found && last.SentAt != nil && now.Before(last.SentAt.Add(e.opts.GroupInterval)) {
		release := last.SentAt.Add(e.opts.GroupInterval)
		a.State, a.ReleaseAt = db.AlertHeld, &release
		if _, err := e.store.AddAlert(ctx, a, nil); err != nil {
			return fmt.Errorf("alerts: raise: %w", err)
		}
		e.log.Info("alert grouped with the next one", "inbox_id", in.ID, "kind", kind, "type", alertType, "release_at", release)
		e.queued()
		return nil
	}
	dests, err := destinationsFor(ctx, e.store, a)
	if err != nil {
		return err
	}
	a.State, a.SentAt = db.AlertSent, &now
	stored, err := e.store.AddAlert(ctx, a, dests)
	if err != nil {
		return fmt.Errorf("alerts: raise: %w", err)
	}
	e.log.Info("alert raised", "alert_id", stored.ID, "inbox_id", in.ID, "kind", kind, "type", alertType,
		"from", from, "to", to, "destinations", len(dests))
	e.queued()
	return nil
}

func (e *Engine) queued() {
	if e.opts.Queued != nil {
		e.opts.Queued()
	}
}

// destinationsFor picks the destinations that get an alert: a test alert's (or
// digest's) own, or every destination of the account that takes its kind and wants
// alerts as they happen (a digest destination reads them in its next digest).
func destinationsFor(ctx context.Context, store *db.Store, a db.Alert) ([]int64, error) {
	if a.OnlyDestinationID != nil {
		return []int64{*a.OnlyDestinationID}, nil
	}
	all, err := store.AlertDestinations(ctx, a.AccountID)
	if err != nil {
		return nil, fmt.Errorf("alerts: destinations: %w", err)
	}
	var ids []int64
	for _, d := range all {
		if !d.Digest && slices.Contains(d.Kinds, a.Kind) {
			ids = append(ids, d.ID)
		}
	}
	return ids, nil
}
