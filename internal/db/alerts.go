package db

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Alert destinations, conditions, alerts and their deliveries (migration 0008). The
// alerts package decides what they mean; this file only stores them.

// AlertDestination is where an account's alerts go. URL and Secret are set only by
// AlertDestinationWithSecrets, for the delivery worker: never render or log them.
type AlertDestination struct {
	ID         int64
	AccountID  int64
	Channel    string // email | slack | webhook
	Label      string // scheme and host of the URL, or the addresses: safe to show
	URL        string
	Secret     string
	Recipients []string
	Kinds      []string
	// Digest: the destination gets one daily digest instead of each alert;
	// DigestSentAt is when the last one was queued (nil: none yet).
	Digest       bool
	DigestSentAt *time.Time
	CreatedAt    time.Time
}

// NewAlertDestination is what CreateAlertDestination stores.
type NewAlertDestination struct {
	AccountID  int64
	Channel    string
	Label      string
	URL        string
	Secret     string
	Recipients []string
	Kinds      []string
	Digest     bool
}

const alertDestinationColumns = `id, account_id, channel, label, recipients, kinds, digest, digest_sent_at, created_at`

func scanAlertDestination(sc interface{ Scan(...any) error }, extra ...any) (AlertDestination, error) {
	var d AlertDestination
	var recipients, kinds string
	var created int64
	var digestSent sql.NullInt64
	if err := sc.Scan(append([]any{&d.ID, &d.AccountID, &d.Channel, &d.Label, &recipients, &kinds, &d.Digest, &digestSent, &created},
		extra...)...); err != nil {
		return AlertDestination{}, err
	}
	d.CreatedAt, d.DigestSentAt = fromMillis(created), timePtr(digestSent)
	if err := json.Unmarshal([]byte(recipients), &d.Recipients); err != nil {
		return AlertDestination{}, fmt.Errorf("destination %d recipients: %w", d.ID, err)
	}
	if err := json.Unmarshal([]byte(kinds), &d.Kinds); err != nil {
		return AlertDestination{}, fmt.Errorf("destination %d kinds: %w", d.ID, err)
	}
	return d, nil
}

// CreateAlertDestination stores a destination, its URL and secret encrypted.
func (s *Store) CreateAlertDestination(ctx context.Context, n NewAlertDestination) (AlertDestination, error) {
	seal := func(v string) (any, error) {
		if v == "" {
			return nil, nil
		}
		return s.cipher.Encrypt(v)
	}
	urlEnc, err := seal(n.URL)
	if err != nil {
		return AlertDestination{}, fmt.Errorf("db: create alert destination: %w", err)
	}
	secretEnc, err := seal(n.Secret)
	if err != nil {
		return AlertDestination{}, fmt.Errorf("db: create alert destination: %w", err)
	}
	if n.Recipients == nil {
		n.Recipients = []string{}
	}
	recipients, _ := json.Marshal(n.Recipients)
	kinds, _ := json.Marshal(n.Kinds)
	var id int64
	err = s.timedWrite("alert_destination", func() error {
		return s.write.QueryRowContext(ctx, `INSERT INTO alert_destinations (account_id, channel, label, url_enc, secret_enc,
			recipients, kinds, digest, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			n.AccountID, n.Channel, n.Label, urlEnc, secretEnc, string(recipients), string(kinds), n.Digest, millis(s.now())).Scan(&id)
	})
	if err != nil {
		return AlertDestination{}, fmt.Errorf("db: create alert destination: %w", err)
	}
	return s.AlertDestination(ctx, n.AccountID, id)
}

// AlertDestinations lists an account's destinations, oldest first, without secrets.
func (s *Store) AlertDestinations(ctx context.Context, accountID int64) ([]AlertDestination, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertDestinationColumns+` FROM alert_destinations
		WHERE account_id = ? ORDER BY id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("db: alert destinations: %w", err)
	}
	defer rows.Close()
	var out []AlertDestination
	for rows.Next() {
		d, err := scanAlertDestination(rows)
		if err != nil {
			return nil, fmt.Errorf("db: alert destinations: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: alert destinations: %w", err)
	}
	return out, nil
}

// AlertDestination returns one destination of the account without secrets;
// ErrNotFound when the account has no such destination.
func (s *Store) AlertDestination(ctx context.Context, accountID, id int64) (AlertDestination, error) {
	d, err := scanAlertDestination(s.read.QueryRowContext(ctx, `SELECT `+alertDestinationColumns+`
		FROM alert_destinations WHERE id = ? AND account_id = ?`, id, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return AlertDestination{}, ErrNotFound
	}
	if err != nil {
		return AlertDestination{}, fmt.Errorf("db: alert destination: %w", err)
	}
	return d, nil
}

// AlertDestinationWithSecrets returns a destination with its URL and secret
// decrypted, for delivering to it; ErrNotFound when it was deleted.
func (s *Store) AlertDestinationWithSecrets(ctx context.Context, id int64) (AlertDestination, error) {
	var urlEnc, secretEnc []byte
	d, err := scanAlertDestination(s.read.QueryRowContext(ctx, `SELECT `+alertDestinationColumns+`, url_enc, secret_enc
		FROM alert_destinations WHERE id = ?`, id), &urlEnc, &secretEnc)
	if errors.Is(err, sql.ErrNoRows) {
		return AlertDestination{}, ErrNotFound
	}
	if err != nil {
		return AlertDestination{}, fmt.Errorf("db: alert destination: %w", err)
	}
	for _, f := range []struct {
		sealed []byte
		into   *string
	}{{urlEnc, &d.URL}, {secretEnc, &d.Secret}} {
		if len(f.sealed) == 0 {
			continue
		}
		if *f.into, err = s.cipher.Decrypt(f.sealed); err != nil {
			return AlertDestination{}, fmt.Errorf("db: alert destination %d: %w", id, err)
		}
	}
	return d, nil
}

// DeleteAlertDestination removes a destination of the account with its deliveries;
// ErrNotFound when there is none.
func (s *Store) DeleteAlertDestination(ctx context.Context, accountID, id int64) error {
	var res sql.Result
	err := s.timedWrite("alert_destination", func() (err error) {
		res, err = s.write.ExecContext(ctx, `DELETE FROM alert_destinations WHERE id = ? AND account_id = ?`, id, accountID)
		return err
	})
	if err != nil {
		return fmt.Errorf("db: delete alert destination: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// AlertCondition is what the alert engine last saw of one inbox for one alert kind.
type AlertCondition struct {
	Kind      string
	Value     string
	Firing    bool
	OKValue   string
	ChangedAt time.Time
}

// AlertConditions returns an inbox's conditions by kind.
func (s *Store) AlertConditions(ctx context.Context, inboxID int64) (map[string]AlertCondition, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT kind, value, firing, ok_value, changed_at FROM alert_conditions
		WHERE inbox_id = ?`, inboxID)
	if err != nil {
		return nil, fmt.Errorf("db: alert conditions: %w", err)
	}
	defer rows.Close()
	out := map[string]AlertCondition{}
	for rows.Next() {
		var c AlertCondition
		var at int64
		if err := rows.Scan(&c.Kind, &c.Value, &c.Firing, &c.OKValue, &at); err != nil {
			return nil, fmt.Errorf("db: alert conditions: %w", err)
		}
		c.ChangedAt = fromMillis(at)
		out[c.Kind] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: alert conditions: %w", err)
	}
	return out, nil
}

// SaveAlertConditions stores an inbox's changed conditions in one transaction. An
// inbox removed meanwhile is not an error: there is nothing left to remember.
func (s *Store) SaveAlertConditions(ctx context.Context, inboxID int64, conds []AlertCondition) error {
	err := s.timedWrite("alert_condition", func() error {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, c := range conds {
			if _, err := tx.ExecContext(ctx, `INSERT INTO alert_conditions (inbox_id, kind, value, firing, ok_value, changed_at)
				SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM inboxes WHERE id = ?1)
				ON CONFLICT (inbox_id, kind) DO UPDATE SET value = excluded.value, firing = excluded.firing,
				ok_value = excluded.ok_value, changed_at = excluded.changed_at`,
				inboxID, c.Kind, c.Value, c.Firing, c.OKValue, millis(c.ChangedAt)); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
	if err != nil {
		return fmt.Errorf("db: save alert conditions: %w", err)
	}
	return nil
}

// Alert states.
const (
	AlertHeld = "held"
	AlertSent = "sent"
)

// Alert is one alert raised for an account.
type Alert struct {
	ID          int64
	AccountID   int64
	InboxID     *int64
	InboxName   string
	PhoneNumber string
	Kind        string
	Type        string
	From, To    string
	Reason      string
	Remedy      string
	OccurredAt  time.Time
	Count       int
	State       string
	ReleaseAt   *time.Time
	SentAt      *time.Time
	// OnlyDestinationID is set on a test alert or a digest: only that destination gets it.
	OnlyDestinationID *int64
}

const alertColumns = `id, account_id, inbox_id, inbox_name, phone_number, kind, type, from_value, to_value, reason,
	remedy, occurred_at, count, state, release_at, sent_at, only_destination_id`

func scanAlert(sc interface{ Scan(...any) error }) (Alert, error) {
	var a Alert
	var inboxID, testDest, release, sent sql.NullInt64
	var occurred int64
	if err := sc.Scan(&a.ID, &a.AccountID, &inboxID, &a.InboxName, &a.PhoneNumber, &a.Kind, &a.Type, &a.From, &a.To,
		&a.Reason, &a.Remedy, &occurred, &a.Count, &a.State, &release, &sent, &testDest); err != nil {
		return Alert{}, err
	}
	if inboxID.Valid {
		a.InboxID = &inboxID.Int64
	}
	if testDest.Valid {
		a.OnlyDestinationID = &testDest.Int64
	}
	a.OccurredAt = fromMillis(occurred)
	a.ReleaseAt, a.SentAt = timePtr(release), timePtr(sent)
	return a, nil
}

func nullableID(id *int64) any {
	if id == nil {
		return nil
	}
	return *id
}

// AddAlert stores an alert and, when it is sent, queues one delivery per destination
// (first attempt due at SentAt), in one transaction.
func (s *Store) AddAlert(ctx context.Context, a Alert, destinationIDs []int64) (Alert, error) {
	a.Count = max(a.Count, 1)
	err := s.timedWrite("alert", func() error {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if a, err = insertAlert(ctx, tx, a); err != nil {
			return err
		}
		if a.State == AlertSent {
			queuedAt := s.now()
			if a.SentAt != nil {
				queuedAt = *a.SentAt
			}
			if err := queueDeliveries(ctx, tx, a.ID, destinationIDs, queuedAt); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
	if err != nil {
		return Alert{}, fmt.Errorf("db: add alert: %w", err)
	}
	a.Count = max(a.Count, 1)
	return a, nil
}

func insertAlert(ctx context.Context, tx *sql.Tx, a Alert) (Alert, error) {
	err := tx.QueryRowContext(ctx, `INSERT INTO alerts (account_id, inbox_id, inbox_name, phone_number, kind, type,
		from_value, to_value, reason, remedy, occurred_at, count, state, release_at, sent_at, only_destination_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		a.AccountID, nullableID(a.InboxID), a.InboxName, a.PhoneNumber, a.Kind, a.Type, a.From, a.To, a.Reason, a.Remedy,
		millis(a.OccurredAt), a.Count, a.State, nullableMillis(a.ReleaseAt), nullableMillis(a.SentAt),
		nullableID(a.OnlyDestinationID)).Scan(&a.ID)
	return a, err
}

func queueDeliveries(ctx context.Context, tx *sql.Tx, alertID int64, destinationIDs []int64, now time.Time) error {
	for _, d := range destinationIDs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO alert_deliveries (alert_id, destination_id, state, next_attempt_at, created_at)
			VALUES (?, ?, 'pending', ?, ?)`, alertID, d, millis(now), millis(now)); err != nil {
			return err
		}
	}
	return nil
}

// LatestAlertOf returns the newest alert of an inbox and kind; ErrNotFound when none.
func (s *Store) LatestAlertOf(ctx context.Context, inboxID int64, kind string) (Alert, error) {
	a, err := scanAlert(s.read.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts
		WHERE inbox_id = ? AND kind = ? ORDER BY id DESC LIMIT 1`, inboxID, kind))
	if errors.Is(err, sql.ErrNoRows) {
		return Alert{}, ErrNotFound
	}
	if err != nil {
		return Alert{}, fmt.Errorf("db: latest alert: %w", err)
	}
	return a, nil
}

// AlertByID returns one alert; ErrNotFound when there is none.
func (s *Store) AlertByID(ctx context.Context, id int64) (Alert, error) {
	a, err := scanAlert(s.read.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Alert{}, ErrNotFound
	}
	if err != nil {
		return Alert{}, fmt.Errorf("db: alert: %w", err)
	}
	return a, nil
}

// UpdateHeldAlert stores what a held alert says now (a transition joined it).
func (s *Store) UpdateHeldAlert(ctx context.Context, a Alert) error {
	err := s.timedWrite("alert", func() error {
		_, err := s.write.ExecContext(ctx, `UPDATE alerts SET type = ?, to_value = ?, reason = ?, remedy = ?, occurred_at = ?,
			count = ? WHERE id = ? AND state = 'held'`, a.Type, a.To, a.Reason, a.Remedy, millis(a.OccurredAt), a.Count, a.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("db: update held alert: %w", err)
	}
	return nil
}

// DueHeldAlerts lists held alerts whose release time has come.
func (s *Store) DueHeldAlerts(ctx context.Context, now time.Time) ([]Alert, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE state = 'held' AND release_at <= ?
		ORDER BY release_at LIMIT 500`, millis(now))
	if err != nil {
		return nil, fmt.Errorf("db: due held alerts: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("db: due held alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ReleaseAlert marks a held alert sent at now and queues its deliveries.
func (s *Store) ReleaseAlert(ctx context.Context, alertID int64, now time.Time, destinationIDs []int64) error {
	err := s.timedWrite("alert", func() error {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		res, err := tx.ExecContext(ctx, `UPDATE alerts SET state = 'sent', sent_at = ? WHERE id = ? AND state = 'held'`, millis(now), alertID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // released already
		}
		if err := queueDeliveries(ctx, tx, alertID, destinationIDs, now); err != nil {
			return err
		}
		return tx.Commit()
	})
	if err != nil {
		return fmt.Errorf("db: release alert: %w", err)
	}
	return nil
}

// Delivery states and attempt outcomes.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
	AttemptDelivered  = "delivered"
	AttemptFailed     = "failed"
	AttemptGaveUp     = "gave_up"
)

// AlertDelivery is one alert on its way to one destination.
type AlertDelivery struct {
	ID            int64
	AlertID       int64
	DestinationID int64
	State         string
	Attempts      int
	NextAttemptAt *time.Time
	LastAttemptAt *time.Time
	LastDetail    string
	CreatedAt     time.Time
}

const deliveryColumns = `id, alert_id, destination_id, state, attempts, next_attempt_at, last_attempt_at, last_detail, created_at`

func scanDelivery(sc interface{ Scan(...any) error }) (AlertDelivery, error) {
	var d AlertDelivery
	var next, last sql.NullInt64
	var created int64
	if err := sc.Scan(&d.ID, &d.AlertID, &d.DestinationID, &d.State, &d.Attempts, &next, &last, &d.LastDetail, &created); err != nil {
		return AlertDelivery{}, err
	}
	d.NextAttemptAt, d.LastAttemptAt, d.CreatedAt = timePtr(next), timePtr(last), fromMillis(created)
	return d, nil
}

// ClaimDueAlertDeliveries takes up to limit pending deliveries whose next attempt is
// due, oldest first, for one attempt each: their next attempt moves to now + hold in
// the same statement, so another instance's dispatcher (or the next pass) does not
// take them too. The attempt's record (RecordAlertDeliveryAttempt) sets the real next
// attempt; a process that dies mid-attempt leaves the delivery to be tried again once
// hold has passed.
func (s *Store) ClaimDueAlertDeliveries(ctx context.Context, now time.Time, limit int, hold time.Duration) ([]AlertDelivery, error) {
	// On PostgreSQL the outer WHERE is checked again on a row another instance claimed
	// meanwhile, which then no longer qualifies: no delivery is taken twice.
	rows, err := s.write.QueryContext(ctx, `UPDATE alert_deliveries SET next_attempt_at = ?
		WHERE state = 'pending' AND next_attempt_at <= ? AND id IN (SELECT id FROM alert_deliveries
			WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?)
		RETURNING `+deliveryColumns, millis(now.Add(hold)), millis(now), millis(now), limit)
	if err != nil {
		return nil, fmt.Errorf("db: claim due alert deliveries: %w", err)
	}
	defer rows.Close()
	var out []AlertDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("db: claim due alert deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: claim due alert deliveries: %w", err)
	}
	slices.SortFunc(out, func(a, b AlertDelivery) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// NextAlertWorkAt is the earliest time a pending delivery or a held alert is due
// (zero when nothing waits).
func (s *Store) NextAlertWorkAt(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT min(t) FROM (
		SELECT min(next_attempt_at) AS t FROM alert_deliveries WHERE state = 'pending'
		UNION ALL SELECT min(release_at) FROM alerts WHERE state = 'held') AS due`).Scan(&next)
	if err != nil {
		return time.Time{}, fmt.Errorf("db: next alert work: %w", err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return fromMillis(next.Int64), nil
}

// RecordAlertDeliveryAttempt logs one attempt and moves the delivery on: delivered,
// failed for good (gave up), or pending again until retryAt.
func (s *Store) RecordAlertDeliveryAttempt(ctx context.Context, deliveryID int64, at time.Time, outcome, detail string, retryAt *time.Time) error {
	state := DeliveryPending
	switch outcome {
	case AttemptDelivered:
		state = DeliveryDelivered
	case AttemptGaveUp:
		state = DeliveryFailed
	}
	err := s.timedWrite("alert_delivery", func() error {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO alert_delivery_attempts (delivery_id, attempted_at, outcome, detail)
			VALUES (?, ?, ?, ?)`, deliveryID, millis(at), outcome, detail); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE alert_deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?,
			last_attempt_at = ?, last_detail = ? WHERE id = ?`, state, nullableMillis(retryAt), millis(at), detail, deliveryID); err != nil {
			return err
		}
		return tx.Commit()
	})
	if err != nil {
		return fmt.Errorf("db: record alert delivery attempt: %w", err)
	}
	return nil
}

// AlertDeliveryLogEntry is one attempt of the delivery log of a destination.
type AlertDeliveryLogEntry struct {
	At        time.Time
	AlertID   int64
	Kind      string
	Type      string
	InboxName string
	Outcome   string
	Detail    string
}

// AlertDeliveryLog lists a destination's newest delivery attempts, newest first.
func (s *Store) AlertDeliveryLog(ctx context.Context, destinationID int64, limit int) ([]AlertDeliveryLogEntry, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT t.attempted_at, a.id, a.kind, a.type, a.inbox_name, t.outcome, t.detail
		FROM alert_delivery_attempts t JOIN alert_deliveries d ON d.id = t.delivery_id JOIN alerts a ON a.id = d.alert_id
		WHERE d.destination_id = ? ORDER BY t.id DESC LIMIT ?`, destinationID, limit)
	if err != nil {
		return nil, fmt.Errorf("db: alert delivery log: %w", err)
	}
	defer rows.Close()
	var out []AlertDeliveryLogEntry
	for rows.Next() {
		var e AlertDeliveryLogEntry
		var at int64
		if err := rows.Scan(&at, &e.AlertID, &e.Kind, &e.Type, &e.InboxName, &e.Outcome, &e.Detail); err != nil {
			return nil, fmt.Errorf("db: alert delivery log: %w", err)
		}
		e.At = fromMillis(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AlertWithDeliveries is an alert and where it went.
type AlertWithDeliveries struct {
	Alert
	Deliveries []AlertDelivery
}

// RecentAlerts lists an account's newest alerts (test alerts included), newest first,
// with their deliveries.
func (s *Store) RecentAlerts(ctx context.Context, accountID int64, limit int) ([]AlertWithDeliveries, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE account_id = ?
		ORDER BY occurred_at DESC, id DESC LIMIT ?`, accountID, limit)
	if err != nil {
		return nil, fmt.Errorf("db: recent alerts: %w", err)
	}
	var out []AlertWithDeliveries
	index := map[int64]int{}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("db: recent alerts: %w", err)
		}
		index[a.ID] = len(out)
		out = append(out, AlertWithDeliveries{Alert: a})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: recent alerts: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]string, 0, len(out))
	args := make([]any, 0, len(out))
	for _, a := range out {
		ids = append(ids, "?")
		args = append(args, a.ID)
	}
	drows, err := s.read.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM alert_deliveries WHERE alert_id IN (`+
		strings.Join(ids, ",")+`) ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("db: recent alerts: %w", err)
	}
	defer drows.Close()
	for drows.Next() {
		d, err := scanDelivery(drows)
		if err != nil {
			return nil, fmt.Errorf("db: recent alerts: %w", err)
		}
		i := index[d.AlertID]
		out[i].Deliveries = append(out[i].Deliveries, d)
	}
	return out, drows.Err()
}

// AccountNameByID returns an account's name; ErrNotFound when there is none.
func (s *Store) AccountNameByID(ctx context.Context, accountID int64) (string, error) {
	var name string
	err := s.read.QueryRowContext(ctx, `SELECT name FROM accounts WHERE id = ?`, accountID).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("db: account name: %w", err)
	}
	return name, nil
}

// AccountIDs lists every account's id.
func (s *Store) AccountIDs(ctx context.Context) ([]int64, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id FROM accounts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("db: account ids: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("db: account ids: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// SetWriteObserver installs fn, told how long each timed write took (op names what
// was written: "snapshot", "webhook_event", "alert", ...); the metrics use it.
func (s *Store) SetWriteObserver(fn func(op string, d time.Duration)) { s.writeObserver.Store(&fn) }

// timedWrite runs one write and tells the write observer how long it took.
func (s *Store) timedWrite(op string, write func() error) error {
	start := time.Now()
	err := write()
	if fn := s.writeObserver.Load(); fn != nil && *fn != nil {
		(*fn)(op, time.Since(start))
	}
	return err
}

// AlertRetention is how long alerts, their deliveries and delivery logs are kept.
const AlertRetention = 90 * 24 * time.Hour

// PruneAlerts deletes alerts that occurred before cutoff (with their deliveries and
// attempts), except those still held or being delivered, and returns how many went.
func (s *Store) PruneAlerts(ctx context.Context, cutoff time.Time) (int64, error) {
	var res sql.Result
	err := s.timedWrite("alert_prune", func() (err error) {
		res, err = s.write.ExecContext(ctx, `DELETE FROM alerts WHERE occurred_at < ? AND state = 'sent'
			AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = alerts.id AND d.state = 'pending')`, millis(cutoff))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("db: prune alerts: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// DigestDestinations lists every account's destinations that get a daily digest.
func (s *Store) DigestDestinations(ctx context.Context) ([]AlertDestination, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertDestinationColumns+` FROM alert_destinations WHERE digest = 1 ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("db: digest destinations: %w", err)
	}
	defer rows.Close()
	var out []AlertDestination
	for rows.Next() {
		d, err := scanAlertDestination(rows)
		if err != nil {
			return nil, fmt.Errorf("db: digest destinations: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ErrDigestSent is AddDigest's answer when the destination's digest went out already
// (from another instance) less than digestGap ago; nothing was stored.
var ErrDigestSent = errors.New("db: the digest was sent already")

// digestGap is the least time between two digests of one destination (they are daily).
const digestGap = 12 * time.Hour

// AddDigest stores a digest alert for one destination, queues its delivery and marks
// the destination's digest sent at a.SentAt, in one transaction.
func (s *Store) AddDigest(ctx context.Context, a Alert) (Alert, error) {
	if a.OnlyDestinationID == nil || a.SentAt == nil {
		return Alert{}, errors.New("db: add digest: a destination and a send time are required")
	}
	var stored Alert
	err := s.timedWrite("alert", func() error {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		// Marked first, and only if no digest went out in the last digestGap: two
		// instances finding the same digest due make one (the write transactions of
		// both engines run one at a time, so the second sees the first's mark).
		res, err := tx.ExecContext(ctx, `UPDATE alert_destinations SET digest_sent_at = ?
			WHERE id = ? AND (digest_sent_at IS NULL OR digest_sent_at <= ?)`,
			millis(*a.SentAt), *a.OnlyDestinationID, millis(a.SentAt.Add(-digestGap)))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrDigestSent
		}
		if stored, err = insertAlert(ctx, tx, a); err != nil {
			return err
		}
		if err := queueDeliveries(ctx, tx, stored.ID, []int64{*a.OnlyDestinationID}, *a.SentAt); err != nil {
			return err
		}
		return tx.Commit()
	})
	if err != nil {
		return Alert{}, fmt.Errorf("db: add digest: %w", err)
	}
	return stored, nil
}

// AlertsSince lists an account's sent alerts (test alerts and digests left out) that
// occurred at or after since, oldest first, at most limit.
func (s *Store) AlertsSince(ctx context.Context, accountID int64, since time.Time, limit int) ([]Alert, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE account_id = ? AND occurred_at >= ?
		AND only_destination_id IS NULL ORDER BY occurred_at, id LIMIT ?`, accountID, millis(since), limit)
	if err != nil {
		return nil, fmt.Errorf("db: alerts since: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("db: alerts since: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
