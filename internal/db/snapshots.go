package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
}

// AddSnapshot stores a snapshot and returns it with its id.
func (s *Store) AddSnapshot(ctx context.Context, snap HealthSnapshot) (HealthSnapshot, error) {
	phoneJSON, err := marshalNullable(snap.Phone)
	if err != nil {
		return HealthSnapshot{}, fmt.Errorf("db: add snapshot: %w", err)
	}
	bizJSON, err := marshalNullable(snap.BusinessHealth)
	if err != nil {
		return HealthSnapshot{}, fmt.Errorf("db: add snapshot: %w", err)
	}
	var status, quality, name, tier string
	if p := snap.Phone; p != nil {
		status, quality, name, tier = p.Status, p.QualityRating, p.EffectiveNameStatus(), p.LimitTier()
	}
	if snap.CheckedAt.IsZero() {
		snap.CheckedAt = s.now()
	}
	if snap.Source == "" {
		snap.Source = SourceFetch
	}
	err = s.write.QueryRowContext(ctx, `INSERT INTO health_snapshots (inbox_id, checked_at, ok, phone, business_health,
		error_kind, error_code, error_subcode, error_message, status, quality_rating, name_status, limit_tier,
		overall_status, registration_state, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		snap.InboxID, millis(snap.CheckedAt), snap.OK, phoneJSON, bizJSON, string(snap.ErrorKind), snap.ErrorCode,
		snap.ErrorSubcode, snap.ErrorMessage, status, quality, name, tier, snap.OverallStatus, snap.RegistrationState,
		snap.Source).Scan(&snap.ID)
	if err != nil {
		return HealthSnapshot{}, fmt.Errorf("db: add snapshot: %w", err)
	}
	return snap, nil
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
	error_message, overall_status, registration_state, source`

func scanSnapshot(sc interface{ Scan(...any) error }) (HealthSnapshot, error) {
	var snap HealthSnapshot
	var checked int64
	var phone, biz sql.NullString
	var kind string
	if err := sc.Scan(&snap.ID, &snap.InboxID, &checked, &snap.OK, &phone, &biz, &kind, &snap.ErrorCode,
		&snap.ErrorSubcode, &snap.ErrorMessage, &snap.OverallStatus, &snap.RegistrationState, &snap.Source); err != nil {
		return HealthSnapshot{}, err
	}
	snap.CheckedAt = fromMillis(checked)
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

// LatestSnapshot returns an inbox's newest snapshot, or ErrNotFound if it was never checked.
func (s *Store) LatestSnapshot(ctx context.Context, inboxID int64) (HealthSnapshot, error) {
	snap, err := scanSnapshot(s.read.QueryRowContext(ctx, `SELECT `+snapshotColumns+` FROM health_snapshots
		WHERE inbox_id = ? ORDER BY checked_at DESC, id DESC LIMIT 1`, inboxID))
	if errors.Is(err, sql.ErrNoRows) {
		return HealthSnapshot{}, ErrNotFound
	}
	if err != nil {
		return HealthSnapshot{}, fmt.Errorf("db: latest snapshot: %w", err)
	}
	return snap, nil
}

// LatestSnapshots returns the newest snapshot of each of an account's inboxes, by inbox id.
func (s *Store) LatestSnapshots(ctx context.Context, accountID int64) (map[int64]HealthSnapshot, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+snapshotColumns+` FROM health_snapshots hs
		WHERE hs.id = (SELECT id FROM health_snapshots WHERE inbox_id = hs.inbox_id ORDER BY checked_at DESC, id DESC LIMIT 1)
		AND hs.inbox_id IN (SELECT id FROM inboxes WHERE account_id = ?)`, accountID)
	if err != nil {
		return nil, fmt.Errorf("db: latest snapshots: %w", err)
	}
	defer rows.Close()
	out := map[int64]HealthSnapshot{}
	for rows.Next() {
		snap, err := scanSnapshot(rows)
		if err != nil {
			return nil, fmt.Errorf("db: latest snapshots: %w", err)
		}
		out[snap.InboxID] = snap
	}
	return out, rows.Err()
}

// HealthChange is a moment when one of the tracked fields changed value.
type HealthChange struct {
	At    time.Time
	Field string // status | quality_rating | name_status | limit_tier
	From  string
	To    string
}

// HealthChanges lists the newest changes of status, quality, name status and limit tier
// across an inbox's successful snapshots, newest first.
func (s *Store) HealthChanges(ctx context.Context, inboxID int64, limit int) ([]HealthChange, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT checked_at, status, quality_rating, name_status, limit_tier
		FROM health_snapshots WHERE inbox_id = ? AND phone IS NOT NULL AND ok = 1 ORDER BY checked_at, id`, inboxID)
	if err != nil {
		return nil, fmt.Errorf("db: health changes: %w", err)
	}
	defer rows.Close()
	var changes []HealthChange
	var prev [4]string
	first := true
	names := [4]string{"status", "quality_rating", "name_status", "limit_tier"}
	for rows.Next() {
		var at int64
		var cur [4]string
		if err := rows.Scan(&at, &cur[0], &cur[1], &cur[2], &cur[3]); err != nil {
			return nil, fmt.Errorf("db: health changes: %w", err)
		}
		if !first {
			for i := range cur {
				if cur[i] != prev[i] {
					changes = append(changes, HealthChange{At: fromMillis(at), Field: names[i], From: prev[i], To: cur[i]})
				}
			}
		}
		prev, first = cur, false
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: health changes: %w", err)
	}
	for i, j := 0, len(changes)-1; i < j; i, j = i+1, j-1 {
		changes[i], changes[j] = changes[j], changes[i]
	}
	if limit > 0 && len(changes) > limit {
		changes = changes[:limit]
	}
	return changes, nil
}

// PruneSnapshots deletes snapshots older than cutoff, but always keeps each inbox's
// newest snapshot and any snapshot where a tracked field changed, so history survives.
// It returns how many rows were deleted.
func (s *Store) PruneSnapshots(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM health_snapshots WHERE id IN (
		SELECT id FROM (
			SELECT id, checked_at,
				status || '|' || quality_rating || '|' || name_status || '|' || limit_tier AS fields,
				LAG(status || '|' || quality_rating || '|' || name_status || '|' || limit_tier)
					OVER (PARTITION BY inbox_id ORDER BY checked_at, id) AS prev_fields,
				ROW_NUMBER() OVER (PARTITION BY inbox_id ORDER BY checked_at DESC, id DESC) AS newest_rank
			FROM health_snapshots)
		WHERE checked_at < ? AND newest_rank > 1 AND prev_fields IS NOT NULL AND fields = prev_fields)`, millis(cutoff))
	if err != nil {
		return 0, fmt.Errorf("db: prune snapshots: %w", err)
	}
	return res.RowsAffected()
}
