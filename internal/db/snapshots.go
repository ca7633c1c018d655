package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Snapshot sources: what produced a health snapshot.
const (
	SourceFetch        = "fetch"
	SourceSweep        = "sweep"
	SourceWebhook      = "webhook"
	SourceRegistration = "registration"
)

// HealthSnapshot is one fetch of a number's health. When OK is false the fetch failed,
// Error* say why, and Phone holds the last good data (if any), to be shown as stale.
//
// Snapshots are stored change-only: a check whose answer is the same as the inbox's
// newest snapshot (every field but the time and the source) is not a new row; it moves
// the newest row's CheckedAt to the new look and adds one to its CheckCount. A row so
// stands for CheckCount identical looks, from FirstCheckedAt to CheckedAt.
type HealthSnapshot struct {
	ID                int64
	InboxID           int64
	CheckedAt         time.Time
	OK                bool
	Phone             *whatsapp.PhoneNumber
	BusinessHealth    *whatsapp.HealthStatus
	ErrorKind         whatsapp.Kind
	ErrorCode         int64
	ErrorSubcode      int64
	ErrorMessage      string
	OverallStatus     string
	RegistrationState string
	Source            string
	// CheckCount is how many looks this row stands for (1 for a new state), and
	// FirstCheckedAt the first of them; both are set by the store.
	CheckCount     int
	FirstCheckedAt time.Time

	// IfNewest, on a snapshot given to AddSnapshots, stores it only when it is at least
	// as new as the inbox's newest snapshot: an answer that was asked for before the
	// newest one was (a slow sweep racing a refresh or a webhook) is older news and
	// must not replace it. Such a snapshot is not stored: AddSnapshots returns the
	// inbox's newest in its place, with Superseded set.
	IfNewest bool
	// Superseded is set on what AddSnapshots returns for an IfNewest snapshot it did
	// not store.
	Superseded bool
}

const (
	qInsertSnapshot = `INSERT INTO health_snapshots (inbox_id, checked_at, first_checked_at, ok, phone, business_health,
		error_kind, error_code, error_subcode, error_message, status, quality_rating, name_status, limit_tier,
		overall_status, registration_state, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	// The newest snapshot, with what AddSnapshots compares a new one with. The CAST
	// keeps the plan independent of the bound inbox id: once ANALYZE has stored
	// sqlite_stat4 samples of the index, SQLite re-prepares a statement for every new
	// value bound where it compares a bare parameter with an indexed column, which was
	// about 30 % of the sweep writer's CPU on the bench fixture. Same plan, on both engines.
	qNewestSnapshot = `SELECT id, checked_at, first_checked_at, check_count, ok, phone, business_health, error_kind,
		error_code, error_subcode, error_message, overall_status, registration_state, status, quality_rating,
		name_status, limit_tier FROM health_snapshots WHERE inbox_id = CAST(? AS BIGINT) ORDER BY checked_at DESC, id DESC LIMIT 1`
	qLastGoodSnapshot = `SELECT status, quality_rating, name_status, limit_tier FROM health_snapshots
		WHERE inbox_id = ? AND checked_at <= ? AND ok = 1 AND phone IS NOT NULL ORDER BY checked_at DESC, id DESC LIMIT 1`
	qLastKnownSnapshot = `SELECT status, quality_rating, name_status, limit_tier FROM health_snapshots
		WHERE inbox_id = ? AND checked_at <= ? AND phone IS NOT NULL ORDER BY checked_at DESC, id DESC LIMIT 1`
	qInsertChange = `INSERT INTO health_changes (inbox_id, changed_at, field, from_value, to_value) VALUES (?, ?, ?, ?, ?)`
	// qSeenAgain records another look that found the newest snapshot unchanged.
	qSeenAgain = `UPDATE health_snapshots SET checked_at = ?, check_count = check_count + 1, source = ? WHERE id = ?`
)

// trackedFields are the fields whose changes make the health history, in the order
// their changes are stored for one snapshot.
var trackedFields = [4]string{"status", "quality_rating", "name_status", "limit_tier"}

// AddSnapshot stores a snapshot and returns it with its id. In the same transaction it
// records a health change for each tracked field (status, quality rating, name status,
// limit tier) whose value differs from the inbox's previous successful snapshot. Failed
// snapshots carry the last good phone data, so they record no change and are not
// compared against; if the last successful snapshot was pruned, the newest snapshot
// with phone data (which carries its values) stands in for it. A snapshot the same as
// the inbox's newest only records the look on it (see HealthSnapshot).
func (s *Store) AddSnapshot(ctx context.Context, snap HealthSnapshot) (HealthSnapshot, error) {
	stored, err := s.AddSnapshots(ctx, []HealthSnapshot{snap})
	if err != nil {
		return HealthSnapshot{}, err
	}
	return stored[0], nil
}

// snapshotWork is one snapshot of an AddSnapshots call on its way to the database.
type snapshotWork struct {
	phoneJSON, bizJSON any
	cur                [4]string
	isNewest, changed  bool
	// seenAgain: the newest row was the same and only took the look.
	seenAgain bool
}

// AddSnapshots stores several snapshots in one transaction (the monitor writes a whole
// business account's numbers at once: one commit instead of one per number) and returns
// them with their ids. Either all are stored or none.
func (s *Store) AddSnapshots(ctx context.Context, snaps []HealthSnapshot) ([]HealthSnapshot, error) {
	work := make([]snapshotWork, len(snaps))
	out := make([]HealthSnapshot, len(snaps))
	for i, snap := range snaps {
		var err error
		if work[i].phoneJSON, err = marshalNullable(snap.Phone); err != nil {
			return nil, fmt.Errorf("db: add snapshot: %w", err)
		}
		if work[i].bizJSON, err = marshalNullable(snap.BusinessHealth); err != nil {
			return nil, fmt.Errorf("db: add snapshot: %w", err)
		}
		if p := snap.Phone; p != nil {
			work[i].cur = [4]string{p.Status, p.QualityRating, p.EffectiveNameStatus(), p.LimitTier()}
		}
		if snap.CheckedAt.IsZero() {
			snap.CheckedAt = s.now()
		}
		if snap.Source == "" {
			snap.Source = SourceFetch
		}
		snap.Superseded = false
		out[i] = snap
	}
	err := s.timedWrite("snapshot", func() error {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var seenAgain *sql.Stmt // prepared on first use, once per transaction
		for i := range out {
			if err := s.addSnapshotTx(ctx, tx, &out[i], &work[i], &seenAgain); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
	if err != nil {
		// The transaction may or may not have committed (e.g. an error from COMMIT):
		// forget what is cached rather than guess.
		for _, snap := range out {
			s.c.snapshot.drop(snap.InboxID)
			s.c.changes.drop(snap.InboxID)
		}
		return nil, fmt.Errorf("db: add snapshot: %w", err)
	}
	for i, snap := range out {
		if snap.Superseded {
			continue
		}
		if work[i].changed {
			s.c.changes.drop(snap.InboxID)
		}
		if work[i].isNewest {
			cached := cloneSnapshot(snap)
			cached.IfNewest = false
			s.c.snapshot.put(snap.InboxID, cached, s.now(), true, func(old HealthSnapshot) bool { return !snapshotBefore(cached, old) })
		} else {
			s.c.snapshot.drop(snap.InboxID)
		}
	}
	for i := range out {
		if !out[i].Superseded {
			continue
		}
		newest, err := s.LatestSnapshot(ctx, out[i].InboxID)
		if err != nil {
			return nil, fmt.Errorf("db: add snapshot: %w", err)
		}
		newest.Superseded = true
		out[i] = newest
	}
	return out, nil
}

// newestRow is the inbox's newest snapshot as addSnapshotTx compares with it.
type newestRow struct {
	id, at, firstAt   int64
	count             int
	ok                bool
	phone, biz        sql.NullString
	kind              string
	code, subcode     int64
	message           string
	overall, regState string
	values            [4]string
}

// sameAs reports whether a snapshot about to be stored says exactly what the newest
// row says: then it is another look at the same state.
func (n *newestRow) sameAs(snap *HealthSnapshot, w *snapshotWork) bool {
	return n.ok == snap.OK && sameJSON(n.phone, w.phoneJSON) && sameJSON(n.biz, w.bizJSON) &&
		n.kind == string(snap.ErrorKind) && n.code == snap.ErrorCode && n.subcode == snap.ErrorSubcode &&
		n.message == snap.ErrorMessage && n.overall == snap.OverallStatus && n.regState == snap.RegistrationState
}

func sameJSON(stored sql.NullString, next any) bool {
	s, isString := next.(string)
	if !isString {
		return !stored.Valid
	}
	return stored.Valid && stored.String == s
}

func (s *Store) addSnapshotTx(ctx context.Context, tx *sql.Tx, snap *HealthSnapshot, w *snapshotWork, seenAgain **sql.Stmt) error {
	at := millis(snap.CheckedAt)

	// The newest snapshot so far: is this one newer, and (usually) the one to compare with.
	var n newestRow
	err := tx.StmtContext(ctx, s.st.newestSnapshot).QueryRowContext(ctx, snap.InboxID).
		Scan(&n.id, &n.at, &n.firstAt, &n.count, &n.ok, &n.phone, &n.biz, &n.kind, &n.code, &n.subcode, &n.message,
			&n.overall, &n.regState, &n.values[0], &n.values[1], &n.values[2], &n.values[3])
	hasPrevious := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	w.isNewest = !hasPrevious || at >= n.at
	if !w.isNewest && snap.IfNewest {
		snap.Superseded = true // older news than what is stored: not stored
		return nil
	}

	if w.isNewest && hasPrevious && n.sameAs(snap, w) {
		// Another look at the same state: the newest row takes the look.
		if *seenAgain == nil {
			if *seenAgain, err = tx.PrepareContext(ctx, qSeenAgain); err != nil {
				return err
			}
		}
		if _, err := (*seenAgain).ExecContext(ctx, at, snap.Source, n.id); err != nil {
			return err
		}
		w.seenAgain = true
		snap.ID, snap.CheckCount, snap.FirstCheckedAt = n.id, n.count+1, fromMillis(n.firstAt)
		return nil
	}

	var prev [4]string
	havePrev := false
	newestOK, newestHasPhone := n.ok, n.phone.Valid
	if snap.OK && snap.Phone != nil && hasPrevious {
		if w.isNewest && newestOK && newestHasPhone {
			prev, havePrev = n.values, true
		} else {
			for _, st := range []*sql.Stmt{s.st.lastGoodSnapshot, s.st.lastKnownSnapshot} {
				err := tx.StmtContext(ctx, st).QueryRowContext(ctx, snap.InboxID, at).Scan(&prev[0], &prev[1], &prev[2], &prev[3])
				if err == nil {
					havePrev = true
					break
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
			}
		}
	}

	cur := w.cur
	if err := tx.StmtContext(ctx, s.st.insertSnapshot).QueryRowContext(ctx,
		snap.InboxID, at, at, snap.OK, w.phoneJSON, w.bizJSON, string(snap.ErrorKind), snap.ErrorCode,
		snap.ErrorSubcode, snap.ErrorMessage, cur[0], cur[1], cur[2], cur[3], snap.OverallStatus, snap.RegistrationState,
		snap.Source).Scan(&snap.ID); err != nil {
		return err
	}
	snap.CheckCount, snap.FirstCheckedAt = 1, fromMillis(at)
	if w.isNewest {
		status := snap.OverallStatus
		if status == "" {
			status = whatsapp.OverallUnknown
		}
		if _, err := tx.StmtContext(ctx, s.st.setHealthStatus).ExecContext(ctx, status, whatsapp.StatusByCode(status).Severity, snap.InboxID); err != nil {
			return err
		}
	}
	if havePrev {
		var insertChange *sql.Stmt
		for i := range cur {
			if cur[i] == prev[i] {
				continue
			}
			if insertChange == nil {
				insertChange = tx.StmtContext(ctx, s.st.insertChange)
			}
			if _, err := insertChange.ExecContext(ctx, snap.InboxID, at, trackedFields[i], prev[i], cur[i]); err != nil {
				return err
			}
			w.changed = true
		}
	}
	return nil
}

// snapshotBefore reports whether a sorts before b in an inbox's history (LatestSnapshot's
// order: checked_at, then id).
func snapshotBefore(a, b HealthSnapshot) bool {
	if !a.CheckedAt.Equal(b.CheckedAt) {
		return a.CheckedAt.Before(b.CheckedAt)
	}
	return a.ID < b.ID
}

func marshalNullable(v any) (any, error) {
	switch x := v.(type) {
	case *whatsapp.PhoneNumber:
		if x == nil {
			return nil, nil
		}
	case *whatsapp.HealthStatus:
		if x == nil {
			return nil, nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

const snapshotColumns = `id, inbox_id, checked_at, ok, phone, business_health, error_kind, error_code, error_subcode,
	error_message, overall_status, registration_state, source, check_count, first_checked_at`

func scanSnapshot(sc interface{ Scan(...any) error }) (HealthSnapshot, error) {
	var snap HealthSnapshot
	var checked, first int64
	var phone, biz sql.NullString
	var kind string
	if err := sc.Scan(&snap.ID, &snap.InboxID, &checked, &snap.OK, &phone, &biz, &kind, &snap.ErrorCode,
		&snap.ErrorSubcode, &snap.ErrorMessage, &snap.OverallStatus, &snap.RegistrationState, &snap.Source,
		&snap.CheckCount, &first); err != nil {
		return HealthSnapshot{}, err
	}
	snap.CheckedAt, snap.FirstCheckedAt = fromMillis(checked), fromMillis(first)
	snap.ErrorKind = whatsapp.Kind(kind)
	if phone.Valid {
		snap.Phone = new(whatsapp.PhoneNumber)
		if err := json.Unmarshal([]byte(phone.String), snap.Phone); err != nil {
			return HealthSnapshot{}, fmt.Errorf("snapshot %d phone: %w", snap.ID, err)
		}
	}
	if biz.Valid {
		snap.BusinessHealth = new(whatsapp.HealthStatus)
		if err := json.Unmarshal([]byte(biz.String), snap.BusinessHealth); err != nil {
			return HealthSnapshot{}, fmt.Errorf("snapshot %d business health: %w", snap.ID, err)
		}
	}
	return snap, nil
}

const (
	qLatestSnapshot = `SELECT ` + snapshotColumns + ` FROM health_snapshots
		WHERE inbox_id = ? ORDER BY checked_at DESC, id DESC LIMIT 1`
	qLatestSnapshots = `SELECT ` + snapshotColumns + ` FROM health_snapshots hs
		WHERE hs.id = (SELECT id FROM health_snapshots WHERE inbox_id = hs.inbox_id ORDER BY checked_at DESC, id DESC LIMIT 1)
		AND hs.inbox_id IN (SELECT id FROM inboxes WHERE account_id = ?)`
)

// LatestSnapshot returns an inbox's newest snapshot, or ErrNotFound if it was never checked.
func (s *Store) LatestSnapshot(ctx context.Context, inboxID int64) (HealthSnapshot, error) {
	now := s.now()
	snap, ok, gen := s.c.snapshot.get(inboxID, now)
	if ok {
		return cloneSnapshot(snap), nil
	}
	snap, err := scanSnapshot(s.st.latestSnapshot.QueryRowContext(ctx, inboxID))
	if errors.Is(err, sql.ErrNoRows) {
		return HealthSnapshot{}, ErrNotFound
	}
	if err != nil {
		return HealthSnapshot{}, fmt.Errorf("db: latest snapshot: %w", err)
	}
	s.c.snapshot.fill(inboxID, snap, now, gen)
	return cloneSnapshot(snap), nil
}

// LatestSnapshots returns the newest snapshot of each of an account's inboxes, by inbox id.
// When every inbox's newest snapshot is cached, only the account's inbox ids are read.
func (s *Store) LatestSnapshots(ctx context.Context, accountID int64) (map[int64]HealthSnapshot, error) {
	now := s.now()
	ids, err := s.accountInboxIDs(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("db: latest snapshots: %w", err)
	}
	gen := s.c.snapshot.generation()
	out := make(map[int64]HealthSnapshot, len(ids))
	for _, id := range ids {
		snap, ok, _ := s.c.snapshot.get(id, now)
		if !ok {
			break
		}
		out[id] = cloneSnapshot(snap)
	}
	if len(out) == len(ids) {
		return out, nil
	}
	rows, err := s.st.latestSnapshots.QueryContext(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("db: latest snapshots: %w", err)
	}
	defer rows.Close()
	clear(out)
	for rows.Next() {
		snap, err := scanSnapshot(rows)
		if err != nil {
			return nil, fmt.Errorf("db: latest snapshots: %w", err)
		}
		s.c.snapshot.fill(snap.InboxID, snap, now, gen)
		out[snap.InboxID] = cloneSnapshot(snap)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: latest snapshots: %w", err)
	}
	return out, nil
}

// qLatestSnapshotsOf reads the newest snapshot of each inbox id in a JSON array: one
// statement for a page of the fleet list instead of one per row.
const qLatestSnapshotsOf = `SELECT ` + snapshotColumns + ` FROM health_snapshots WHERE id IN (
	SELECT (SELECT s.id FROM health_snapshots s WHERE s.inbox_id = j.value ORDER BY s.checked_at DESC, s.id DESC LIMIT 1)
	FROM json_each(?) j)`

// LatestSnapshotsOf returns the newest snapshot of each of the inboxes (by inbox id;
// an inbox never checked has none). Cached snapshots are used; the rest are read in
// one statement and, with keep, cached: a page of the list is read again soon, an
// export of every inbox is not and would fill the cache for nothing.
func (s *Store) LatestSnapshotsOf(ctx context.Context, inboxIDs []int64, keep bool) (map[int64]HealthSnapshot, error) {
	now := s.now()
	gen := s.c.snapshot.generation()
	out := make(map[int64]HealthSnapshot, len(inboxIDs))
	var missing []int64
	for _, id := range inboxIDs {
		if snap, ok, _ := s.c.snapshot.get(id, now); ok {
			out[id] = cloneSnapshot(snap)
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	idsJSON, err := json.Marshal(missing)
	if err != nil {
		return nil, fmt.Errorf("db: latest snapshots: %w", err)
	}
	rows, err := s.read.QueryContext(ctx, qLatestSnapshotsOf, string(idsJSON))
	if err != nil {
		return nil, fmt.Errorf("db: latest snapshots: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		snap, err := scanSnapshot(rows)
		if err != nil {
			return nil, fmt.Errorf("db: latest snapshots: %w", err)
		}
		if keep {
			s.c.snapshot.fill(snap.InboxID, snap, now, gen)
			out[snap.InboxID] = cloneSnapshot(snap)
		} else {
			out[snap.InboxID] = snap
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: latest snapshots: %w", err)
	}
	return out, nil
}

func (s *Store) accountInboxIDs(ctx context.Context, accountID int64) ([]int64, error) {
	rows, err := s.st.accountInboxIDs.QueryContext(ctx, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// HealthChange is a moment when one of the tracked fields changed value.
type HealthChange struct {
	At    time.Time
	Field string // status | quality_rating | name_status | limit_tier
	From  string
	To    string
}

const qHealthChanges = `SELECT changed_at, field, from_value, to_value FROM health_changes
	WHERE inbox_id = ? ORDER BY changed_at DESC, id DESC LIMIT ?`

// HealthChanges lists an inbox's newest changes of status, quality, name status and
// limit tier (recorded by AddSnapshot), newest first; limit <= 0 lists them all.
func (s *Store) HealthChanges(ctx context.Context, inboxID int64, limit int) ([]HealthChange, error) {
	if limit <= 0 {
		limit = -1 // no limit (the cache's word for it; the query is given noLimit)
	}
	now := s.now()
	cached, ok, gen := s.c.changes.get(inboxID, now)
	if ok {
		if changes, ok := cached.answer(limit); ok {
			return slices.Clone(changes), nil
		}
	}
	changes, err := s.healthChanges(ctx, inboxID, limit)
	if err != nil {
		return nil, err
	}
	s.c.changes.fill(inboxID, cachedChanges{limit: limit, changes: changes}, now, gen)
	return slices.Clone(changes), nil
}

// answer returns the newest limit changes (limit -1: all) when the cached answer holds
// them: it was asked with that limit or more, or it held fewer than it was asked for
// (then it holds every change).
func (c cachedChanges) answer(limit int) ([]HealthChange, bool) {
	complete := c.limit == -1 || len(c.changes) < c.limit
	switch {
	case limit == c.limit, limit == -1 && complete:
		return c.changes, true
	case limit > 0 && (complete || limit <= c.limit):
		return c.changes[:min(limit, len(c.changes))], true
	}
	return nil, false
}

func (s *Store) healthChanges(ctx context.Context, inboxID int64, limit int) ([]HealthChange, error) {
	rows, err := s.st.healthChanges.QueryContext(ctx, inboxID, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("db: health changes: %w", err)
	}
	defer rows.Close()
	var changes []HealthChange
	for rows.Next() {
		var c HealthChange
		var at int64
		if err := rows.Scan(&at, &c.Field, &c.From, &c.To); err != nil {
			return nil, fmt.Errorf("db: health changes: %w", err)
		}
		c.At = fromMillis(at)
		changes = append(changes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: health changes: %w", err)
	}
	return changes, nil
}

// Data retention. Snapshots are the raw record of what every fetch found, change-only
// (a row per new state, about 1 KiB with the phone JSON; an unchanged look moves the
// newest row's checked_at), and are kept for a week: enough to look into a recent
// incident. Each inbox's newest
// snapshot is kept whatever its age, since reads are served from it. The history the
// Account Health tab shows lives in health_changes (one small row per change of status,
// quality, name status or limit tier), kept for 400 days so a year-on-year look works.
// Both are pruned by the monitor at most once an hour (health.DefaultPruneInterval), in
// batches (a Pruner's steps of pruneStep rows; PruneSnapshots' pruneBatch), each its
// own statement, so the single writer is never held for long: the sweep's writer runs
// a step only while no fetched page waits for it.
//
// Received webhook events (the raw payloads, their duplicates marked) are kept for
// WebhookEventRetention, like alerts: Meta stops redelivering an unanswered event
// within days (its webhooks page: "typically 24 hours"), so deduplication needs far
// less, and the inbox page shows only the newest few. What they caused (a snapshot, a
// health change, an alert) is kept by its own rule. A business account that sent
// nothing for longer shows no last account-level event; its webhook-silence alert
// (after 7 days) was raised long before.
const (
	SnapshotRetention     = 7 * 24 * time.Hour
	HealthChangeRetention = 400 * 24 * time.Hour
	WebhookEventRetention = 90 * 24 * time.Hour
	pruneBatch            = 5000
)

// The inner SELECT walks health_snapshots_time from the oldest row; the EXISTS (a
// newer snapshot of the same inbox, found at the top of health_snapshots_inbox_time)
// keeps each inbox's newest snapshot.
const qPruneSnapshots = `DELETE FROM health_snapshots WHERE id IN (
	SELECT hs.id FROM health_snapshots hs WHERE hs.checked_at < ?1
	AND EXISTS (SELECT 1 FROM health_snapshots n WHERE n.inbox_id = hs.inbox_id AND n.checked_at >= hs.checked_at
		AND n.id <> hs.id AND (n.checked_at > hs.checked_at OR n.id > hs.id))
	ORDER BY hs.checked_at LIMIT ?2)`

const qPruneHealthChanges = `DELETE FROM health_changes WHERE id IN (
	SELECT id FROM health_changes WHERE changed_at < ?1 ORDER BY changed_at LIMIT ?2)`

// Events are stored in received order, so the ids of those older than the cutoff come
// first: a pruning finds, once, the first event that is new enough
// (qFirstKeptWebhookEvent: it walks the primary key from the oldest, so a pruning that
// finds nothing to delete reads one row, and no index on received_at is needed), then
// deletes the ids below it batch by batch (qPruneWebhookEvents, ?1 that id). An event
// stored after a newer one, the clock having gone back, waits for the ones before it.
// Looking for the first kept event in every batch instead would read all the old events
// left on each batch: quadratic in a backlog, such as the first pruning after an upgrade.
const (
	qFirstKeptWebhookEvent = `SELECT coalesce(
		(SELECT id FROM webhook_events WHERE received_at >= ?1 ORDER BY id LIMIT 1), 9223372036854775807)`
	qPruneWebhookEvents = `DELETE FROM webhook_events WHERE id IN (
	SELECT id FROM webhook_events WHERE id < ?1 ORDER BY id LIMIT ?2)`
)

// PruneSnapshots deletes snapshots older than cutoff (normally now - SnapshotRetention),
// except each inbox's newest, in batches. It returns how many rows were deleted; when
// ctx ends it stops between batches.
func (s *Store) PruneSnapshots(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := s.pruneBatches(ctx, qPruneSnapshots, cutoff)
	if err != nil {
		return n, fmt.Errorf("db: prune snapshots: %w", err)
	}
	return n, nil
}

// PruneHealthChanges deletes health changes older than cutoff (normally now -
// HealthChangeRetention), in batches, and returns how many it deleted.
func (s *Store) PruneHealthChanges(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := s.pruneBatches(ctx, qPruneHealthChanges, cutoff)
	if n > 0 {
		s.c.changes.clear()
	}
	if err != nil {
		return n, fmt.Errorf("db: prune health changes: %w", err)
	}
	return n, nil
}

// Pruner does what PruneSnapshots, PruneHealthChanges and then the webhook events'
// pruning do, one batch of pruneStep rows per Step, for a caller with writes that come
// first: the monitor runs a step only when no fetched page waits for the writer, so a
// sweep's own snapshots are never queued behind the pruning.
type Pruner struct {
	s      *Store
	stages []pruneStage
	stage  int // index of the stage the next Step works on; len(stages): done
	// Snapshots, Changes and WebhookEvents count the rows deleted so far.
	Snapshots, Changes, WebhookEvents int64
}

// pruneStage is one table's pruning within a Pruner.
type pruneStage struct {
	what   string
	query  string // qPrune…: ?1 the cutoff (or what bound makes of it), ?2 the batch size
	before time.Time
	// bound, when set, is a query run once, at the stage's first batch, that turns the
	// cutoff (its ?1) into the batches' ?1.
	bound   string
	arg     any // the batches' ?1, once known
	deleted *int64
	// forget drops the cached reads the deleted rows may be part of (nil: none).
	forget func()
}

// PruneBefore says what a Pruner deletes: rows older than each time (see the
// retention constants and "Data retention" in the README).
type PruneBefore struct {
	Snapshots     time.Time // each inbox's newest snapshot is kept whatever its age
	Changes       time.Time
	WebhookEvents time.Time
}

// pruneStep is a Pruner's batch: small enough (a few tens of milliseconds) that a
// page waiting for the writer is not held up for long.
const pruneStep = 500

// NewPruner prunes what before says, when stepped.
func (s *Store) NewPruner(before PruneBefore) *Pruner {
	p := &Pruner{s: s}
	p.stages = []pruneStage{
		{what: "snapshots", query: qPruneSnapshots, before: before.Snapshots, deleted: &p.Snapshots},
		{what: "health changes", query: qPruneHealthChanges, before: before.Changes, deleted: &p.Changes, forget: s.c.changes.clear},
		{what: "webhook events", query: qPruneWebhookEvents, bound: qFirstKeptWebhookEvent, before: before.WebhookEvents, deleted: &p.WebhookEvents, forget: func() {
			s.c.lastEvent.clear()
			s.c.recentEvents.clear()
		}},
	}
	return p
}

// Pruned is how many rows the Pruner deleted so far, in all.
func (p *Pruner) Pruned() int64 { return p.Snapshots + p.Changes + p.WebhookEvents }

// Step deletes one batch, and reports whether the pruning is done (nothing was left).
func (p *Pruner) Step(ctx context.Context) (done bool, err error) {
	if p.stage < len(p.stages) {
		st := &p.stages[p.stage]
		if st.arg == nil {
			if st.arg, err = p.s.pruneArg(ctx, st.bound, st.before); err != nil {
				return false, fmt.Errorf("db: prune %s: %w", st.what, err)
			}
		}
		n, err := p.s.pruneBatch(ctx, st.query, st.arg, pruneStep)
		*st.deleted += n
		if n > 0 && st.forget != nil {
			st.forget()
		}
		if err != nil {
			return false, fmt.Errorf("db: prune %s: %w", st.what, err)
		}
		if n < pruneStep {
			p.stage++
		}
	}
	return p.stage >= len(p.stages), nil
}

// pruneArg is a prune query's ?1 for cutoff: the cutoff itself, or what bound (a query
// taking it as ?1) makes of it, read from the writer so it sees every stored row.
func (s *Store) pruneArg(ctx context.Context, bound string, cutoff time.Time) (any, error) {
	if bound == "" {
		return millis(cutoff), nil
	}
	var v int64
	if err := s.write.QueryRowContext(ctx, bound, millis(cutoff)).Scan(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// pruneBatch runs one batch of a prune query and returns how many rows it deleted.
func (s *Store) pruneBatch(ctx context.Context, query string, arg any, limit int) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	res, err := s.write.ExecContext(ctx, query, arg, limit)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *Store) pruneBatches(ctx context.Context, query string, cutoff time.Time) (int64, error) {
	var total int64
	for {
		n, err := s.pruneBatch(ctx, query, millis(cutoff), pruneBatch)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

// CountSnapshots counts the stored snapshots of an inbox.
func (s *Store) CountSnapshots(ctx context.Context, inboxID int64) (int, error) {
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM health_snapshots WHERE inbox_id = ?`, inboxID).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count snapshots: %w", err)
	}
	return n, nil
}

// CountChecks counts the looks at an inbox's health that were stored: one per stored
// check, whether it made a new snapshot or was another look at the newest one.
func (s *Store) CountChecks(ctx context.Context, inboxID int64) (int, error) {
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT coalesce(sum(check_count), 0) FROM health_snapshots WHERE inbox_id = ?`, inboxID).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count checks: %w", err)
	}
	return n, nil
}
