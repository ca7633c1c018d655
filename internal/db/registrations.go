package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Registration triggers: what started an attempt.
const (
	TriggerBanner    = "banner"
	TriggerAPI       = "api"
	TriggerAutomatic = "automatic"
	TriggerWebhook   = "webhook"
	TriggerSetup     = "setup"
	// TriggerNameChange re-registers a registered number after Meta approved a new
	// display name (the new name shows only after a register call made after approval).
	TriggerNameChange = "name_change"
)

// Attempt outcomes.
const (
	OutcomeInFlight    = "in_flight"
	OutcomeRegistered  = "registered"
	OutcomeFailed      = "failed"
	OutcomeInterrupted = "interrupted" // the process stopped while the call was open
	// OutcomeDeregistered is a deregister call Meta accepted (before registering again
	// after 133000); like register it counts toward Meta's 10 calls per 72 h.
	OutcomeDeregistered = "deregistered"
	// OutcomePINSet is an administrator's new two-step PIN accepted by Meta
	// (POST /{phone-number-id} {pin}); it is not a register call.
	OutcomePINSet = "pin_set"
)

// RegistrationAttempt is one try at registering a number.
type RegistrationAttempt struct {
	ID           int64
	InboxID      int64
	Trigger      string
	UserID       *int64
	UserEmail    string
	StartedAt    time.Time
	FinishedAt   *time.Time
	Outcome      string
	GraphCalled  bool
	ErrorKind    whatsapp.Kind
	GraphCode    int64
	GraphSubcode int64
	Message      string
	Duration     time.Duration
}

// StartAttempt records an attempt as in flight before Meta is called, so a crash leaves
// a trace that is later shown as interrupted.
func (s *Store) StartAttempt(ctx context.Context, inboxID int64, trigger string, userID *int64, graphCalled bool) (RegistrationAttempt, error) {
	a := RegistrationAttempt{InboxID: inboxID, Trigger: trigger, UserID: userID, StartedAt: s.now().UTC(), Outcome: OutcomeInFlight, GraphCalled: graphCalled}
	err := s.write.QueryRowContext(ctx, `INSERT INTO registration_attempts (inbox_id, trigger, user_id, started_at, outcome, graph_called)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, inboxID, trigger, userID, millis(a.StartedAt), a.Outcome, graphCalled).Scan(&a.ID)
	if err != nil {
		return RegistrationAttempt{}, fmt.Errorf("db: start attempt: %w", err)
	}
	return a, nil
}

// FinishAttempt records an attempt's outcome.
func (s *Store) FinishAttempt(ctx context.Context, a RegistrationAttempt) error {
	finished := s.now().UTC()
	if a.FinishedAt != nil {
		finished = *a.FinishedAt
	}
	res, err := s.write.ExecContext(ctx, `UPDATE registration_attempts SET finished_at = ?, outcome = ?, graph_called = ?,
		error_kind = ?, graph_code = ?, graph_subcode = ?, message = ?, duration_ms = ? WHERE id = ?`,
		millis(finished), a.Outcome, a.GraphCalled, string(a.ErrorKind), a.GraphCode, a.GraphSubcode, a.Message,
		a.Duration.Milliseconds(), a.ID)
	if err != nil {
		return fmt.Errorf("db: finish attempt: %w", err)
	}
	return expectOneRow(res, "finish attempt")
}

// MarkInterruptedAttempts turns attempts left in flight by a stopped process (older than
// olderThan) into interrupted ones and returns how many there were.
func (s *Store) MarkInterruptedAttempts(ctx context.Context, olderThan time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE registration_attempts SET outcome = ?, finished_at = ?,
		message = 'The app stopped while this registration was in progress; Meta may have received it.'
		WHERE outcome = ? AND started_at < ? AND inbox_id NOT IN (SELECT inbox_id FROM registration_leases WHERE expires_at > ?)`,
		OutcomeInterrupted, millis(s.now()), OutcomeInFlight, millis(olderThan), millis(s.now()))
	if err != nil {
		return 0, fmt.Errorf("db: mark interrupted attempts: %w", err)
	}
	return res.RowsAffected()
}

const (
	qAttempts = `SELECT ra.id, ra.inbox_id, ra.trigger, ra.user_id, COALESCE(u.email, ''), ra.started_at,
		ra.finished_at, ra.outcome, ra.graph_called, ra.error_kind, ra.graph_code, ra.graph_subcode, ra.message, ra.duration_ms
		FROM registration_attempts ra LEFT JOIN users u ON u.id = ra.user_id
		WHERE ra.inbox_id = ? ORDER BY ra.started_at DESC, ra.id DESC LIMIT ?`
	qGraphCallsSince = `SELECT started_at FROM registration_attempts
		WHERE inbox_id = ? AND graph_called = 1 AND started_at >= ? ORDER BY started_at`
)

// Attempts lists an inbox's attempts, newest first.
func (s *Store) Attempts(ctx context.Context, inboxID int64, limit int) ([]RegistrationAttempt, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.st.attempts.QueryContext(ctx, inboxID, limit)
	if err != nil {
		return nil, fmt.Errorf("db: attempts: %w", err)
	}
	defer rows.Close()
	var out []RegistrationAttempt
	for rows.Next() {
		var a RegistrationAttempt
		var userID, finished sql.NullInt64
		var started, durationMS int64
		var kind string
		if err := rows.Scan(&a.ID, &a.InboxID, &a.Trigger, &userID, &a.UserEmail, &started, &finished, &a.Outcome,
			&a.GraphCalled, &kind, &a.GraphCode, &a.GraphSubcode, &a.Message, &durationMS); err != nil {
			return nil, fmt.Errorf("db: attempts: %w", err)
		}
		if userID.Valid {
			a.UserID = &userID.Int64
		}
		a.StartedAt = fromMillis(started)
		a.FinishedAt = timePtr(finished)
		a.ErrorKind = whatsapp.Kind(kind)
		a.Duration = time.Duration(durationMS) * time.Millisecond
		out = append(out, a)
	}
	return out, rows.Err()
}

// GraphCallsSince counts register calls sent to Meta for an inbox since a time (Meta
// allows 10 per number in a moving 72 hours). Interrupted and in-flight calls count:
// Meta may have received them.
func (s *Store) GraphCallsSince(ctx context.Context, inboxID int64, since time.Time) (int, []time.Time, error) {
	rows, err := s.st.graphCallsSince.QueryContext(ctx, inboxID, millis(since))
	if err != nil {
		return 0, nil, fmt.Errorf("db: count register calls: %w", err)
	}
	defer rows.Close()
	var times []time.Time
	for rows.Next() {
		var ms int64
		if err := rows.Scan(&ms); err != nil {
			return 0, nil, fmt.Errorf("db: count register calls: %w", err)
		}
		times = append(times, fromMillis(ms))
	}
	return len(times), times, rows.Err()
}

// ErrLeaseHeld means another registration for the inbox is in flight.
var ErrLeaseHeld = errors.New("db: a registration for this inbox is already in progress")

// AcquireLease takes the inbox's registration lease for holder until now+ttl. It fails
// with ErrLeaseHeld while another holder's lease has not expired; the database makes
// this atomic across goroutines and processes.
func (s *Store) AcquireLease(ctx context.Context, inboxID int64, holder string, ttl time.Duration) error {
	now := s.now()
	res, err := s.write.ExecContext(ctx, `INSERT INTO registration_leases (inbox_id, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT(inbox_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE registration_leases.expires_at <= ?`, inboxID, holder, millis(now.Add(ttl)), millis(now))
	if err != nil {
		return fmt.Errorf("db: acquire lease: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("db: acquire lease: %w", err)
	}
	if n == 0 {
		return ErrLeaseHeld
	}
	return nil
}

// ReleaseLease gives the lease back if holder still has it.
func (s *Store) ReleaseLease(ctx context.Context, inboxID int64, holder string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM registration_leases WHERE inbox_id = ? AND holder = ?`, inboxID, holder); err != nil {
		return fmt.Errorf("db: release lease: %w", err)
	}
	return nil
}

// WebhookEvent is a signed event received from Meta.
type WebhookEvent struct {
	ID          int64
	InboxID     *int64
	PhoneNumber string
	WABAID      string
	Field       string
	Payload     string
	// DedupKey identifies the event across Meta's repeated deliveries ("" = none).
	DedupKey string
	// Duplicate is set on every delivery of a DedupKey after the first.
	Duplicate  bool
	ReceivedAt time.Time
}

// qAddWebhookEvent inserts an event, marked duplicate when its key was stored before.
// The EXISTS repeats the partial index's whole condition (a non-empty dedup_key): without it
// SQLite cannot use the index and scans every stored event.
const qAddWebhookEvent = `INSERT INTO webhook_events
		(inbox_id, phone_number, waba_id, field, payload, dedup_key, duplicate, received_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN ?6 <> '' AND EXISTS (SELECT 1 FROM webhook_events
			WHERE dedup_key = ?6 AND duplicate = 0 AND dedup_key <> '') THEN 1 ELSE 0 END, ?7)
		RETURNING id, duplicate`

// AddWebhookEvent stores a received event. A delivery whose DedupKey was stored before
// is stored too, marked Duplicate (and returned so), so the caller acts on it once.
//
// It returns once the event is committed, so a webhook answered 200 after it is on
// disk. Concurrent calls are group-committed: while one transaction is being written,
// the events that arrive queue up, and the next transaction writes them all (a burst of
// Meta's deliveries costs a few commits, not one each). A batch that fails is written
// again one event per transaction, so one bad event fails only its own caller.
func (s *Store) AddWebhookEvent(ctx context.Context, e WebhookEvent) (WebhookEvent, error) {
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = s.now()
	}
	p := &pendingEvent{e: e, done: make(chan struct{})}
	s.events.mu.Lock()
	s.events.queue = append(s.events.queue, p)
	lead := !s.events.writing
	s.events.writing = true
	s.events.mu.Unlock()
	if lead {
		// This caller writes the first batch (its own event is in it); the write is
		// not tied to its request, since others wait on it too.
		s.writeEventBatches(context.WithoutCancel(ctx))
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return WebhookEvent{}, fmt.Errorf("db: add webhook event: %w", ctx.Err())
	}
	if p.err != nil {
		return WebhookEvent{}, fmt.Errorf("db: add webhook event: %w", p.err)
	}
	return p.e, nil
}

// eventBatch is the queue of webhook events waiting for their transaction.
type eventBatch struct {
	mu      sync.Mutex
	queue   []*pendingEvent
	writing bool // a caller is writing batches
	// insert is qAddWebhookEvent prepared on the writer, once (closed with the store's
	// statements).
	insertOnce sync.Once
	insert     *sql.Stmt
	insertErr  error
}

type pendingEvent struct {
	e    WebhookEvent
	err  error
	done chan struct{}
}

// maxEventBatch bounds one transaction of webhook events.
const maxEventBatch = 256

// writeEventBatches writes the queued events (s.events.writing set) in one transaction,
// then hands the events that queued meanwhile to a goroutine of their own, so the
// caller that led is answered after its own batch, not after the whole burst.
func (s *Store) writeEventBatches(ctx context.Context) {
	s.events.mu.Lock()
	n := min(len(s.events.queue), maxEventBatch)
	if n == 0 {
		s.events.writing = false
		s.events.mu.Unlock()
		return
	}
	batch := slices.Clone(s.events.queue[:n])
	s.events.queue = slices.Delete(s.events.queue, 0, n)
	s.events.mu.Unlock()

	err := s.timedWrite("webhook_event", func() error { return s.insertEvents(ctx, batch) })
	if err != nil {
		// One event at a time, so one bad event fails only its caller. On
		// PostgreSQL two instances may both find no earlier delivery of a key; the
		// unique index then makes the second wait for the first and fail, and run
		// again it finds the first.
		for _, p := range batch {
			p.err = s.timedWrite("webhook_event", func() error {
				var err error
				for range 2 {
					if err = s.insertEvents(ctx, []*pendingEvent{p}); !isUniqueViolation(err) {
						break
					}
				}
				return err
			})
		}
	}
	for _, p := range batch {
		s.c.lastEvent.drop(p.e.WABAID)
		if p.e.InboxID != nil {
			s.c.recentEvents.drop(*p.e.InboxID)
		} else {
			s.c.recentEvents.clear() // a business-account event shows on all its inboxes
		}
		close(p.done)
	}
	s.events.mu.Lock()
	defer s.events.mu.Unlock()
	if len(s.events.queue) == 0 {
		s.events.writing = false
		return
	}
	go s.writeEventBatches(ctx)
}

// insertEvents writes the events in one transaction. One statement each: the single
// writer makes the EXISTS and the INSERT atomic (an earlier event of the same batch is
// seen), and the partial unique index refuses a second "first" delivery from anywhere
// else.
func (s *Store) insertEvents(ctx context.Context, batch []*pendingEvent) error {
	s.events.insertOnce.Do(func() {
		s.events.insert, s.events.insertErr = s.write.PrepareContext(ctx, qAddWebhookEvent)
		if s.events.insertErr == nil {
			s.st.all = append(s.st.all, s.events.insert)
		}
	})
	if s.events.insertErr != nil {
		return s.events.insertErr
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st := tx.StmtContext(ctx, s.events.insert)
	for _, p := range batch {
		e := &p.e
		if err := st.QueryRowContext(ctx, e.InboxID, e.PhoneNumber, e.WABAID, e.Field, e.Payload, e.DedupKey,
			millis(e.ReceivedAt)).Scan(&e.ID, &e.Duplicate); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// LastWebhookEventAt is when the newest event with one of the fields arrived for a
// business account; the zero time when none did. Each field is one lookup in the
// (waba_id, field, received_at) index.
func (s *Store) LastWebhookEventAt(ctx context.Context, wabaID string, fields []string) (time.Time, error) {
	if len(fields) == 0 {
		return time.Time{}, nil
	}
	now := s.now()
	key := strings.Join(fields, ",")
	if c, ok, _ := s.c.lastEvent.get(wabaID, now); ok && c.fields == key {
		return c.at, nil
	}
	gen := s.c.lastEvent.generation()
	parts := make([]string, len(fields))
	args := make([]any, 0, 2*len(fields))
	for i, f := range fields {
		parts[i] = `SELECT max(received_at) AS t FROM webhook_events WHERE waba_id = ? AND field = ?`
		args = append(args, wabaID, f)
	}
	var at sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT max(t) FROM (`+strings.Join(parts, " UNION ALL ")+`) AS latest`, args...).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("db: last webhook event: %w", err)
	}
	var last time.Time
	if at.Valid {
		last = fromMillis(at.Int64)
	}
	s.c.lastEvent.fill(wabaID, cachedLastEvent{fields: key, at: last}, now, gen)
	return last, nil
}

// RecentWebhookEvents lists the newest events an inbox heard of, newest first, without
// repeated deliveries: those linked to the inbox, and those about its whole business
// account that no single inbox was linked to.
func (s *Store) RecentWebhookEvents(ctx context.Context, inboxID int64, wabaID string, limit int) ([]WebhookEvent, error) {
	now := s.now()
	c, ok, gen := s.c.recentEvents.get(inboxID, now)
	if ok && c.wabaID == wabaID && c.limit == limit {
		return slices.Clone(c.events), nil
	}
	events, err := s.recentWebhookEvents(ctx, inboxID, wabaID, limit)
	if err != nil {
		return nil, err
	}
	s.c.recentEvents.fill(inboxID, cachedEvents{wabaID: wabaID, limit: limit, events: events}, now, gen)
	return slices.Clone(events), nil
}

func (s *Store) recentWebhookEvents(ctx context.Context, inboxID int64, wabaID string, limit int) ([]WebhookEvent, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, inbox_id, phone_number, waba_id, field, payload, dedup_key, duplicate, received_at FROM (
			SELECT * FROM (SELECT * FROM webhook_events WHERE inbox_id = ?1 AND duplicate = 0 ORDER BY received_at DESC LIMIT ?3) AS own
			UNION ALL
			SELECT * FROM (SELECT * FROM webhook_events WHERE waba_id = ?2 AND inbox_id IS NULL AND duplicate = 0 ORDER BY received_at DESC LIMIT ?3) AS waba
		) AS events ORDER BY received_at DESC, id DESC LIMIT ?3`, inboxID, wabaID, limit)
	if err != nil {
		return nil, fmt.Errorf("db: recent webhook events: %w", err)
	}
	defer rows.Close()
	var out []WebhookEvent
	for rows.Next() {
		var e WebhookEvent
		var inbox sql.NullInt64
		var received int64
		if err := rows.Scan(&e.ID, &inbox, &e.PhoneNumber, &e.WABAID, &e.Field, &e.Payload, &e.DedupKey, &e.Duplicate, &received); err != nil {
			return nil, fmt.Errorf("db: recent webhook events: %w", err)
		}
		if inbox.Valid {
			e.InboxID = &inbox.Int64
		}
		e.ReceivedAt = fromMillis(received)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: recent webhook events: %w", err)
	}
	return out, nil
}

// CountWebhookEvents counts stored events (all inboxes).
func (s *Store) CountWebhookEvents(ctx context.Context) (int, error) {
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM webhook_events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count webhook events: %w", err)
	}
	return n, nil
}
