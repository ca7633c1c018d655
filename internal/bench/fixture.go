package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// Fleet is the bench's population: Businesses business accounts (WABAs) of
// NumbersPerBusiness connected numbers each, spread over Accounts accounts of the app.
type Fleet struct {
	Businesses         int
	NumbersPerBusiness int
	Accounts           int
	// HistoryDays of snapshots are stored per inbox, one every SnapshotEvery.
	HistoryDays   int
	SnapshotEvery time.Duration
}

// DefaultFleet is the scale: 10,000 inboxes across 500 business accounts with
// 30 days of history. The history keeps one snapshot per inbox every 6 hours: the
// monitor's default 15-minute sweep under the default 30-day retention would keep 2,880
// per inbox (28.8 M rows, see the database-size figure for what that costs); 120 per
// inbox keeps the fixture quick to build while the history queries still read a month.
var DefaultFleet = Fleet{Businesses: 500, NumbersPerBusiness: 20, Accounts: 20, HistoryDays: 30, SnapshotEvery: 6 * time.Hour}

// Inboxes is the total number of inboxes.
func (f Fleet) Inboxes() int { return f.Businesses * f.NumbersPerBusiness }

// SnapshotsPerInbox is how many history rows each inbox gets.
func (f Fleet) SnapshotsPerInbox() int {
	if f.HistoryDays <= 0 || f.SnapshotEvery <= 0 {
		return 0
	}
	return int(time.Duration(f.HistoryDays) * 24 * time.Hour / f.SnapshotEvery)
}

// Ids and tokens of the fleet, one scheme for the simulator and the database.
func WABAID(w int) string                 { return fmt.Sprintf("2%014d", w) }
func BusinessID(w int) string             { return fmt.Sprintf("3%014d", w) }
func AccessToken(w int) string            { return fmt.Sprintf("bench-access-token-%05d", w) }
func PhoneNumberID(w, n int) string       { return fmt.Sprintf("1%09d%05d", w, n) }
func PhoneNumber(w, n int) string         { return fmt.Sprintf("+1555%03d%04d", w, n) }
func AdminEmail(account int) string       { return fmt.Sprintf("admin%02d@bench.test", account) }
func (f Fleet) AccountOf(w int) int       { return w % f.Accounts }
func displayNumber(w, n int) string       { return fmt.Sprintf("+1 555-%03d-%04d", w, n) }
func verifiedName(w int) string           { return fmt.Sprintf("Bench Business %03d", w) }
func benchPassword(account int) string    { return fmt.Sprintf("bench-password-%02d", account) }
func accountName(account int) string      { return fmt.Sprintf("Bench Account %02d", account) }
func inboxName(w, n int) string           { return fmt.Sprintf("Support %03d-%02d", w, n) }
func (f Fleet) index(w, n int) int        { return w*f.NumbersPerBusiness + n }
func (f Fleet) position(i int) (w, n int) { return i / f.NumbersPerBusiness, i % f.NumbersPerBusiness }

// NewSimulator returns a Graph API simulator holding the whole fleet, every number
// connected and healthy, with a request log large enough for a naive sweep.
func (f Fleet) NewSimulator(appSecret string) (*graphsim.Server, error) {
	sim := graphsim.New(graphsim.Config{AppSecret: appSecret, MaxRequests: -1})
	for w := range f.Businesses {
		if err := sim.AddBusiness(graphsim.Business{WABAID: WABAID(w), BusinessID: BusinessID(w), Name: verifiedName(w),
			AccessToken: AccessToken(w)}); err != nil {
			sim.Close()
			return nil, err
		}
		for n := range f.NumbersPerBusiness {
			if err := sim.AddNumber(graphsim.Number{
				PhoneNumber: PhoneNumber(w, n), PhoneNumberID: PhoneNumberID(w, n), WABAID: WABAID(w),
				DisplayPhoneNumber: displayNumber(w, n), VerifiedName: verifiedName(w),
				CodeVerificationStatus: "VERIFIED", NameStatus: "APPROVED", PlatformType: "CLOUD_API",
				ThroughputLevel: "STANDARD", Status: "CONNECTED", QualityRating: "GREEN",
				BusinessMessagingLimit: "TIER_1K", AccountMode: "LIVE", PIN: "246810",
				LastOnboardedTime: "2025-01-15T10:00:00+0000",
			}); err != nil {
				sim.Close()
				return nil, err
			}
		}
	}
	return sim, nil
}

// phone is the health Meta reports for number (w, n): the same as the simulator's,
// with the quality rating given.
func phone(w, n int, quality string) whatsapp.PhoneNumber {
	return whatsapp.PhoneNumber{
		ID: PhoneNumberID(w, n), DisplayPhoneNumber: displayNumber(w, n), VerifiedName: verifiedName(w),
		CodeVerificationStatus: "VERIFIED", NameStatus: "APPROVED", PlatformType: "CLOUD_API",
		Throughput: whatsapp.Throughput{Level: "STANDARD"}, Status: "CONNECTED", QualityRating: quality,
		BusinessMessagingLimit: "TIER_1K", AccountMode: "LIVE", LastOnboardedTime: "2025-01-15T10:00:00+0000",
		HealthStatus: &whatsapp.HealthStatus{CanSendMessage: "AVAILABLE", Entities: []whatsapp.HealthEntity{
			{EntityType: "PHONE_NUMBER", ID: PhoneNumberID(w, n), CanSendMessage: "AVAILABLE"},
			{EntityType: "WABA", ID: WABAID(w), CanSendMessage: "AVAILABLE"},
			{EntityType: "BUSINESS", ID: BusinessID(w), CanSendMessage: "AVAILABLE"},
			{EntityType: "APP", ID: graphsim.AppID, CanSendMessage: "AVAILABLE"},
		}},
	}
}

// FixtureUser is an account's administrator, for logging in and API calls.
type FixtureUser struct {
	Email, Password, APIToken string
	AccountID                 int64
}

// Fixture is a database filled with the fleet.
type Fixture struct {
	Path      string
	Secret    string
	Users     []FixtureUser // by fleet account
	InboxIDs  []int64       // by fleet index (w*NumbersPerBusiness + n)
	Snapshots int
	// Sizes of the database file (with WAL checkpointed) at each stage, in bytes.
	BytesEmpty, BytesInboxes, BytesHistory int64
	Took                                   time.Duration
}

// BuildFixture creates a database at path holding the fleet's accounts, inboxes and
// history. Users go through the store (bcrypt, as in production); inboxes and snapshots
// are bulk-inserted with plain SQL in large transactions, with tokens encrypted by the
// same cipher, so the real binary reads them as its own.
func (f Fleet) BuildFixture(ctx context.Context, path, secret string, now time.Time) (*Fixture, error) {
	start := time.Now()
	cipher, err := db.NewCipher(secret)
	if err != nil {
		return nil, err
	}
	store, err := db.Open(ctx, path, cipher)
	if err != nil {
		return nil, err
	}
	fx := &Fixture{Path: path, Secret: secret}
	for a := range f.Accounts {
		u, err := store.CreateUser(ctx, AdminEmail(a), benchPassword(a), accountName(a), db.RoleAdministrator)
		if err != nil {
			store.Close()
			return nil, err
		}
		fx.Users = append(fx.Users, FixtureUser{Email: AdminEmail(a), Password: benchPassword(a), APIToken: u.APIAccessToken, AccountID: u.AccountID})
	}
	if err := store.Close(); err != nil {
		return nil, err
	}

	conn, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	if fx.BytesEmpty, err = checkpointedSize(ctx, conn, path); err != nil {
		return nil, err
	}
	if err := f.insertInboxes(ctx, conn, cipher, fx, now); err != nil {
		return nil, err
	}
	if fx.BytesInboxes, err = checkpointedSize(ctx, conn, path); err != nil {
		return nil, err
	}
	if err := f.insertHistory(ctx, conn, fx, now); err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "ANALYZE"); err != nil {
		return nil, fmt.Errorf("bench: analyze: %w", err)
	}
	if fx.BytesHistory, err = checkpointedSize(ctx, conn, path); err != nil {
		return nil, err
	}
	fx.Took = time.Since(start)
	return fx, nil
}

func (f Fleet) insertInboxes(ctx context.Context, conn *sql.DB, cipher *db.Cipher, fx *Fixture, now time.Time) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Every number ends the month healthy: the fleet list's stored status says so.
	status := whatsapp.DeriveOverallStatus(ptr(phone(0, 0, "GREEN")), nil, whatsapp.KindNone)
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO inboxes (account_id, name, phone_number, phone_number_id, waba_id,
		business_id, access_token_enc, webhook_verify_token, pin_state, health_status, health_severity, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'none', ?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return fmt.Errorf("bench: insert inboxes: %w", err)
	}
	defer stmt.Close()
	created := now.Add(-time.Duration(f.HistoryDays+1) * 24 * time.Hour).UnixMilli()
	fx.InboxIDs = make([]int64, f.Inboxes())
	for w := range f.Businesses {
		tokenEnc, err := cipher.Encrypt(AccessToken(w))
		if err != nil {
			return err
		}
		account := fx.Users[f.AccountOf(w)].AccountID
		for n := range f.NumbersPerBusiness {
			verify := make([]byte, 16)
			rand.Read(verify)
			if err := stmt.QueryRowContext(ctx, account, inboxName(w, n), PhoneNumber(w, n), PhoneNumberID(w, n), WABAID(w),
				BusinessID(w), tokenEnc, hex.EncodeToString(verify), status.Code, status.Severity, created, created).Scan(&fx.InboxIDs[f.index(w, n)]); err != nil {
				return fmt.Errorf("bench: insert inbox: %w", err)
			}
		}
	}
	return tx.Commit()
}

// insertHistory stores SnapshotsPerInbox snapshots per inbox, the newest at now. Every
// tenth inbox dropped to YELLOW quality for two days in the middle of the month, so the
// change history has entries to show.
func (f Fleet) insertHistory(ctx context.Context, conn *sql.DB, fx *Fixture, now time.Time) error {
	per := f.SnapshotsPerInbox()
	const batch = 50_000
	var (
		tx               *sql.Tx
		stmt, stmtChange *sql.Stmt
		err              error
	)
	flush := func() error {
		if tx == nil {
			return nil
		}
		stmt.Close()
		stmtChange.Close()
		err := tx.Commit()
		tx, stmt, stmtChange = nil, nil, nil
		return err
	}
	defer func() {
		if tx != nil {
			stmt.Close()
			stmtChange.Close()
			tx.Rollback()
		}
	}()
	rows := 0
	for i, inboxID := range fx.InboxIDs {
		w, n := f.position(i)
		variants := map[string]string{}
		for _, q := range []string{"GREEN", "YELLOW"} {
			p := phone(w, n, q)
			b, err := json.Marshal(p)
			if err != nil {
				return err
			}
			variants[q] = string(b)
		}
		overall := whatsapp.DeriveOverallStatus(ptr(phone(w, n, "GREEN")), nil, whatsapp.KindNone).Code
		overallYellow := whatsapp.DeriveOverallStatus(ptr(phone(w, n, "YELLOW")), nil, whatsapp.KindNone).Code
		state := string(whatsapp.Decide(ptr(phone(w, n, "GREEN"))).State)
		prevQuality := ""
		for k := range per {
			if tx == nil {
				if tx, err = conn.BeginTx(ctx, nil); err != nil {
					return err
				}
				if stmt, err = tx.PrepareContext(ctx, `INSERT INTO health_snapshots (inbox_id, checked_at, first_checked_at, ok, phone,
					business_health, status, quality_rating, name_status, limit_tier, overall_status, registration_state, source)
					VALUES (?1, ?2, ?2, 1, ?3, NULL, 'CONNECTED', ?4, 'APPROVED', 'TIER_1K', ?5, ?6, 'sweep')`); err != nil {
					return fmt.Errorf("bench: insert snapshots: %w", err)
				}
				// The change history, as db.AddSnapshot records it next to each snapshot.
				if stmtChange, err = tx.PrepareContext(ctx, `INSERT INTO health_changes (inbox_id, changed_at, field, from_value, to_value)
					VALUES (?, ?, 'quality_rating', ?, ?)`); err != nil {
					return fmt.Errorf("bench: insert health changes: %w", err)
				}
			}
			at := now.Add(-time.Duration(per-1-k) * f.SnapshotEvery)
			quality, ov := "GREEN", overall
			if i%10 == 0 && k >= per/3 && k < per/3+int(48*time.Hour/f.SnapshotEvery) {
				quality, ov = "YELLOW", overallYellow
			}
			if _, err := stmt.ExecContext(ctx, inboxID, at.UnixMilli(), variants[quality], quality, ov, state); err != nil {
				return fmt.Errorf("bench: insert snapshot: %w", err)
			}
			if prevQuality != "" && quality != prevQuality {
				if _, err := stmtChange.ExecContext(ctx, inboxID, at.UnixMilli(), prevQuality, quality); err != nil {
					return fmt.Errorf("bench: insert health change: %w", err)
				}
			}
			prevQuality = quality
			rows++
			if rows%batch == 0 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	fx.Snapshots = rows
	return flush()
}

func ptr[T any](v T) *T { return &v }

// checkpointedSize folds the WAL into the main file and returns the file's size.
func checkpointedSize(ctx context.Context, conn *sql.DB, path string) (int64, error) {
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return 0, fmt.Errorf("bench: checkpoint: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// tableBytes is the disk space of one table of the SQLite database at path with all its
// indexes: whole pages, as the file holds them, read through SQLite's dbstat table (which
// sees pages still in the WAL).
func tableBytes(ctx context.Context, path, table string) (int64, error) {
	conn, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var n int64
	err = conn.QueryRowContext(ctx, `SELECT COALESCE(SUM(pgsize), 0) FROM dbstat
		WHERE name = ?1 OR name IN (SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?1)`, table).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("bench: size of %s: %w", table, err)
	}
	return n, nil
}

// TempDir makes a scratch folder for one bench run.
func TempDir() (string, error) { return os.MkdirTemp("", "inboxhealth-bench-") }

// DBFiles lists the database file and its WAL/SHM companions.
func DBFiles(path string) []string {
	return []string{path, path + "-wal", path + "-shm", filepath.Join(filepath.Dir(path), "secret.key")}
}
