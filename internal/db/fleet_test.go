package db

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

func addStatusSnapshot(t *testing.T, s *Store, inboxID int64, at time.Time, status string) {
	t.Helper()
	_, err := s.AddSnapshot(context.Background(), HealthSnapshot{InboxID: inboxID, CheckedAt: at, OK: true,
		Phone: &whatsapp.PhoneNumber{Status: "CONNECTED"}, OverallStatus: status})
	if err != nil {
		t.Fatal(err)
	}
}

func storedHealthStatus(t *testing.T, s *Store, inboxID int64) (string, int) {
	t.Helper()
	var status string
	var severity int
	if err := s.read.QueryRow(`SELECT health_status, health_severity FROM inboxes WHERE id = ?`, inboxID).Scan(&status, &severity); err != nil {
		t.Fatal(err)
	}
	return status, severity
}

func TestInboxHealthStatusFollowsItsNewestSnapshot(t *testing.T) {
	s, path := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	unknown := whatsapp.StatusByCode(whatsapp.OverallUnknown).Severity
	if status, severity := storedHealthStatus(t, s, in.ID); status != whatsapp.OverallUnknown || severity != unknown {
		t.Errorf("never checked: want unknown (%d), got %s (%d)", unknown, status, severity)
	}
	now := time.Now().UTC()
	addStatusSnapshot(t, s, in.ID, now, whatsapp.OverallBlocked)
	if status, severity := storedHealthStatus(t, s, in.ID); status != whatsapp.OverallBlocked || severity != whatsapp.StatusByCode(whatsapp.OverallBlocked).Severity {
		t.Errorf("after a blocked snapshot: want blocked, got %s (%d)", status, severity)
	}
	addStatusSnapshot(t, s, in.ID, now.Add(-time.Hour), whatsapp.OverallConnected) // older: not the newest
	if status, _ := storedHealthStatus(t, s, in.ID); status != whatsapp.OverallBlocked {
		t.Errorf("an older snapshot must not change the stored status, got %s", status)
	}

	// A ranking this version does not share (as after an upgrade) is set right on open.
	if _, err := s.write.Exec(`UPDATE inboxes SET health_severity = 99`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	c, _ := NewCipher("test-secret")
	s, err := Open(ctx, path, c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, severity := storedHealthStatus(t, s, in.ID); severity != whatsapp.StatusByCode(whatsapp.OverallBlocked).Severity {
		t.Errorf("after reopening: want the severity of blocked, got %d", severity)
	}
}

func TestMigrationBackfillsInboxHealthStatus(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	checked := createTestInbox(t, s, u.AccountID, "+15550100001", "tok")
	never := createTestInbox(t, s, u.AccountID, "+15550100002", "tok")
	now := time.Now().UTC()
	addStatusSnapshot(t, s, checked.ID, now.Add(-time.Hour), whatsapp.OverallConnected)
	addStatusSnapshot(t, s, checked.ID, now, whatsapp.OverallRestricted)
	// Back to the schema before 0011.
	for _, q := range []string{`DROP INDEX inboxes_fleet_severity`, `DROP INDEX inboxes_fleet_name`, `DROP INDEX inboxes_fleet_status`,
		`ALTER TABLE inboxes DROP COLUMN health_status`, `ALTER TABLE inboxes DROP COLUMN health_severity`,
		`DELETE FROM schema_migrations WHERE name = '0011_fleet_list.sql'`} {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.syncHealthSeverity(ctx); err != nil {
		t.Fatal(err)
	}
	if status, severity := storedHealthStatus(t, s, checked.ID); status != whatsapp.OverallRestricted || severity != whatsapp.StatusByCode(whatsapp.OverallRestricted).Severity {
		t.Errorf("checked inbox: want the newest snapshot's restricted, got %s (%d)", status, severity)
	}
	if status, _ := storedHealthStatus(t, s, never.ID); status != whatsapp.OverallUnknown {
		t.Errorf("never checked: want unknown, got %s", status)
	}
}

func TestFleetPageFiltersSearchesSortsAndPagesInSQL(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	agent, _ := s.CreateUser(ctx, "b@example.com", "password1", "Acme", RoleAgent)
	other, _ := s.CreateUser(ctx, "c@example.com", "password1", "Other", RoleAdministrator)
	statuses := []string{whatsapp.OverallConnected, whatsapp.OverallBlocked, whatsapp.OverallTokenExpired, whatsapp.OverallQualityLow, whatsapp.OverallBlocked}
	names := []string{"delta", "Alpha", "charlie", "bravo_1", "echo%"}
	now := time.Now().UTC()
	var ids []int64
	for i, name := range names {
		in, err := s.CreateInbox(ctx, NewInbox{AccountID: u.AccountID, Name: name, PhoneNumber: fmt.Sprintf("+1555010000%d", i),
			PhoneNumberID: fmt.Sprintf("pn%d", i), WABAID: "w", AccessToken: "t"})
		if err != nil {
			t.Fatal(err)
		}
		addStatusSnapshot(t, s, in.ID, now, statuses[i])
		ids = append(ids, in.ID)
	}
	createTestInbox(t, s, other.AccountID, "+15550199999", "tok") // another account's
	if err := s.AddInboxMember(ctx, ids[0], agent.UserID); err != nil {
		t.Fatal(err)
	}
	if err := s.AddInboxMember(ctx, ids[1], agent.UserID); err != nil {
		t.Fatal(err)
	}
	page := func(f FleetFilter, offset, limit int) []string {
		t.Helper()
		f.AccountID = u.AccountID
		rows, err := s.FleetPage(ctx, f, offset, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.Name)
		}
		return out
	}
	for what, c := range map[string]struct {
		f    FleetFilter
		want []string
	}{
		"by severity, then name":  {FleetFilter{}, []string{"charlie", "Alpha", "echo%", "bravo_1", "delta"}},
		"by name, any case":       {FleetFilter{Sort: FleetSortName}, []string{"Alpha", "bravo_1", "charlie", "delta", "echo%"}},
		"one status":              {FleetFilter{Statuses: []string{whatsapp.OverallBlocked}}, []string{"Alpha", "echo%"}},
		"all but one":             {FleetFilter{ExceptStatuses: []string{whatsapp.OverallConnected}, Sort: FleetSortName}, []string{"Alpha", "bravo_1", "charlie", "echo%"}},
		"search, any case":        {FleetFilter{Search: "ALP"}, []string{"Alpha"}},
		"% matches itself":        {FleetFilter{Search: "o%"}, []string{"echo%"}},
		"_ matches itself":        {FleetFilter{Search: "o_"}, []string{"bravo_1"}},
		"number with punctuation": {FleetFilter{Search: "(555) 010-0002"}, []string{"charlie"}},
		"agent's inboxes":         {FleetFilter{MemberUserID: agent.UserID}, []string{"Alpha", "delta"}},
	} {
		if got := page(c.f, 0, -1); !slices.Equal(got, c.want) {
			t.Errorf("%s: want %v, got %v", what, c.want, got)
		}
	}
	if got := page(FleetFilter{}, 2, 2); !slices.Equal(got, []string{"echo%", "bravo_1"}) {
		t.Errorf("offset 2, limit 2: want echo%%, bravo_1, got %v", got)
	}
	counts, err := s.FleetCounts(ctx, u.AccountID, 0)
	if err != nil || counts[whatsapp.OverallBlocked] != 2 || counts[whatsapp.OverallConnected] != 1 || len(counts) != 4 {
		t.Errorf("counts: want 2 blocked, 1 connected over 4 statuses, got %v (%v)", counts, err)
	}
	if n, err := s.FleetCount(ctx, FleetFilter{AccountID: u.AccountID, MemberUserID: agent.UserID, Search: "a"}); err != nil || n != 2 {
		t.Errorf("agent's count of a search: want 2, got %d (%v)", n, err)
	}
}

// The list's queries walk their index in order: no sort of the whole account per page
// and no reading of the table, whatever the page.
func TestFleetQueriesReadOnlyTheirIndex(t *testing.T) {
	sqliteOnly(t, "reads SQLite's query plan")
	s, _ := openTestStore(t)
	for _, f := range []FleetFilter{
		{AccountID: 1},
		{AccountID: 1, Sort: FleetSortName},
		{AccountID: 1, Statuses: []string{"blocked"}, Search: "x", MemberUserID: 2},
		{AccountID: 1, ExceptStatuses: []string{"connected"}, Sort: FleetSortName},
	} {
		index, order := "inboxes_fleet_severity", "health_severity, name COLLATE NOCASE, id"
		if f.Sort == FleetSortName {
			index, order = "inboxes_fleet_name", "name COLLATE NOCASE, id"
		}
		where, args := f.where()
		rows, err := s.read.Query(`EXPLAIN QUERY PLAN SELECT id, name, phone_number, health_status FROM inboxes INDEXED BY `+index+
			` WHERE `+where+` ORDER BY `+order+` LIMIT 50 OFFSET 9950`, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		if !strings.Contains(text, "USING COVERING INDEX "+index) || strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("filter %+v: want the covering index %s read in order, got plan %q", f, index, text)
		}
	}
}

func TestAnInboxStartedAfreshIsUnknownAgain(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	in := createTestInbox(t, s, u.AccountID, "+15550100001", "EAAold-token-0123456789")
	addStatusSnapshot(t, s, in.ID, time.Now().UTC(), whatsapp.OverallBlocked)
	edit := InboxEdit{Name: "Renamed", PhoneNumber: in.PhoneNumber, PhoneNumberID: in.PhoneNumberID, WABAID: in.WABAID,
		MetaCheck: MetaCheckPassed, Change: InboxChange{Action: ChangeEdited, Actor: Actor{Name: "a@example.com"}}}
	if _, err := s.UpdateInbox(ctx, in.ID, edit); err != nil {
		t.Fatal(err)
	}
	if status, _ := storedHealthStatus(t, s, in.ID); status != whatsapp.OverallBlocked {
		t.Errorf("a rename keeps the stored status, got %s", status)
	}
	edit.PhoneNumberID, edit.StartAfresh = "pn-new", true
	if _, err := s.UpdateInbox(ctx, in.ID, edit); err != nil {
		t.Fatal(err)
	}
	if status, severity := storedHealthStatus(t, s, in.ID); status != whatsapp.OverallUnknown || severity != whatsapp.StatusByCode(whatsapp.OverallUnknown).Severity {
		t.Errorf("another number, its snapshots gone: want unknown, got %s (%d)", status, severity)
	}
}

// Work over the whole fleet after every sweep reads it a page at a time: every inbox
// once, in id order, and a page no larger than InboxPageSize.
func TestEachInboxPageVisitsEveryInboxOnceInPages(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	want := InboxPageSize + 1
	for i := range want {
		createTestInbox(t, s, u.AccountID, fmt.Sprintf("+1555%07d", i), "tok")
	}
	var seen []int64
	pages := 0
	if err := s.EachInboxPage(ctx, func(page []Inbox) error {
		pages++
		if len(page) > InboxPageSize {
			t.Errorf("page %d: want at most %d inboxes, got %d", pages, InboxPageSize, len(page))
		}
		for _, in := range page {
			seen = append(seen, in.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if pages != 2 || len(seen) != want {
		t.Fatalf("want %d inboxes in 2 pages, got %d in %d", want, len(seen), pages)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("want ids ascending and each once, got %d after %d", seen[i], seen[i-1])
		}
	}
	stop := errors.New("stop")
	if err := s.EachInboxPage(ctx, func([]Inbox) error { return stop }); err != stop {
		t.Errorf("an error from fn: want it returned, got %v", err)
	}
}
