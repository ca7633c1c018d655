package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// OneTimePasswordTTL is how long a one-time password shown to an administrator for a
// new person stays valid. Long enough to reach someone over a weekend, short enough
// that a forgotten note on a desk stops working (OWASP ASVS 2.3.1: initial passwords
// expire after a short period and must not become the long-term password).
const OneTimePasswordTTL = 72 * time.Hour

// Member is a person of an account as the People page and the members API show them.
type Member struct {
	UserID   int64
	Email    string
	Role     string
	JoinedAt time.Time
	// LastSignInAt is zero when the person never signed in.
	LastSignInAt time.Time
	// OneTimePasswordExpiresAt is set while the person has not chosen a password yet.
	OneTimePasswordExpiresAt time.Time
	// InboxIDs are the inboxes of this account an agent may see (none for
	// administrators, who see every inbox), ascending.
	InboxIDs []int64
}

// IsAdministrator reports whether the member administers the account.
func (m Member) IsAdministrator() bool { return m.Role == RoleAdministrator }

// HasOneTimePassword reports whether the person has not chosen their own password yet.
func (m Member) HasOneTimePassword() bool { return !m.OneTimePasswordExpiresAt.IsZero() }

// NewMember is a person an administrator adds to an account.
type NewMember struct {
	Email    string
	Role     string
	InboxIDs []int64
}

// AddedMember is what adding a person hands back once. OneTimePassword is set only
// when the person was new to this server; it is never stored in clear or shown again.
type AddedMember struct {
	Member
	OneTimePassword string
}

// MemberChange is an administrator's change to a member; nil fields stay as they are.
type MemberChange struct {
	Role     *string
	InboxIDs *[]int64
}

var (
	// ErrAlreadyMember: the person is already a member of the account.
	ErrAlreadyMember = errors.New("db: already a member of this account")
	// ErrLastAdministrator: the change would leave the account without an administrator.
	ErrLastAdministrator = errors.New("db: the account's last administrator cannot be removed or made an agent")
	// ErrAdministratorInboxes: inboxes are assigned to agents only (administrators see all).
	ErrAdministratorInboxes = errors.New("db: administrators see every inbox; inboxes are assigned to agents only")
	// ErrPasswordChosen: the person has chosen their own password, or belongs to other
	// accounts too, so no administrator of one account may replace it.
	ErrPasswordChosen = errors.New("db: the person's password is not this account's to replace")
)

// UnknownInboxesError names inbox ids that are not inboxes of the account (whether
// they exist elsewhere is not said).
type UnknownInboxesError struct{ IDs []int64 }

func (e *UnknownInboxesError) Error() string {
	ids := make([]string, len(e.IDs))
	for i, id := range e.IDs {
		ids[i] = fmt.Sprint(id)
	}
	return "no inbox " + strings.Join(ids, ", ") + " in this account"
}

const qMembers = `SELECT u.id, u.email, au.role, au.created_at, u.last_sign_in_at, u.one_time_password_expires_at
	FROM account_users au JOIN users u ON u.id = au.user_id WHERE au.account_id = ?`

// queryer is what both the read pool and a transaction offer.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Members lists an account's people by email, each agent with their inboxes.
func (s *Store) Members(ctx context.Context, accountID int64) ([]Member, error) {
	return members(ctx, s.read, accountID, 0)
}

// Member returns one member of an account, or ErrNotFound (also for a user of
// another account).
func (s *Store) Member(ctx context.Context, accountID, userID int64) (Member, error) {
	return member(ctx, s.read, accountID, userID)
}

func member(ctx context.Context, q queryer, accountID, userID int64) (Member, error) {
	ms, err := members(ctx, q, accountID, userID)
	if err != nil {
		return Member{}, err
	}
	if len(ms) == 0 {
		return Member{}, ErrNotFound
	}
	return ms[0], nil
}

// members lists the account's members, or only userID when it is not 0.
func members(ctx context.Context, q queryer, accountID, userID int64) ([]Member, error) {
	query, args := qMembers+` ORDER BY u.email`, []any{accountID}
	if userID != 0 {
		query, args = qMembers+` AND u.id = ?`, []any{accountID, userID}
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("db: members: %w", err)
	}
	defer rows.Close()
	var out []Member
	index := map[int64]int{}
	for rows.Next() {
		var m Member
		var joined int64
		var lastSignIn, oneTimeUntil sql.NullInt64
		if err := rows.Scan(&m.UserID, &m.Email, &m.Role, &joined, &lastSignIn, &oneTimeUntil); err != nil {
			return nil, fmt.Errorf("db: members: %w", err)
		}
		m.JoinedAt = fromMillis(joined)
		if lastSignIn.Valid {
			m.LastSignInAt = fromMillis(lastSignIn.Int64)
		}
		if oneTimeUntil.Valid {
			m.OneTimePasswordExpiresAt = fromMillis(oneTimeUntil.Int64)
		}
		index[m.UserID] = len(out)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: members: %w", err)
	}
	rows.Close()
	assigned, err := q.QueryContext(ctx, `SELECT im.user_id, im.inbox_id FROM inbox_members im
		JOIN inboxes i ON i.id = im.inbox_id WHERE i.account_id = ? ORDER BY im.inbox_id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("db: members: inboxes: %w", err)
	}
	defer assigned.Close()
	for assigned.Next() {
		var uid, inboxID int64
		if err := assigned.Scan(&uid, &inboxID); err != nil {
			return nil, fmt.Errorf("db: members: inboxes: %w", err)
		}
		if i, ok := index[uid]; ok && !out[i].IsAdministrator() {
			out[i].InboxIDs = append(out[i].InboxIDs, inboxID)
		}
	}
	if err := assigned.Err(); err != nil {
		return nil, fmt.Errorf("db: members: inboxes: %w", err)
	}
	return out, nil
}

// AddMember adds a person to an account with a role (and, for an agent, inboxes). A
// person new to this server is created with a one-time password, handed back once;
// an existing user keeps their password and is just added.
func (s *Store) AddMember(ctx context.Context, accountID int64, n NewMember) (AddedMember, error) {
	email, err := CheckEmail(n.Email)
	if err != nil {
		return AddedMember{}, fmt.Errorf("db: add member: %w", err)
	}
	if !ValidRole(n.Role) {
		return AddedMember{}, fmt.Errorf("db: add member: role must be administrator or agent, not %q", n.Role)
	}
	if n.Role == RoleAdministrator && len(n.InboxIDs) > 0 {
		return AddedMember{}, ErrAdministratorInboxes
	}
	var added AddedMember
	err = s.inWriteTx(ctx, "add member", func(tx *sql.Tx) error {
		if err := checkAccountInboxes(ctx, tx, accountID, n.InboxIDs); err != nil {
			return err
		}
		now := s.now()
		var userID int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE email = ?`, email).Scan(&userID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			password, hash, err := s.newOneTimePassword()
			if err != nil {
				return err
			}
			// Nobody knows this token: the person rotates their own once signed in.
			_, tokenHash, err := newAPIToken()
			if err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, `INSERT INTO users (email, password_hash, api_token_hash, created_at,
				one_time_password_expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
				email, hash, tokenHash, millis(now), millis(now.Add(OneTimePasswordTTL))).Scan(&userID); err != nil {
				return err
			}
			added.OneTimePassword = password
		case err != nil:
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO account_users (account_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT(account_id, user_id) DO NOTHING`, accountID, userID, n.Role, millis(now))
		if err != nil {
			return err
		}
		if rows, _ := res.RowsAffected(); rows == 0 {
			return ErrAlreadyMember
		}
		if err := assignInboxes(ctx, tx, accountID, userID, n.InboxIDs); err != nil {
			return err
		}
		added.Member, err = member(ctx, tx, accountID, userID)
		return err
	})
	if err != nil {
		return AddedMember{}, err
	}
	s.c.usersChanged()
	return added, nil
}

// UpdateMember changes a member's role and/or an agent's inboxes. Making the last
// administrator an agent is ErrLastAdministrator; inboxes for an administrator are
// ErrAdministratorInboxes. A member made administrator loses their inbox list (they
// see every inbox now, and a later demotion starts from none, not from old access).
func (s *Store) UpdateMember(ctx context.Context, accountID, userID int64, ch MemberChange) (Member, error) {
	if ch.Role != nil && !ValidRole(*ch.Role) {
		return Member{}, fmt.Errorf("db: update member: role must be administrator or agent, not %q", *ch.Role)
	}
	var updated Member
	err := s.inWriteTx(ctx, "update member", func(tx *sql.Tx) error {
		cur, err := member(ctx, tx, accountID, userID)
		if err != nil {
			return err
		}
		role := cur.Role
		if ch.Role != nil {
			role = *ch.Role
		}
		if role == RoleAdministrator && ch.InboxIDs != nil && len(*ch.InboxIDs) > 0 {
			return ErrAdministratorInboxes
		}
		if cur.IsAdministrator() && role != RoleAdministrator {
			if err := checkNotLastAdministrator(ctx, tx, accountID, userID); err != nil {
				return err
			}
		}
		if role != cur.Role {
			if _, err := tx.ExecContext(ctx, `UPDATE account_users SET role = ? WHERE account_id = ? AND user_id = ?`,
				role, accountID, userID); err != nil {
				return err
			}
		}
		switch {
		case role == RoleAdministrator:
			if err := assignInboxes(ctx, tx, accountID, userID, nil); err != nil {
				return err
			}
		case ch.InboxIDs != nil:
			if err := checkAccountInboxes(ctx, tx, accountID, *ch.InboxIDs); err != nil {
				return err
			}
			if err := assignInboxes(ctx, tx, accountID, userID, *ch.InboxIDs); err != nil {
				return err
			}
		}
		updated, err = member(ctx, tx, accountID, userID)
		return err
	})
	if err != nil {
		return Member{}, err
	}
	s.c.usersChanged()
	return updated, nil
}

// RemoveMember takes a person out of an account, with their inboxes of it. A person
// left in no account is deleted from the server (password, API token and sessions
// with them), so no login outlives the last membership; registration attempts they
// made keep no name. Removing the last administrator is ErrLastAdministrator.
func (s *Store) RemoveMember(ctx context.Context, accountID, userID int64) error {
	err := s.inWriteTx(ctx, "remove member", func(tx *sql.Tx) error {
		cur, err := member(ctx, tx, accountID, userID)
		if err != nil {
			return err
		}
		if cur.IsAdministrator() {
			if err := checkNotLastAdministrator(ctx, tx, accountID, userID); err != nil {
				return err
			}
		}
		if err := assignInboxes(ctx, tx, accountID, userID, nil); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM account_users WHERE account_id = ? AND user_id = ?`, accountID, userID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM users WHERE id = ? AND NOT EXISTS
			(SELECT 1 FROM account_users WHERE user_id = ?)`, userID, userID)
		return err
	})
	if err != nil {
		return err
	}
	s.c.usersChanged()
	return nil
}

// NewOneTimePassword replaces the one-time password of a member who has not chosen
// their own yet (say, it expired before they used it), and hands the new one back once.
// Someone who chose their own password, or who belongs to other accounts too, is
// ErrPasswordChosen: an administrator of one account must not be able to take over a
// login that reaches further (the server's operator can, with `web user passwd`).
func (s *Store) NewOneTimePassword(ctx context.Context, accountID, userID int64) (string, error) {
	var password string
	err := s.inWriteTx(ctx, "new one-time password", func(tx *sql.Tx) error {
		cur, err := member(ctx, tx, accountID, userID)
		if err != nil {
			return err
		}
		var accounts int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM account_users WHERE user_id = ?`, userID).Scan(&accounts); err != nil {
			return err
		}
		if !cur.HasOneTimePassword() || accounts != 1 {
			return ErrPasswordChosen
		}
		var hash string
		password, hash, err = s.newOneTimePassword()
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, one_time_password_expires_at = ? WHERE id = ?`,
			hash, millis(s.now().Add(OneTimePasswordTTL)), userID)
		return err
	})
	if err != nil {
		return "", err
	}
	s.c.usersChanged()
	return password, nil
}

// newOneTimePassword makes a password from crypto/rand (26 base32 characters, 130
// bits) and its hash.
func (s *Store) newOneTimePassword() (password, hash string, err error) {
	password = rand.Text()
	hash, err = s.hashPassword(password)
	return password, hash, err
}

// inWriteTx runs fn in one write transaction. The writer begins IMMEDIATE, so checks
// made inside (the last administrator, the account's inboxes) still hold at commit.
// The rule errors (ErrNotFound, ErrAlreadyMember, ...) come back as they are.
func (s *Store) inWriteTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: %s: %w", what, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		var unknown *UnknownInboxesError
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadyMember) || errors.Is(err, ErrLastAdministrator) ||
			errors.Is(err, ErrAdministratorInboxes) || errors.Is(err, ErrPasswordChosen) || errors.As(err, &unknown) {
			return err
		}
		return fmt.Errorf("db: %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: %s: %w", what, err)
	}
	return nil
}

func checkNotLastAdministrator(ctx context.Context, tx *sql.Tx, accountID, userID int64) error {
	var others int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM account_users WHERE account_id = ? AND role = ? AND user_id <> ?`,
		accountID, RoleAdministrator, userID).Scan(&others); err != nil {
		return err
	}
	if others == 0 {
		return ErrLastAdministrator
	}
	return nil
}

// checkAccountInboxes fails with UnknownInboxesError unless every id is an inbox of
// the account.
func checkAccountInboxes(ctx context.Context, tx *sql.Tx, accountID int64, ids []int64) error {
	var unknown []int64
	for _, id := range uniqueIDs(ids) {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM inboxes WHERE id = ? AND account_id = ?`, id, accountID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return &UnknownInboxesError{IDs: unknown}
	}
	return nil
}

// assignInboxes makes ids the user's inboxes of this account (the user's inboxes of
// other accounts stay).
func assignInboxes(ctx context.Context, tx *sql.Tx, accountID, userID int64, ids []int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM inbox_members WHERE user_id = ?
		AND inbox_id IN (SELECT id FROM inboxes WHERE account_id = ?)`, userID, accountID); err != nil {
		return err
	}
	for _, id := range uniqueIDs(ids) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO inbox_members (inbox_id, user_id) VALUES (?, ?)`, id, userID); err != nil {
			return err
		}
	}
	return nil
}

func uniqueIDs(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
