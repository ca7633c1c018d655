package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// Delivery retry rules.
const (
	// firstRetryDelay doubles after each failed attempt, up to maxRetryDelay.
	firstRetryDelay = 30 * time.Second
	maxRetryDelay   = time.Hour
	// DeliveryGiveUpAfter is how long a delivery is retried before it is given up
	// (logged on the destination's delivery log as "gave up").
	DeliveryGiveUpAfter = 24 * time.Hour
	// dueBatch bounds the deliveries one pass sends; sendConcurrency how many at once,
	// so one slow destination does not hold up the others.
	dueBatch        = 100
	sendConcurrency = 4
	// claimHold is how long a pass holds the deliveries it took (db.ClaimDueAlertDeliveries)
	// against every other dispatcher: enough for the whole batch to be tried, each
	// attempt within its timeout. A process that dies mid-pass leaves its deliveries
	// to be taken again after it.
	claimHold = (dueBatch/sendConcurrency + 1) * (deliveryTimeout + 5*time.Second)
	// idlePoll is the longest the worker sleeps without a wake-up: a delivery queued
	// by another process sharing the database file is
	// picked up within it.
	idlePoll = 30 * time.Second
	// pruneEvery is how often old alerts are pruned (db.AlertRetention).
	pruneEvery = time.Hour
)

// RetryDelay is the wait after the nth failed attempt (n from 1): 30 s doubling to an hour.
func RetryDelay(n int) time.Duration {
	d := firstRetryDelay
	for i := 1; i < n && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}

// DispatcherOptions tune a Dispatcher.
type DispatcherOptions struct {
	Now    func() time.Time
	Logger *slog.Logger
	// FrontendURL makes the links in alerts.
	FrontendURL string
	// SMTP is the mail server; nil when SMTP_URL is unset (email deliveries then fail
	// with that reason, and the Alerts page says so).
	SMTP *SMTPConfig
	// Policy checks every connection to a Slack or webhook destination.
	Policy URLPolicy
	// OnDelivery, when set, is told each attempt's channel and outcome (metrics).
	OnDelivery func(channel, outcome string)
	// DigestHour is the hour (UTC, 0-23) daily digests go out; the server takes it
	// from ALERT_DIGEST_HOUR (DefaultDigestHour when unset).
	DigestHour int
}

// Dispatcher is the background worker that delivers alerts from the outbox
// (alert_deliveries): it releases grouped alerts when their interval ends, sends due
// deliveries, and retries failures with backoff for a day. Nothing waits on it: the
// monitor and the pages only write to the outbox.
type Dispatcher struct {
	store   *db.Store
	opts    DispatcherOptions
	log     *slog.Logger
	senders map[string]sender
	wake    chan struct{}
	passMu  sync.Mutex // one pass at a time
	// lastPrune is when old alerts were last pruned (guarded by passMu).
	lastPrune time.Time
}

// NewDispatcher builds the worker; Run starts it.
func NewDispatcher(store *db.Store, opts DispatcherOptions) *Dispatcher {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	client := opts.Policy.HTTPClient()
	return &Dispatcher{store: store, opts: opts, log: opts.Logger, wake: make(chan struct{}, 1),
		senders: map[string]sender{
			ChannelEmail:   emailSender{cfg: opts.SMTP},
			ChannelSlack:   slackSender{client: client},
			ChannelWebhook: webhookSender{client: client, now: opts.Now},
		}}
}

// Wake makes the worker look at the outbox now.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// DigestHour is the hour (UTC) daily digests go out.
func (d *Dispatcher) DigestHour() int { return d.opts.DigestHour }

// EmailConfigured reports whether email destinations can be delivered.
func (d *Dispatcher) EmailConfigured() bool { return d.opts.SMTP != nil }

// Run delivers until ctx ends: a pass at start (deliveries a previous process left
// pending go out now), then one whenever woken or when the next retry is due.
func (d *Dispatcher) Run(ctx context.Context) {
	for {
		if _, err := d.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("alerts: delivery pass", "error", err)
		}
		wait := idlePoll
		if next, err := d.store.NextAlertWorkAt(ctx); err == nil && !next.IsZero() {
			wait = min(max(next.Sub(d.opts.Now()), 50*time.Millisecond), idlePoll)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-d.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// DeliverDue releases the grouped alerts whose interval ended and makes one attempt at
// every due delivery. It returns how many attempts were made.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	d.passMu.Lock()
	defer d.passMu.Unlock()
	now := d.opts.Now()
	if now.Sub(d.lastPrune) >= pruneEvery {
		d.lastPrune = now
		if n, err := d.store.PruneAlerts(ctx, now.Add(-db.AlertRetention)); err != nil {
			d.log.Error("alerts: prune old alerts", "error", err)
		} else if n > 0 {
			d.log.Info("alerts: pruned old alerts", "alerts", n)
		}
	}
	held, err := d.store.DueHeldAlerts(ctx, now)
	if err != nil {
		return 0, err
	}
	if err := d.queueDueDigests(ctx, now); err != nil {
		return 0, err
	}
	for _, a := range held {
		dests, err := destinationsFor(ctx, d.store, a)
		if err != nil {
			return 0, err
		}
		if err := d.store.ReleaseAlert(ctx, a.ID, now, dests); err != nil {
			return 0, err
		}
	}
	due, err := d.store.ClaimDueAlertDeliveries(ctx, now, dueBatch, claimHold)
	if err != nil {
		return 0, err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	slots := make(chan struct{}, sendConcurrency)
	for _, del := range due {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := d.attempt(ctx, del); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return len(due), errors.Join(errs...)
}

// attempt makes one delivery attempt and records it on the delivery log.
func (d *Dispatcher) attempt(ctx context.Context, del db.AlertDelivery) error {
	dest, err := d.store.AlertDestinationWithSecrets(ctx, del.DestinationID)
	if errors.Is(err, db.ErrNotFound) {
		return nil // deleted meanwhile; its deliveries went with it
	}
	if err != nil {
		return err
	}
	a, err := d.store.AlertByID(ctx, del.AlertID)
	if err != nil {
		return err
	}
	accountName, err := d.store.AccountNameByID(ctx, a.AccountID)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	p := payloadOf(a, accountName, d.opts.FrontendURL)
	s, ok := d.senders[dest.Channel]
	if !ok {
		return fmt.Errorf("alerts: destination %d has unknown channel %q", dest.ID, dest.Channel)
	}
	sendCtx, cancel := context.WithTimeout(ctx, deliveryTimeout+5*time.Second)
	detail, sendErr := s.send(sendCtx, dest, p, del.ID)
	cancel()
	if ctx.Err() != nil {
		return nil // shutting down: the attempt is made again once its claim (claimHold) ends
	}
	now := d.opts.Now()
	outcome := db.AttemptDelivered
	var retryAt *time.Time
	if sendErr != nil {
		next := now.Add(RetryDelay(del.Attempts + 1))
		if next.Sub(del.CreatedAt) > DeliveryGiveUpAfter {
			outcome = db.AttemptGaveUp
		} else {
			outcome, retryAt = db.AttemptFailed, &next
		}
		d.log.Warn("alerts: delivery failed", "delivery_id", del.ID, "destination_id", dest.ID, "channel", dest.Channel,
			"attempt", del.Attempts+1, "detail", detail, "outcome", outcome)
	}
	if d.opts.OnDelivery != nil {
		d.opts.OnDelivery(dest.Channel, outcome)
	}
	return d.store.RecordAlertDeliveryAttempt(ctx, del.ID, now, outcome, detail, retryAt)
}

// SendTest queues a test alert for one destination and wakes the worker; the delivery
// log shows how it went.
func (d *Dispatcher) SendTest(ctx context.Context, dest db.AlertDestination, by string) (db.Alert, error) {
	now := d.opts.Now()
	id := dest.ID
	a := db.Alert{AccountID: dest.AccountID, Kind: string(KindTest), Type: TypeTest, OccurredAt: now, Count: 1,
		State: db.AlertSent, SentAt: &now, OnlyDestinationID: &id,
		Reason: "A test alert sent from the Alerts page by " + by + ". Real alerts look like this one.",
		Remedy: "Nothing to do: this destination receives Inbox Health alerts."}
	stored, err := d.store.AddAlert(ctx, a, []int64{dest.ID})
	if err != nil {
		return db.Alert{}, err
	}
	d.Wake()
	return stored, nil
}

// DefaultDigestHour is the hour (UTC) daily digests go out.
const DefaultDigestHour = 8

// digestMaxAlerts bounds the alerts one digest lists.
const digestMaxAlerts = 200

// nextDigestAt is the first digest time after last.
func nextDigestAt(last time.Time, hour int) time.Time {
	last = last.UTC()
	next := time.Date(last.Year(), last.Month(), last.Day(), hour, 0, 0, 0, time.UTC)
	if !next.After(last) {
		next = next.AddDate(0, 0, 1)
	}
	return next
}

// queueDueDigests queues the daily digest of every digest destination whose time has
// come: the alerts of its kinds since the last digest (at most a day), or a line that
// all was quiet — which also shows the destination still receives.
func (d *Dispatcher) queueDueDigests(ctx context.Context, now time.Time) error {
	dests, err := d.store.DigestDestinations(ctx)
	if err != nil {
		return err
	}
	for _, dest := range dests {
		last := dest.CreatedAt
		if dest.DigestSentAt != nil {
			last = *dest.DigestSentAt
		}
		if now.Before(nextDigestAt(last, d.opts.DigestHour)) {
			continue
		}
		since := now.Add(-24 * time.Hour)
		if last.After(since) {
			since = last
		}
		list, err := d.store.AlertsSince(ctx, dest.AccountID, since, digestMaxAlerts)
		if err != nil {
			return err
		}
		var lines []string
		for _, a := range list {
			if !slices.Contains(dest.Kinds, a.Kind) {
				continue
			}
			line := "• " + a.OccurredAt.UTC().Format("Jan 2 15:04 UTC") + " — " + a.InboxName + ": " + Headline(Kind(a.Kind), a.Type)
			if a.From != "" || a.To != "" {
				line += " (" + strings.TrimSpace(a.From+" → "+a.To) + ")"
			}
			if a.Count > 1 {
				line += fmt.Sprintf(", %d changes", a.Count)
			}
			lines = append(lines, line)
		}
		reason, remedy := "No alerts in the last 24 hours.", "Nothing to do."
		if len(lines) > 0 {
			reason, remedy = strings.Join(lines, "\n"), "Open the Alerts page for each alert's reason and what to do."
		}
		id, sent := dest.ID, now
		if _, err := d.store.AddDigest(ctx, db.Alert{AccountID: dest.AccountID, Kind: string(KindDigest), Type: TypeDigest,
			OccurredAt: now, Count: len(lines), State: db.AlertSent, SentAt: &sent, OnlyDestinationID: &id, Reason: reason,
			Remedy: remedy}); err != nil && !errors.Is(err, db.ErrDigestSent) { // sent: by another instance
			return err
		}
	}
	return nil
}
