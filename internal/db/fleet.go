package db

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// The fleet list: an account's inboxes filtered by overall status, searched by name or
// number, sorted and paged by SQLite from the indexes of migration 0011, so a late page
// of 10,000 inboxes costs about what the first does. Each inbox's overall status and
// its severity rank are stored on the inbox (health_status, health_severity) by
// AddSnapshots, next to the snapshot that decided them.

// Orders of the fleet list.
const (
	// FleetSortSeverity puts the most urgent status first (whatsapp.OverallStatus
	// Severity), then sorts by name.
	FleetSortSeverity = "severity"
	// FleetSortName sorts by name (case-insensitive), then id.
	FleetSortName = "name"
)

// FleetFilter selects inboxes of one account for the fleet list.
type FleetFilter struct {
	AccountID int64
	// MemberUserID limits the list to the inboxes this user is a member of (agents);
	// 0 lists every inbox of the account (administrators).
	MemberUserID int64
	// Statuses keeps only inboxes with one of these overall statuses; ExceptStatuses
	// drops those with one of these. Empty: no condition.
	Statuses       []string
	ExceptStatuses []string
	// Search matches names containing it (ASCII letters in any case); when it looks
	// like a phone number (digits, spaces, + - . ( )), numbers containing its digits
	// match too.
	Search string
	// Sort is FleetSortSeverity (the default when empty) or FleetSortName.
	Sort string
}

// FleetRow is one inbox of the fleet list, as read from the list's index.
type FleetRow struct {
	ID           int64
	Name         string
	PhoneNumber  string
	HealthStatus string // overall status code of its newest snapshot ("unknown" when never checked)
}

// FleetCounts counts the inboxes of an account (those of memberUserID, when not 0) per
// stored overall status.
func (s *Store) FleetCounts(ctx context.Context, accountID, memberUserID int64) (map[string]int, error) {
	where, args := FleetFilter{AccountID: accountID, MemberUserID: memberUserID}.where()
	rows, err := s.read.QueryContext(ctx, `SELECT health_status, count(*) FROM inboxes INDEXED BY inboxes_fleet_status
		WHERE `+where+` GROUP BY health_status`, args...)
	if err != nil {
		return nil, fmt.Errorf("db: fleet counts: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("db: fleet counts: %w", err)
		}
		counts[status] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: fleet counts: %w", err)
	}
	return counts, nil
}

// StatusCountsByAccount counts every account's inboxes per stored overall status, in
// one walk of the (account_id, health_status) index (the metrics scrape asks every
// time; nothing else is read).
func (s *Store) StatusCountsByAccount(ctx context.Context) (map[int64]map[string]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT account_id, health_status, count(*) FROM inboxes INDEXED BY inboxes_fleet_status
		GROUP BY account_id, health_status`)
	if err != nil {
		return nil, fmt.Errorf("db: status counts: %w", err)
	}
	defer rows.Close()
	out := map[int64]map[string]int{}
	for rows.Next() {
		var account int64
		var status string
		var n int
		if err := rows.Scan(&account, &status, &n); err != nil {
			return nil, fmt.Errorf("db: status counts: %w", err)
		}
		if out[account] == nil {
			out[account] = map[string]int{}
		}
		out[account][status] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: status counts: %w", err)
	}
	return out, nil
}

// FleetCount counts the inboxes the filter selects.
func (s *Store) FleetCount(ctx context.Context, f FleetFilter) (int, error) {
	where, args := f.where()
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM inboxes INDEXED BY inboxes_fleet_severity WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: fleet count: %w", err)
	}
	return n, nil
}

// FleetPage lists limit inboxes the filter selects (limit < 0: all of them), in its
// order, skipping the first offset. Only the list's index is read.
func (s *Store) FleetPage(ctx context.Context, f FleetFilter, offset, limit int) ([]FleetRow, error) {
	index, order := "inboxes_fleet_severity", "health_severity, name COLLATE NOCASE, id"
	if f.Sort == FleetSortName {
		index, order = "inboxes_fleet_name", "name COLLATE NOCASE, id"
	}
	where, args := f.where()
	rows, err := s.read.QueryContext(ctx, `SELECT id, name, phone_number, health_status FROM inboxes INDEXED BY `+index+`
		WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, sqlLimit(limit), offset)...)
	if err != nil {
		return nil, fmt.Errorf("db: fleet page: %w", err)
	}
	defer rows.Close()
	out := make([]FleetRow, 0, min(max(limit, 0), 1000))
	for rows.Next() {
		var r FleetRow
		if err := rows.Scan(&r.ID, &r.Name, &r.PhoneNumber, &r.HealthStatus); err != nil {
			return nil, fmt.Errorf("db: fleet page: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: fleet page: %w", err)
	}
	return out, nil
}

// InboxesByIDs reads the inboxes with these ids, in the order given (ids that do not
// exist are left out), in one statement.
func (s *Store) InboxesByIDs(ctx context.Context, ids []int64) ([]Inbox, error) {
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("db: inboxes by id: %w", err)
	}
	byID, err := s.queryInboxes(ctx, `SELECT `+inboxColumns+` FROM inboxes WHERE id IN (SELECT value FROM json_each(?))`, string(idsJSON))
	if err != nil {
		return nil, err
	}
	index := make(map[int64]Inbox, len(byID))
	for _, in := range byID {
		index[in.ID] = in
	}
	out := make([]Inbox, 0, len(ids))
	for _, id := range ids {
		if in, ok := index[id]; ok {
			out = append(out, in)
		}
	}
	return out, nil
}

// where is the filter's condition and its arguments.
func (f FleetFilter) where() (string, []any) {
	conds := []string{"account_id = ?"}
	args := []any{f.AccountID}
	if f.MemberUserID != 0 {
		conds = append(conds, "id IN (SELECT inbox_id FROM inbox_members WHERE user_id = ?)")
		args = append(args, f.MemberUserID)
	}
	in := func(column string, not bool, values []string) {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", ")
		op := " IN ("
		if not {
			op = " NOT IN ("
		}
		conds = append(conds, column+op+marks+")")
		for _, v := range values {
			args = append(args, v)
		}
	}
	if len(f.Statuses) > 0 {
		in("health_status", false, f.Statuses)
	}
	if len(f.ExceptStatuses) > 0 {
		in("health_status", true, f.ExceptStatuses)
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		cond := `name LIKE ? ESCAPE '\'`
		args = append(args, "%"+escapeLike(q)+"%")
		if digits, ok := phoneDigits(q); ok {
			cond = "(" + cond + ` OR phone_number LIKE ?)`
			args = append(args, "%"+digits+"%")
		}
		conds = append(conds, cond)
	}
	return strings.Join(conds, " AND "), args
}

// escapeLike makes % and _ (and the escape character) match themselves in LIKE.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// phoneDigits returns the digits of a search that looks like (part of) a phone number:
// digits with only spaces, + - . ( ) between them.
func phoneDigits(q string) (string, bool) {
	var b strings.Builder
	for _, r := range q {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case strings.ContainsRune(" +-.()", r):
		default:
			return "", false
		}
	}
	return b.String(), b.Len() > 0
}

// qSetHealthStatus stores an inbox's overall status and its rank when either changed:
// the sweep writes a snapshot of every inbox, and a row (and two indexes) rewritten
// for nothing would cost every sweep.
const qSetHealthStatus = `UPDATE inboxes SET health_status = ?1, health_severity = ?2
	WHERE id = ?3 AND (health_status <> ?1 OR health_severity <> ?2)`

// syncHealthSeverity brings every inbox's stored severity in line with the ranking of
// this version (whatsapp.StatusByCode), so a changed ranking sorts right from the start;
// rows already right are not written.
func (s *Store) syncHealthSeverity(ctx context.Context) error {
	var rank strings.Builder
	var args []any
	rank.WriteString("CASE health_status")
	for _, st := range whatsapp.AllStatusCodes() {
		// The ranks are numbers of the code, written in: a placeholder in THEN would
		// be text to PostgreSQL (nothing in a CASE tells it otherwise).
		rank.WriteString(fmt.Sprintf(" WHEN ? THEN %d", st.Severity))
		args = append(args, st.Code)
	}
	rank.WriteString(fmt.Sprintf(" ELSE %d END", whatsapp.StatusByCode(whatsapp.OverallUnknown).Severity))
	query := `UPDATE inboxes SET health_severity = ` + rank.String() + ` WHERE health_severity <> ` + rank.String()
	if _, err := s.write.ExecContext(ctx, query, append(args, args...)...); err != nil {
		return fmt.Errorf("db: sync health severity: %w", err)
	}
	return nil
}

// BackdateInbox sets when an inbox was added, for demo data and tests that store an
// inbox's past: the history chart shows data from an inbox's creation on.
func (s *Store) BackdateInbox(ctx context.Context, inboxID int64, createdAt time.Time) error {
	res, err := s.write.ExecContext(ctx, `UPDATE inboxes SET created_at = ? WHERE id = ?`, millis(createdAt), inboxID)
	s.c.inbox.drop(inboxID)
	if err != nil {
		return fmt.Errorf("db: backdate inbox: %w", err)
	}
	return expectOneRow(res, "backdate inbox")
}
