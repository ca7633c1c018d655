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

// What the check with Meta before saving found (inboxes.meta_check).
const (
	// MetaCheckPassed: Meta showed the number in the business account with this token.
	MetaCheckPassed = "passed"
	// MetaCheckPending: not checked yet (Meta could not be reached); the next sweep checks.
	MetaCheckPending = "pending"
	// MetaCheckFailed: a check after saving found a problem (Inbox.MetaCheckProblem).
	MetaCheckFailed = "failed"
)

// Actions of the inbox change log.
const (
	ChangeCreated     = "created"
	ChangeImported    = "imported"
	ChangeEdited      = "edited"
	ChangeReconnected = "reconnected"
	ChangePINProvided = "pin_provided"
	ChangePINReset    = "pin_reset"
)

// Actor is who made a change: a person, through the browser or an API token. Name is
// how the change log shows them ("admin@example.com", "API token of admin@example.com").
type Actor struct {
	UserID *int64
	Name   string
}

// FieldChange is one field an inbox change touched. From and To are empty for secret
// fields (Secret): the log names them and never holds their values.
type FieldChange struct {
	Field  string `json:"field"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Secret bool   `json:"secret,omitempty"`
}

// InboxChange is one entry of an inbox's change log.
type InboxChange struct {
	ID        int64
	InboxID   int64
	ChangedAt time.Time
	Action    string
	Actor     Actor
	Details   []FieldChange
}

// InboxChangeLogLength is how many of an inbox's newest changes the Settings tab lists.
const InboxChangeLogLength = 20

func (s *Store) addInboxChangeTx(ctx context.Context, tx *sql.Tx, inboxID int64, c InboxChange) error {
	if c.Action == "" {
		return errors.New("db: inbox change without an action")
	}
	details := c.Details
	if details == nil {
		details = []FieldChange{}
	}
	for i := range details {
		if details[i].Secret {
			details[i].From, details[i].To = "", ""
		}
	}
	raw, err := json.Marshal(details)
	if err != nil {
		return err
	}
	at := c.ChangedAt
	if at.IsZero() {
		at = s.now()
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO inbox_changes (inbox_id, changed_at, action, user_id, actor, details)
		VALUES (?, ?, ?, ?, ?, ?)`, inboxID, millis(at), c.Action, c.Actor.UserID, c.Actor.Name, string(raw))
	return err
}

// AddInboxChange records a change made to an inbox (one its own write did not record).
func (s *Store) AddInboxChange(ctx context.Context, inboxID int64, c InboxChange) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: add inbox change: %w", err)
	}
	defer tx.Rollback()
	if err := s.addInboxChangeTx(ctx, tx, inboxID, c); err != nil {
		return fmt.Errorf("db: add inbox change: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: add inbox change: %w", err)
	}
	return nil
}

// InboxChanges lists an inbox's newest changes first, at most limit of them.
func (s *Store) InboxChanges(ctx context.Context, inboxID int64, limit int) ([]InboxChange, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, inbox_id, changed_at, action, user_id, actor, details
		FROM inbox_changes WHERE inbox_id = ? ORDER BY id DESC LIMIT ?`, inboxID, limit)
	if err != nil {
		return nil, fmt.Errorf("db: inbox changes: %w", err)
	}
	defer rows.Close()
	var out []InboxChange
	for rows.Next() {
		var c InboxChange
		var at int64
		var userID sql.NullInt64
		var details string
		if err := rows.Scan(&c.ID, &c.InboxID, &at, &c.Action, &userID, &c.Actor.Name, &details); err != nil {
			return nil, fmt.Errorf("db: inbox changes: %w", err)
		}
		c.ChangedAt = fromMillis(at)
		if userID.Valid {
			id := userID.Int64
			c.Actor.UserID = &id
		}
		if err := json.Unmarshal([]byte(details), &c.Details); err != nil {
			return nil, fmt.Errorf("db: inbox change %d: %w", c.ID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: inbox changes: %w", err)
	}
	return out, nil
}

// InboxEdit is an inbox's connection as an administrator edits it: every value as it is
// to be (unchanged ones included).
type InboxEdit struct {
	Name          string
	PhoneNumber   string
	PhoneNumberID string
	WABAID        string
	BusinessID    string
	// AccessToken replaces the stored token; "" keeps it.
	AccessToken string
	// MetaCheck and MetaCheckProblem are what the check with Meta before saving found.
	MetaCheck, MetaCheckProblem string
	// StartAfresh forgets what was recorded about the number the inbox showed before
	// (the caller sets it when the phone-number id or business account changes): its
	// snapshots, health history, registration attempts, code requests, webhook
	// events and alerts (with what the alert engine remembered of it) are deleted, its
	// PIN erased, its registration schedule and any waiting
	// name change cleared. A business account that changes also loses its webhook
	// subscription record, which the new account needs made again.
	StartAfresh bool
	// Change is written to the change log in the same transaction.
	Change InboxChange
}

// UpdateInbox saves an edit of an inbox in one transaction, with its change-log entry.
// A phone number or phone-number id already connected to another inbox is a
// *ConflictError, and nothing changes.
func (s *Store) UpdateInbox(ctx context.Context, inboxID int64, e InboxEdit) (Inbox, error) {
	var tokenEnc any // NULL keeps the stored token
	if e.AccessToken != "" {
		enc, err := s.cipher.Encrypt(e.AccessToken)
		if err != nil {
			return Inbox{}, err
		}
		tokenEnc = enc
	}
	now := s.now()
	var checkedAt any
	if e.MetaCheck == MetaCheckPassed || e.MetaCheck == MetaCheckFailed {
		checkedAt = millis(now)
	}
	unknown := whatsapp.StatusByCode(whatsapp.OverallUnknown)
	in, err := func() (Inbox, error) {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return Inbox{}, err
		}
		defer tx.Rollback()
		if e.StartAfresh {
			// The old number's PIN is overwritten in place, not left in a freed page.
			if err := s.pragma(ctx, tx, "secure_delete = ON"); err != nil {
				return Inbox{}, err
			}
		}
		// In SQLite's UPDATE every expression reads the row as it was, so the CASEs
		// compare the old business account with the new one.
		row := tx.QueryRowContext(ctx, `UPDATE inboxes SET name = ?1, phone_number = ?2, phone_number_id = ?3,
			business_id = ?5, access_token_enc = coalesce(?6, access_token_enc),
			meta_check = ?7, meta_check_problem = ?8, meta_checked_at = coalesce(?9, meta_checked_at),
			pin_enc = CASE WHEN ?10 = 1 THEN NULL ELSE pin_enc END,
			pin_state = CASE WHEN ?10 = 1 THEN 'none' ELSE pin_state END,
			registration_next_retry_at = CASE WHEN ?10 = 1 THEN NULL ELSE registration_next_retry_at END,
			registration_backoff_step = CASE WHEN ?10 = 1 THEN 0 ELSE registration_backoff_step END,
			name_change_approved_at = CASE WHEN ?10 = 1 THEN NULL ELSE name_change_approved_at END,
			health_status = CASE WHEN ?10 = 1 THEN ?13 ELSE health_status END,
			health_severity = CASE WHEN ?10 = 1 THEN ?14 ELSE health_severity END,
			webhook_subscribed_at = CASE WHEN waba_id = ?4 THEN webhook_subscribed_at ELSE NULL END,
			webhook_subscription_error = CASE WHEN waba_id = ?4 THEN webhook_subscription_error ELSE '' END,
			webhook_apps_checked_at = CASE WHEN waba_id = ?4 THEN webhook_apps_checked_at ELSE NULL END,
			webhook_apps = CASE WHEN waba_id = ?4 THEN webhook_apps ELSE '' END,
			waba_id = ?4, updated_at = ?11
			WHERE id = ?12 RETURNING `+inboxColumns,
			e.Name, e.PhoneNumber, e.PhoneNumberID, e.WABAID, e.BusinessID, tokenEnc,
			e.MetaCheck, e.MetaCheckProblem, checkedAt, e.StartAfresh, millis(now), inboxID,
			unknown.Code, unknown.Severity) // afresh: never checked, as the fleet list counts it
		in, err := scanInbox(row)
		if errors.Is(err, sql.ErrNoRows) {
			return Inbox{}, ErrNotFound
		}
		if err != nil {
			return Inbox{}, err
		}
		if e.StartAfresh {
			for _, table := range []string{"health_snapshots", "health_changes", "registration_attempts",
				"verification_requests", "webhook_events", "alert_conditions", "alerts"} {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE inbox_id = ?`, inboxID); err != nil {
					return Inbox{}, err
				}
			}
		}
		if err := s.addInboxChangeTx(ctx, tx, inboxID, e.Change); err != nil {
			return Inbox{}, err
		}
		return in, tx.Commit()
	}()
	if e.StartAfresh {
		// Back to the connection's usual mode (see dsn), committed or not.
		if perr := s.pragma(ctx, s.write, "secure_delete = FAST"); perr != nil && err == nil {
			err = perr
		}
	}
	s.c.inbox.drop(inboxID)
	s.c.inboxesMoved()
	if e.StartAfresh {
		s.c.snapshot.drop(inboxID)
		s.c.changes.drop(inboxID)
		s.c.recentEvents.drop(inboxID)
	}
	if isUniqueViolation(err) {
		return Inbox{}, fmt.Errorf("db: update inbox: %w", conflictField(err))
	}
	if errors.Is(err, ErrNotFound) {
		return Inbox{}, err
	}
	if err != nil {
		return Inbox{}, fmt.Errorf("db: update inbox: %w", err)
	}
	return in, nil
}

// SetMetaCheck records what a later check with Meta found (a reconnect checks an inbox
// saved while Meta could not be reached).
func (s *Store) SetMetaCheck(ctx context.Context, inboxID int64, check, problem string) error {
	res, err := s.write.ExecContext(ctx, `UPDATE inboxes SET meta_check = ?, meta_check_problem = ?, meta_checked_at = ?,
		updated_at = ? WHERE id = ?`, check, problem, millis(s.now()), millis(s.now()), inboxID)
	s.c.inbox.drop(inboxID)
	if err != nil {
		return fmt.Errorf("db: set meta check: %w", err)
	}
	return expectOneRow(res, "set meta check")
}

// MetaCheckResult is what a check with Meta found for one inbox.
type MetaCheckResult struct {
	InboxID        int64
	Check, Problem string
}

// SetMetaChecks records several checks in one transaction (the monitor's sweep settles
// a whole business account's inboxes at once). An inbox removed meanwhile is skipped.
func (s *Store) SetMetaChecks(ctx context.Context, results []MetaCheckResult) error {
	if len(results) == 0 {
		return nil
	}
	now := millis(s.now())
	err := func() error {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, r := range results {
			if _, err := tx.ExecContext(ctx, `UPDATE inboxes SET meta_check = ?, meta_check_problem = ?, meta_checked_at = ?,
				updated_at = ? WHERE id = ?`, r.Check, r.Problem, now, now, r.InboxID); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	for _, r := range results {
		s.c.inbox.drop(r.InboxID)
	}
	if err != nil {
		return fmt.Errorf("db: set meta checks: %w", err)
	}
	return nil
}

// InboxesByPhoneNumberID returns the inboxes, in any account, connected to these
// phone-number ids (each id is connected at most once), keyed by id.
func (s *Store) InboxesByPhoneNumberID(ctx context.Context, ids []string) (map[string]Inbox, error) {
	out := map[string]Inbox{}
	for _, id := range ids {
		in, err := scanInbox(s.read.QueryRowContext(ctx, `SELECT `+inboxColumns+` FROM inboxes WHERE phone_number_id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("db: inboxes by phone-number id: %w", err)
		}
		out[id] = in
	}
	return out, nil
}
