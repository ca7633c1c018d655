package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// Roles a user can hold in an account.
const (
	RoleAdministrator = "administrator"
	RoleAgent         = "agent"
)

// ValidRole reports whether role is one the product knows.
func ValidRole(role string) bool { return role == RoleAdministrator || role == RoleAgent }

// Account is a customer organisation owning inboxes.
type Account struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// User is a person who logs in.
type User struct {
	ID           int64
	Email        string
	PasswordHash string
	CreatedAt    time.Time
	// OneTimePasswordExpiresAt is set while the password is a one-time password an
	// administrator was shown when adding the person (see AddMember): until then it
	// lets them in only to choose their own password. Zero once they have.
	OneTimePasswordExpiresAt time.Time
}

// HasOneTimePassword reports whether the user must still choose their own password.
func (u User) HasOneTimePassword() bool { return !u.OneTimePasswordExpiresAt.IsZero() }

// Membership is a user's role in one account.
type Membership struct {
	AccountID   int64
	AccountName string
	Role        string
}

// IsAdministrator reports whether the membership may change things.
func (m Membership) IsAdministrator() bool { return m.Role == RoleAdministrator }

// NewUserResult is what creating a user hands back once: the API token is never
// readable again.
type NewUserResult struct {
	UserID         int64  `json:"user_id"`
	AccountID      int64  `json:"account_id"`
	APIAccessToken string `json:"api_access_token"`
}

// Password length rules. bcrypt reads at most 72 bytes, so longer passwords are refused
// rather than silently cut.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 72
)

// ErrWrongPassword is returned when the current password given to confirm a change
// does not match.
var ErrWrongPassword = errors.New("db: the current password does not match")

// CheckPassword says what is wrong with a password someone wants to set (nil: fine).
// Every way of setting a password goes through it.
func CheckPassword(password string) error {
	if len(password) < MinPasswordLength || len(password) > MaxPasswordLength {
		return fmt.Errorf("the password must be %d to %d characters", MinPasswordLength, MaxPasswordLength)
	}
	return nil
}

// SetPasswordCost sets the bcrypt cost of passwords hashed from now on (and of the
// comparison made for unknown emails, so both still take the same time). Tests lower
// it to bcrypt.MinCost, since every log-in of a test costs a hash; a server keeps
// bcrypt.DefaultCost.
func (s *Store) SetPasswordCost(cost int) error {
	dummy, err := bcrypt.GenerateFromPassword([]byte("not-a-real-password"), cost)
	if err != nil {
		return fmt.Errorf("db: password cost %d: %w", cost, err)
	}
	s.passwordCost, s.dummyHash = cost, dummy
	return nil
}

// hashPassword is the one password scheme: bcrypt at the store's cost.
func (s *Store) hashPassword(password string) (string, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.passwordCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(hash), nil
}

// CheckEmail trims an email address and says whether it is one a person can log in
// with: one bare address (no display name, no angle brackets), at most 254 characters,
// only printable characters (no spaces, control, invisible or text-direction ones).
func CheckEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" || len(email) > 254 || strings.IndexFunc(email, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }) >= 0 {
		return email, fmt.Errorf("%q is not an email address", email)
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return email, fmt.Errorf("%q is not an email address", email)
	}
	return email, nil
}

// ExistingUser says what AddUser does when the email is already a user of this server.
type ExistingUser int

const (
	// KeepPassword adds the existing user to the account and keeps their password.
	KeepPassword ExistingUser = iota
	// RefuseExisting fails with ErrUserExists.
	RefuseExisting
	// ResetPassword adds the existing user to the account and replaces their password.
	ResetPassword
)

// ErrUserExists is AddUser's answer for an email that is already a user, when asked to
// refuse existing users.
var ErrUserExists = errors.New("db: a user with this email already exists")

// CreateUser creates the account if needed, the user, and the membership with role.
// If the user exists already, it is added to the account (its password is kept) and a
// fresh API token is issued.
func (s *Store) CreateUser(ctx context.Context, email, password, accountName, role string) (NewUserResult, error) {
	return s.AddUser(ctx, email, password, accountName, role, KeepPassword)
}

// AddUser is CreateUser with a choice of what happens to an existing user (the
// operator's `web user add`): either way, the user gets a fresh API token and the
// membership with role.
func (s *Store) AddUser(ctx context.Context, email, password, accountName, role string, existing ExistingUser) (NewUserResult, error) {
	email, emailErr := CheckEmail(email)
	accountName = strings.TrimSpace(accountName)
	switch {
	case emailErr != nil:
		return NewUserResult{}, fmt.Errorf("db: create user: %w", emailErr)
	case accountName == "" || len(accountName) > 200:
		return NewUserResult{}, errors.New("db: create user: account name must be 1 to 200 characters")
	case !ValidRole(role):
		return NewUserResult{}, fmt.Errorf("db: create user: role must be administrator or agent, not %q", role)
	case HasUnsafeText(accountName):
		return NewUserResult{}, errors.New("db: create user: the account name cannot contain control, invisible or text-direction characters")
	}
	if err := CheckPassword(password); err != nil {
		return NewUserResult{}, fmt.Errorf("db: create user: %w", err)
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return NewUserResult{}, fmt.Errorf("db: create user: %w", err)
	}
	token, tokenHash, err := newAPIToken()
	if err != nil {
		return NewUserResult{}, err
	}
	now := millis(s.now())
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return NewUserResult{}, fmt.Errorf("db: create user: %w", err)
	}
	defer tx.Rollback()
	var res NewUserResult
	if err := tx.QueryRowContext(ctx, `INSERT INTO accounts (name, created_at) VALUES (?, ?)
		ON CONFLICT(name) DO UPDATE SET name = excluded.name RETURNING id`, accountName, now).Scan(&res.AccountID); err != nil {
		return NewUserResult{}, fmt.Errorf("db: create user: account: %w", err)
	}
	err = tx.QueryRowContext(ctx, `SELECT id FROM users WHERE email = ?`, email).Scan(&res.UserID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := tx.QueryRowContext(ctx, `INSERT INTO users (email, password_hash, api_token_hash, created_at)
			VALUES (?, ?, ?, ?) RETURNING id`, email, hash, tokenHash, now).Scan(&res.UserID); err != nil {
			return NewUserResult{}, fmt.Errorf("db: create user: %w", err)
		}
	case err != nil:
		return NewUserResult{}, fmt.Errorf("db: create user: %w", err)
	case existing == RefuseExisting:
		return NewUserResult{}, ErrUserExists
	case existing == ResetPassword:
		if _, err := tx.ExecContext(ctx, `UPDATE users SET api_token_hash = ?, password_hash = ?,
			one_time_password_expires_at = NULL WHERE id = ?`, tokenHash, hash, res.UserID); err != nil {
			return NewUserResult{}, fmt.Errorf("db: create user: new password: %w", err)
		}
		if _, err := tx.ExecContext(ctx, qEndUserSessions, res.UserID); err != nil {
			return NewUserResult{}, fmt.Errorf("db: create user: end sessions: %w", err)
		}
	default:
		if _, err := tx.ExecContext(ctx, `UPDATE users SET api_token_hash = ? WHERE id = ?`, tokenHash, res.UserID); err != nil {
			return NewUserResult{}, fmt.Errorf("db: create user: new token: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO account_users (account_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(account_id, user_id) DO UPDATE SET role = excluded.role`, res.AccountID, res.UserID, role, now); err != nil {
		return NewUserResult{}, fmt.Errorf("db: create user: membership: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return NewUserResult{}, fmt.Errorf("db: create user: %w", err)
	}
	s.c.usersChanged()
	res.APIAccessToken = token
	return res, nil
}

func newAPIToken() (token, hash string, err error) {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", "", fmt.Errorf("db: api token: %w", err)
	}
	token = hex.EncodeToString(raw)
	return token, hashToken(token), nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ErrOneTimePasswordExpired is Authenticate's answer for the right one-time password
// after it expired: only someone who knows it learns that, so it may be said plainly.
var ErrOneTimePasswordExpired = errors.New("db: the one-time password has expired")

// Authenticate returns the user whose email and password match. Unknown email and wrong
// password are the same error, and both cost a bcrypt comparison, so timing does not
// tell which emails exist. A one-time password past its expiry is
// ErrOneTimePasswordExpired.
func (s *Store) Authenticate(ctx context.Context, email, password string) (User, error) {
	u, err := s.userBy(ctx, "email = ?", strings.TrimSpace(email))
	if errors.Is(err, ErrNotFound) {
		bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return User{}, ErrNotFound
	}
	if u.HasOneTimePassword() && !s.now().Before(u.OneTimePasswordExpiresAt) {
		return User{}, ErrOneTimePasswordExpired
	}
	return u, nil
}

// PasswordMatches reports whether password is the user's current password.
func (u User) PasswordMatches(password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) == nil
}

// UserByEmail returns the user with this email (any case).
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	return s.userBy(ctx, "email = ?", strings.TrimSpace(email))
}

// RecordSignIn notes that the user just signed in through the log-in form.
func (s *Store) RecordSignIn(ctx context.Context, userID int64) error {
	if _, err := s.write.ExecContext(ctx, `UPDATE users SET last_sign_in_at = ? WHERE id = ?`, millis(s.now()), userID); err != nil {
		return fmt.Errorf("db: record sign-in: %w", err)
	}
	return nil
}

// defaultDummyHash is what Authenticate compares an unknown email's password with, at
// bcrypt.DefaultCost.
var defaultDummyHash, _ = bcrypt.GenerateFromPassword([]byte("not-a-real-password"), bcrypt.DefaultCost)

const (
	userColumns  = `SELECT id, email, password_hash, created_at, one_time_password_expires_at FROM users WHERE `
	qUserByToken = userColumns + `api_token_hash = ?`
	qUserByID    = userColumns + `id = ?`
)

// UserByAPIToken returns the user owning an API access token.
func (s *Store) UserByAPIToken(ctx context.Context, token string) (User, error) {
	if token == "" {
		return User{}, ErrNotFound
	}
	hash, now := hashToken(token), s.now()
	u, ok, gen := s.c.userByToken.get(hash, now)
	if ok {
		return u, nil
	}
	u, err := scanUser(s.st.userByToken.QueryRowContext(ctx, hash))
	if err == nil {
		s.c.userByToken.fill(hash, u, now, gen)
	}
	return u, err
}

// UserByID returns one user.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	now := s.now()
	u, ok, gen := s.c.userByID.get(id, now)
	if ok {
		return u, nil
	}
	u, err := scanUser(s.st.userByID.QueryRowContext(ctx, id))
	if err == nil {
		s.c.userByID.fill(id, u, now, gen)
	}
	return u, err
}

func (s *Store) userBy(ctx context.Context, where string, arg any) (User, error) {
	return scanUser(s.read.QueryRowContext(ctx, userColumns+where, arg))
}

func scanUser(row *sql.Row) (User, error) {
	var u User
	var created int64
	var oneTimeUntil sql.NullInt64
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &created, &oneTimeUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("db: get user: %w", err)
	}
	u.CreatedAt = fromMillis(created)
	if oneTimeUntil.Valid {
		u.OneTimePasswordExpiresAt = fromMillis(oneTimeUntil.Int64)
	}
	return u, nil
}

const (
	qMemberships = `SELECT a.id, a.name, au.role FROM account_users au
		JOIN accounts a ON a.id = au.account_id WHERE au.user_id = ? ORDER BY a.name`
	qMembership = `SELECT a.id, a.name, au.role FROM account_users au
		JOIN accounts a ON a.id = au.account_id WHERE au.user_id = ? AND au.account_id = ?`
)

// Memberships lists the accounts a user belongs to, by account name.
func (s *Store) Memberships(ctx context.Context, userID int64) ([]Membership, error) {
	now := s.now()
	ms, ok, gen := s.c.memberships.get(userID, now)
	if ok {
		return slices.Clone(ms), nil
	}
	ms, err := s.memberships(ctx, userID)
	if err == nil {
		s.c.memberships.fill(userID, ms, now, gen)
	}
	return slices.Clone(ms), err
}

func (s *Store) memberships(ctx context.Context, userID int64) ([]Membership, error) {
	rows, err := s.st.memberships.QueryContext(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("db: memberships: %w", err)
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
		if err := rows.Scan(&m.AccountID, &m.AccountName, &m.Role); err != nil {
			return nil, fmt.Errorf("db: memberships: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Membership returns the user's role in one account, or ErrNotFound.
func (s *Store) Membership(ctx context.Context, userID, accountID int64) (Membership, error) {
	key, now := [2]int64{userID, accountID}, s.now()
	m, ok, gen := s.c.membership.get(key, now)
	if ok {
		return m, nil
	}
	err := s.st.membership.QueryRowContext(ctx, userID, accountID).Scan(&m.AccountID, &m.AccountName, &m.Role)
	if errors.Is(err, sql.ErrNoRows) {
		return Membership{}, ErrNotFound
	}
	if err != nil {
		return Membership{}, fmt.Errorf("db: membership: %w", err)
	}
	s.c.membership.fill(key, m, now, gen)
	return m, nil
}

// AccountByName returns an account by its unique name.
func (s *Store) AccountByName(ctx context.Context, name string) (Account, error) {
	var a Account
	var created int64
	err := s.read.QueryRowContext(ctx, `SELECT id, name, created_at FROM accounts WHERE name = ?`, name).Scan(&a.ID, &a.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, ErrNotFound
	}
	if err != nil {
		return Account{}, fmt.Errorf("db: account by name: %w", err)
	}
	a.CreatedAt = fromMillis(created)
	return a, nil
}

// AddInboxMember lets an agent see an inbox.
func (s *Store) AddInboxMember(ctx context.Context, inboxID, userID int64) error {
	if _, err := s.write.ExecContext(ctx, `INSERT INTO inbox_members (inbox_id, user_id) VALUES (?, ?)
		ON CONFLICT DO NOTHING`, inboxID, userID); err != nil {
		return fmt.Errorf("db: add inbox member: %w", err)
	}
	return nil
}

// ChangePassword replaces the user's password after checking the current one
// (ErrWrongPassword when it does not match), and ends every session of the user in the
// same transaction: a cookie stolen before the change stops working with it.
func (s *Store) ChangePassword(ctx context.Context, userID int64, current, next string) error {
	u, err := s.userBy(ctx, "id = ?", userID)
	if err != nil {
		return fmt.Errorf("db: change password: %w", err)
	}
	if !u.PasswordMatches(current) {
		return ErrWrongPassword
	}
	return s.SetPassword(ctx, userID, next)
}

// SetPassword replaces a user's password with one they (or the operator) chose; a
// one-time password stops being one. Every session of the user ends in the same
// transaction, so a cookie taken before the change stops working with it; the API
// token is kept.
func (s *Store) SetPassword(ctx context.Context, userID int64, password string) error {
	if err := CheckPassword(password); err != nil {
		return fmt.Errorf("db: set password: %w", err)
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return fmt.Errorf("db: set password: %w", err)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: set password: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, one_time_password_expires_at = NULL
		WHERE id = ?`, hash, userID)
	if err != nil {
		return fmt.Errorf("db: set password: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, qEndUserSessions, userID); err != nil {
		return fmt.Errorf("db: set password: end sessions: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: set password: %w", err)
	}
	s.c.usersChanged()
	return nil
}

// RotateAPIToken gives the user a new API access token, returned this once; the old
// one stops working at once.
func (s *Store) RotateAPIToken(ctx context.Context, userID int64) (string, error) {
	token, tokenHash, err := newAPIToken()
	if err != nil {
		return "", err
	}
	res, err := s.write.ExecContext(ctx, `UPDATE users SET api_token_hash = ? WHERE id = ?`, tokenHash, userID)
	if err != nil {
		return "", fmt.Errorf("db: rotate api token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", ErrNotFound
	}
	s.c.usersChanged()
	return token, nil
}
