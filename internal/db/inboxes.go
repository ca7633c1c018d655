package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// PIN states of an inbox's two-step verification PIN.
const (
	PINStateNone      = "none"      // no PIN known
	PINStateGenerated = "generated" // made by us and stored before Meta saw it
	PINStateProvided  = "provided"  // typed in by an administrator
	PINStateConfirmed = "confirmed" // Meta accepted it in a registration
	PINStateMismatch  = "mismatch"  // Meta holds a different PIN: ask an administrator
)

// PINUsable reports whether a stored PIN in this state may be sent to Meta: one we
// made (and stored before Meta saw it), one an administrator gave, or one Meta
// accepted; not a PIN Meta refused.
func PINUsable(state string) bool {
	switch state {
	case PINStateGenerated, PINStateProvided, PINStateConfirmed:
		return true
	}
	return false
}

// Inbox is one connected WhatsApp number. AccessToken and PIN are decrypted only when
// loaded through InboxSecrets; list reads leave them empty.
type Inbox struct {
	ID                       int64      `json:"id"`
	AccountID                int64      `json:"account_id"`
	Name                     string     `json:"name"`
	PhoneNumber              string     `json:"phone_number"`
	PhoneNumberID            string     `json:"phone_number_id"`
	WABAID                   string     `json:"waba_id"`
	BusinessID               string     `json:"business_id"`
	WebhookVerifyToken       string     `json:"-"`
	PINState                 string     `json:"pin_state"`
	RegistrationNextRetryAt  *time.Time `json:"registration_next_retry_at,omitempty"`
	RegistrationBackoffStep  int        `json:"-"`
	WebhookSubscribedAt      *time.Time `json:"webhook_subscribed_at,omitempty"`
	WebhookSubscriptionError string     `json:"webhook_subscription_error,omitempty"`
	// NameChangeApprovedAt is when Meta approved a display-name change of this number
	// while it was registered; until a register call after it succeeds, the new name
	// is not shown to customers. Nil when no such change waits.
	NameChangeApprovedAt *time.Time `json:"name_change_approved_at,omitempty"`
	// WebhookAppsCheckedAt is when GET /{waba-id}/subscribed_apps was last read for the
	// inbox's business account (nil: never); WebhookApps is what it listed, as JSON
	// [{"id","name"}].
	WebhookAppsCheckedAt *time.Time `json:"-"`
	WebhookApps          string     `json:"-"`
	// MetaCheck is what came of checking the inbox's token and ids with Meta
	// (MetaCheckPassed, MetaCheckPending or MetaCheckFailed), MetaCheckProblem why it
	// failed in plain words, MetaCheckedAt when Meta last answered the check.
	MetaCheck        string     `json:"meta_check"`
	MetaCheckProblem string     `json:"meta_check_problem,omitempty"`
	MetaCheckedAt    *time.Time `json:"meta_checked_at,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

// InboxSecrets are the decrypted secrets of an inbox. Never log or render them.
type InboxSecrets struct {
	AccessToken string
	PIN         string
	PINState    string
}

// NewInbox is what creating an inbox needs; validation happens in the caller.
type NewInbox struct {
	AccountID     int64
	Name          string
	PhoneNumber   string
	PhoneNumberID string
	WABAID        string
	BusinessID    string
	AccessToken   string
	// MetaCheck is what the check with Meta before saving found (MetaCheckPassed or
	// MetaCheckPending; "" is pending: not checked yet).
	MetaCheck string
	// Change, when set, is written to the inbox's change log in the same transaction.
	Change *InboxChange
}

const inboxColumns = `id, account_id, name, phone_number, phone_number_id, waba_id, business_id,
	webhook_verify_token, pin_state, registration_next_retry_at, registration_backoff_step,
	webhook_subscribed_at, webhook_subscription_error, name_change_approved_at,
	webhook_apps_checked_at, webhook_apps, meta_check, meta_check_problem, meta_checked_at,
	created_at, updated_at`

func scanInbox(sc interface{ Scan(...any) error }) (Inbox, error) {
	var in Inbox
	var nextRetry, subscribed, nameChange, appsChecked, metaChecked sql.NullInt64
	var created, updated int64
	err := sc.Scan(&in.ID, &in.AccountID, &in.Name, &in.PhoneNumber, &in.PhoneNumberID, &in.WABAID, &in.BusinessID,
		&in.WebhookVerifyToken, &in.PINState, &nextRetry, &in.RegistrationBackoffStep,
		&subscribed, &in.WebhookSubscriptionError, &nameChange, &appsChecked, &in.WebhookApps,
		&in.MetaCheck, &in.MetaCheckProblem, &metaChecked, &created, &updated)
	if err != nil {
		return Inbox{}, err
	}
	in.RegistrationNextRetryAt = timePtr(nextRetry)
	in.WebhookSubscribedAt = timePtr(subscribed)
	in.NameChangeApprovedAt = timePtr(nameChange)
	in.WebhookAppsCheckedAt = timePtr(appsChecked)
	in.MetaCheckedAt = timePtr(metaChecked)
	in.CreatedAt, in.UpdatedAt = fromMillis(created), fromMillis(updated)
	return in, nil
}

// CreateInbox stores a new inbox with its token encrypted and a fresh webhook verify
// token, and its Change (if any) in the change log, in one transaction. A phone number
// or phone-number id already connected is ErrConflict.
func (s *Store) CreateInbox(ctx context.Context, n NewInbox) (Inbox, error) {
	tokenEnc, err := s.cipher.Encrypt(n.AccessToken)
	if err != nil {
		return Inbox{}, err
	}
	verify, err := randomHex(16)
	if err != nil {
		return Inbox{}, err
	}
	check := n.MetaCheck
	if check == "" {
		check = MetaCheckPending
	}
	var checkedAt any
	if check == MetaCheckPassed {
		checkedAt = millis(s.now())
	}
	now := millis(s.now())
	unknown := whatsapp.StatusByCode(whatsapp.OverallUnknown) // never checked yet
	in, err := func() (Inbox, error) {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return Inbox{}, err
		}
		defer tx.Rollback()
		row := tx.QueryRowContext(ctx, `INSERT INTO inboxes (account_id, name, phone_number, phone_number_id, waba_id,
			business_id, access_token_enc, webhook_verify_token, meta_check, meta_checked_at, health_status, health_severity,
			created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+inboxColumns,
			n.AccountID, n.Name, n.PhoneNumber, n.PhoneNumberID, n.WABAID, n.BusinessID, tokenEnc, verify, check, checkedAt,
			unknown.Code, unknown.Severity, now, now)
		in, err := scanInbox(row)
		if err != nil {
			return Inbox{}, err
		}
		if n.Change != nil {
			if err := s.addInboxChangeTx(ctx, tx, in.ID, *n.Change); err != nil {
				return Inbox{}, err
			}
		}
		return in, tx.Commit()
	}()
	s.c.inboxesMoved()
	if isUniqueViolation(err) {
		return Inbox{}, fmt.Errorf("db: create inbox: %w", conflictField(err))
	}
	if err != nil {
		return Inbox{}, fmt.Errorf("db: create inbox: %w", err)
	}
	return in, nil
}

// ConflictError names the unique field that is already taken.
type ConflictError struct{ Field string }

func (e *ConflictError) Error() string { return e.Field + " is already connected to an inbox" }

// Unwrap lets errors.Is(err, ErrConflict) match.
func (e *ConflictError) Unwrap() error { return ErrConflict }

func conflictField(err error) error {
	msg := err.Error()
	switch {
	// SQLite names the column; PostgreSQL the constraint (inboxes_<column>_key).
	case strings.Contains(msg, "inboxes.phone_number_id"), strings.Contains(msg, "inboxes_phone_number_id_key"):
		return &ConflictError{Field: "phone_number_id"}
	case strings.Contains(msg, "inboxes.phone_number"), strings.Contains(msg, "inboxes_phone_number_key"):
		return &ConflictError{Field: "phone_number"}
	}
	return ErrConflict
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("db: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

const (
	qInboxByID       = `SELECT ` + inboxColumns + ` FROM inboxes WHERE id = ?`
	qInboxByPhone    = `SELECT ` + inboxColumns + ` FROM inboxes WHERE phone_number = ?`
	qCanSeeInbox     = `SELECT count(*) FROM inbox_members WHERE inbox_id = ? AND user_id = ?`
	qSecrets         = `SELECT access_token_enc, pin_enc, pin_state FROM inboxes WHERE id = ?`
	qAccountInboxIDs = `SELECT id FROM inboxes WHERE account_id = ?`
)

// Inbox returns an inbox of an account; an inbox of another account is ErrNotFound.
func (s *Store) Inbox(ctx context.Context, accountID, inboxID int64) (Inbox, error) {
	in, err := s.InboxByID(ctx, inboxID)
	if err != nil {
		return Inbox{}, err
	}
	if in.AccountID != accountID {
		return Inbox{}, ErrNotFound
	}
	return in, nil
}

// InboxByID returns an inbox regardless of account, for background work.
func (s *Store) InboxByID(ctx context.Context, inboxID int64) (Inbox, error) {
	now := s.now()
	in, ok, gen := s.c.inbox.get(inboxID, now)
	if ok {
		return cloneInbox(in), nil
	}
	in, err := scanInbox(s.st.inboxByID.QueryRowContext(ctx, inboxID))
	if errors.Is(err, sql.ErrNoRows) {
		return Inbox{}, ErrNotFound
	}
	if err != nil {
		return Inbox{}, fmt.Errorf("db: get inbox: %w", err)
	}
	s.c.inbox.fill(inboxID, in, now, gen)
	return cloneInbox(in), nil
}

// InboxByPhoneNumber returns the inbox routed by a webhook path's phone number (E.164).
// The number's inbox id is cached (see CacheTTL), the inbox then read as InboxByID: a
// burst of Meta's deliveries to a per-number callback reads the database once.
func (s *Store) InboxByPhoneNumber(ctx context.Context, phone string) (Inbox, error) {
	now := s.now()
	id, ok, gen := s.c.phoneInbox.get(phone, now)
	if ok {
		in, err := s.InboxByID(ctx, id)
		if err == nil && in.PhoneNumber == phone {
			return in, nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Inbox{}, err
		}
		// Deleted or renumbered in another process since: read the number afresh.
		gen = s.c.phoneInbox.generation()
	}
	in, err := scanInbox(s.st.inboxByPhone.QueryRowContext(ctx, phone))
	if errors.Is(err, sql.ErrNoRows) {
		return Inbox{}, ErrNotFound
	}
	if err != nil {
		return Inbox{}, fmt.Errorf("db: inbox by phone number: %w", err)
	}
	s.c.phoneInbox.fill(phone, in.ID, now, gen)
	return in, nil
}

// InboxesVisibleTo lists the inboxes of an account that a member may see:
// administrators see all, agents those they are members of.
func (s *Store) InboxesVisibleTo(ctx context.Context, accountID int64, m Membership, userID int64) ([]Inbox, error) {
	query := `SELECT ` + inboxColumns + ` FROM inboxes WHERE account_id = ? ORDER BY name, id`
	args := []any{accountID}
	if !m.IsAdministrator() {
		query = `SELECT ` + inboxColumns + ` FROM inboxes WHERE account_id = ?
			AND id IN (SELECT inbox_id FROM inbox_members WHERE user_id = ?) ORDER BY name, id`
		args = append(args, userID)
	}
	return s.queryInboxes(ctx, query, args...)
}

// AllInboxes lists every inbox, for the monitor.
func (s *Store) AllInboxes(ctx context.Context) ([]Inbox, error) {
	return s.queryInboxes(ctx, `SELECT `+inboxColumns+` FROM inboxes ORDER BY id`)
}

// InboxPageSize is how many inboxes EachInboxPage hands over at a time.
const InboxPageSize = 500

// EachInboxPage calls fn with every inbox, InboxPageSize at a time in id order, each
// page read when the previous one is done: work over the whole fleet after every
// sweep (retries, alert checks) holds one page in memory, not 100,000 rows. An inbox
// created during the walk is in it when its id comes after the page being handled;
// one deleted is left out once its page has not been read yet. An error from fn
// stops the walk and is returned.
func (s *Store) EachInboxPage(ctx context.Context, fn func([]Inbox) error) error {
	after := int64(0)
	for {
		page, err := s.queryInboxes(ctx, `SELECT `+inboxColumns+` FROM inboxes WHERE id > ? ORDER BY id LIMIT ?`, after, InboxPageSize)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return err
		}
		if len(page) < InboxPageSize {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// InboxToken is one inbox's business account and decrypted access token, as the
// monitor groups inboxes before it sweeps them. Err is set (and AccessToken empty)
// when the token could not be decrypted. Never log or render AccessToken.
type InboxToken struct {
	ID          int64
	WABAID      string
	AccessToken string
	Err         error
}

// EachInboxToken calls fn with every inbox's id, business account and decrypted
// access token, in id order, without loading the inboxes' rows: the monitor groups by
// them first and reads each group's inboxes (InboxesByIDs) only when its fetch is due,
// so a sweep holds a few groups in memory, not the whole fleet. fn runs while the rows
// are read; an error from it stops the walk and is returned.
func (s *Store) EachInboxToken(ctx context.Context, fn func(InboxToken) error) error {
	rows, err := s.read.QueryContext(ctx, `SELECT id, waba_id, access_token_enc FROM inboxes ORDER BY id`)
	if err != nil {
		return fmt.Errorf("db: inbox tokens: %w", err)
	}
	defer rows.Close()
	var tokenEnc []byte
	for rows.Next() {
		var it InboxToken
		if err := rows.Scan(&it.ID, &it.WABAID, &tokenEnc); err != nil {
			return fmt.Errorf("db: inbox tokens: %w", err)
		}
		if it.AccessToken, err = s.cipher.Decrypt(tokenEnc); err != nil {
			it.Err = fmt.Errorf("db: inbox %d access token: %w", it.ID, err)
		}
		if err := fn(it); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("db: inbox tokens: %w", err)
	}
	return nil
}

func (s *Store) queryInboxes(ctx context.Context, query string, args ...any) ([]Inbox, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("db: list inboxes: %w", err)
	}
	defer rows.Close()
	var out []Inbox
	for rows.Next() {
		in, err := scanInbox(rows)
		if err != nil {
			return nil, fmt.Errorf("db: list inboxes: %w", err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list inboxes: %w", err)
	}
	return out, nil
}

// CanSeeInbox reports whether a member may see an inbox (administrators: any of the
// account's; agents: those they are members of).
func (s *Store) CanSeeInbox(ctx context.Context, m Membership, userID int64, in Inbox) (bool, error) {
	if in.AccountID != m.AccountID {
		return false, nil
	}
	if m.IsAdministrator() {
		return true, nil
	}
	var n int
	if err := s.st.canSeeInbox.QueryRowContext(ctx, in.ID, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("db: inbox membership: %w", err)
	}
	return n > 0, nil
}

// Secrets decrypts an inbox's access token and PIN.
func (s *Store) Secrets(ctx context.Context, inboxID int64) (InboxSecrets, error) {
	var tokenEnc, pinEnc []byte
	var sec InboxSecrets
	err := s.st.secrets.QueryRowContext(ctx, inboxID).Scan(&tokenEnc, &pinEnc, &sec.PINState)
	if errors.Is(err, sql.ErrNoRows) {
		return InboxSecrets{}, ErrNotFound
	}
	if err != nil {
		return InboxSecrets{}, fmt.Errorf("db: inbox secrets: %w", err)
	}
	if sec.AccessToken, err = s.cipher.Decrypt(tokenEnc); err != nil {
		return InboxSecrets{}, fmt.Errorf("db: inbox %d access token: %w", inboxID, err)
	}
	if pinEnc != nil {
		if sec.PIN, err = s.cipher.Decrypt(pinEnc); err != nil {
			return InboxSecrets{}, fmt.Errorf("db: inbox %d PIN: %w", inboxID, err)
		}
	}
	return sec, nil
}

// SetPIN stores a PIN (encrypted) with its state. It is written and committed before
// any register call that uses it, so a crash cannot lose a PIN Meta holds.
func (s *Store) SetPIN(ctx context.Context, inboxID int64, pin, state string) error {
	enc, err := s.cipher.Encrypt(pin)
	if err != nil {
		return err
	}
	res, err := s.write.ExecContext(ctx, `UPDATE inboxes SET pin_enc = ?, pin_state = ?, updated_at = ? WHERE id = ?`,
		enc, state, millis(s.now()), inboxID)
	s.c.inbox.drop(inboxID)
	if err != nil {
		return fmt.Errorf("db: set PIN: %w", err)
	}
	return expectOneRow(res, "set PIN")
}

// SetPINState changes only the PIN's state (e.g. confirmed, mismatch).
func (s *Store) SetPINState(ctx context.Context, inboxID int64, state string) error {
	res, err := s.write.ExecContext(ctx, `UPDATE inboxes SET pin_state = ?, updated_at = ? WHERE id = ?`, state, millis(s.now()), inboxID)
	s.c.inbox.drop(inboxID)
	if err != nil {
		return fmt.Errorf("db: set PIN state: %w", err)
	}
	return expectOneRow(res, "set PIN state")
}

// SetAccessToken replaces an inbox's access token (after re-authorisation).
func (s *Store) SetAccessToken(ctx context.Context, inboxID int64, token string) error {
	enc, err := s.cipher.Encrypt(token)
	if err != nil {
		return err
	}
	res, err := s.write.ExecContext(ctx, `UPDATE inboxes SET access_token_enc = ?, updated_at = ? WHERE id = ?`, enc, millis(s.now()), inboxID)
	s.c.inbox.drop(inboxID)
	if err != nil {
		return fmt.Errorf("db: set access token: %w", err)
	}
	return expectOneRow(res, "set access token")
}

// SetRegistrationSchedule records when the monitor may retry registration next and the
// backoff step reached; nil clears the schedule.
func (s *Store) SetRegistrationSchedule(ctx context.Context, inboxID int64, next *time.Time, step int) error {
	res, err := s.write.ExecContext(ctx, `UPDATE inboxes SET registration_next_retry_at = ?, registration_backoff_step = ?, updated_at = ? WHERE id = ?`,
		nullableMillis(next), step, millis(s.now()), inboxID)
	s.c.inbox.drop(inboxID)
	if err != nil {
		return fmt.Errorf("db: set registration schedule: %w", err)
	}
	return expectOneRow(res, "set registration schedule")
}

// SetWebhookSubscription records the outcome of subscribing the inbox's webhook:
// subscribedAt on success, or the error to show.
func (s *Store) SetWebhookSubscription(ctx context.Context, inboxID int64, subscribedAt *time.Time, errMsg string) error {
	res, err := s.write.ExecContext(ctx, `UPDATE inboxes SET webhook_subscribed_at = ?, webhook_subscription_error = ?, updated_at = ? WHERE id = ?`,
		nullableMillis(subscribedAt), errMsg, millis(s.now()), inboxID)
	s.c.inbox.drop(inboxID)
	if err != nil {
		return fmt.Errorf("db: set webhook subscription: %w", err)
	}
	return expectOneRow(res, "set webhook subscription")
}

// InboxesOfBusinessAccount lists every inbox, in every account, connected to a WhatsApp
// Business Account: Meta's app-level webhooks name the business account, and each of
// its inboxes must hear about it.
//
// Webhooks come in bursts for the same business accounts, so the ids are cached and each
// inbox is read through the inbox cache (which every write keeps current).
func (s *Store) InboxesOfBusinessAccount(ctx context.Context, wabaID string) ([]Inbox, error) {
	now := s.now()
	ids, ok, gen := s.c.wabaInboxes.get(wabaID, now)
	if !ok {
		rows, err := s.read.QueryContext(ctx, `SELECT id FROM inboxes WHERE waba_id = ? ORDER BY id`, wabaID)
		if err != nil {
			return nil, fmt.Errorf("db: inboxes of business account: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return nil, fmt.Errorf("db: inboxes of business account: %w", err)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("db: inboxes of business account: %w", err)
		}
		s.c.wabaInboxes.fill(wabaID, ids, now, gen)
	}
	out := make([]Inbox, 0, len(ids))
	for _, id := range ids {
		in, err := s.InboxByID(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // removed since the ids were read
		}
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// MarkNameChangeApproved records that Meta approved a display-name change of the
// (registered) number at `at`. An approval already waiting keeps its earlier time.
func (s *Store) MarkNameChangeApproved(ctx context.Context, inboxID int64, at time.Time) error {
	res, err := s.write.ExecContext(ctx, `UPDATE inboxes SET name_change_approved_at = coalesce(name_change_approved_at, ?),
		updated_at = ? WHERE id = ?`, millis(at), millis(s.now()), inboxID)
	s.c.inbox.drop(inboxID)
	if err != nil {
		return fmt.Errorf("db: mark name change approved: %w", err)
	}
	return expectOneRow(res, "mark name change approved")
}

// ClearNameChangeApproved forgets a waiting name change once a register call that
// started at or after its approval succeeded; an approval that came later stays.
func (s *Store) ClearNameChangeApproved(ctx context.Context, inboxID int64, callStartedAt time.Time) error {
	_, err := s.write.ExecContext(ctx, `UPDATE inboxes SET name_change_approved_at = NULL, updated_at = ?
		WHERE id = ? AND name_change_approved_at <= ?`, millis(s.now()), inboxID, millis(callStartedAt))
	s.c.inbox.drop(inboxID)
	if err != nil {
		return fmt.Errorf("db: clear name change: %w", err)
	}
	return nil
}

// SetWebhookApps records what GET /{waba-id}/subscribed_apps listed for the inbox's
// business account (appsJSON: [{"id","name"}]) at checkedAt.
func (s *Store) SetWebhookApps(ctx context.Context, inboxID int64, checkedAt time.Time, appsJSON string) error {
	res, err := s.write.ExecContext(ctx, `UPDATE inboxes SET webhook_apps_checked_at = ?, webhook_apps = ?, updated_at = ? WHERE id = ?`,
		millis(checkedAt), appsJSON, millis(s.now()), inboxID)
	s.c.inbox.drop(inboxID)
	if err != nil {
		return fmt.Errorf("db: set webhook apps: %w", err)
	}
	return expectOneRow(res, "set webhook apps")
}

// SetBusinessID fills in the business portfolio id of an inbox that had none (read from
// the business account's owner_business_info).
func (s *Store) SetBusinessID(ctx context.Context, inboxID int64, businessID string) error {
	res, err := s.write.ExecContext(ctx, `UPDATE inboxes SET business_id = ?, updated_at = ? WHERE id = ? AND business_id = ''`,
		businessID, millis(s.now()), inboxID)
	s.c.inbox.drop(inboxID)
	if err != nil {
		return fmt.Errorf("db: set business id: %w", err)
	}
	_, err = res.RowsAffected()
	return err
}

func expectOneRow(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("db: %s: %w", what, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteInbox removes an inbox and everything recorded about it: its secrets, snapshots,
// change history, attempts, leases, code requests and webhook events. It never touches
// Meta. The secrets are overwritten before the row goes and the freed pages are zeroed
// (secure_delete ON for this transaction, FAST again after), and the write-ahead log is folded back
// into the file, so not even their ciphertext stays in the database.
func (s *Store) DeleteInbox(ctx context.Context, inboxID int64) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: delete inbox: %w", err)
	}
	defer tx.Rollback()
	steps := []struct {
		query string
		args  []any
	}{
		{`UPDATE inboxes SET access_token_enc = zeroblob(length(access_token_enc)), pin_enc = NULL WHERE id = ?`, []any{inboxID}},
		{`DELETE FROM webhook_events WHERE inbox_id = ?`, []any{inboxID}},
	}
	if err := s.pragma(ctx, tx, "secure_delete = ON"); err != nil {
		return fmt.Errorf("db: delete inbox: %w", err)
	}
	for _, st := range steps {
		if _, err := tx.ExecContext(ctx, st.query, st.args...); err != nil {
			return fmt.Errorf("db: delete inbox: %w", err)
		}
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM inboxes WHERE id = ?`, inboxID) // the rest cascades
	if err != nil {
		return fmt.Errorf("db: delete inbox: %w", err)
	}
	if err := expectOneRow(res, "delete inbox"); err != nil {
		return err
	}
	if err := s.pragma(ctx, tx, "secure_delete = FAST"); err != nil { // the connection's usual mode (see dsn)
		return fmt.Errorf("db: delete inbox: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: delete inbox: %w", err)
	}
	s.c.inbox.drop(inboxID)
	s.c.snapshot.drop(inboxID)
	s.c.changes.drop(inboxID)
	s.c.recentEvents.drop(inboxID)
	s.c.inboxesMoved()
	if err := s.pragma(ctx, s.write, "wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("db: delete inbox: checkpoint: %w", err)
	}
	return nil
}
