package handlers

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// fleetScenarios give one inbox per interesting overall status: connected (2, one of
// them YELLOW quality), blocked (2: flagged with a blocked business account, and a
// locked account), token expired, registration incomplete, display name in review and
// display name needing action.
var fleetScenarios = []string{"connected", "flagged_blocked", "account_locked", "token_expired", "pending_provisioning",
	"name_in_review", "name_declined"}

func newFleetEnv(t *testing.T) *healthEnv {
	t.Helper()
	env := newHealthEnv(t, fleetScenarios...)
	for _, in := range env.inboxes {
		env.refresh(in)
	}
	return env
}

// TestFleetList drives the list, its export and the list API over one set of inboxes
// (building one costs three bcrypt hashes and eight health checks); the subtests run in
// order, and those that add data (memberships, an inbox) come last.
func TestFleetList(t *testing.T) {
	t.Parallel()
	env := newFleetEnv(t)
	s := env.login("admin@health.test")
	for _, sub := range []struct {
		name string
		run  func(*testing.T, *healthEnv, *webClient)
	}{
		{"ListCountsEachStatusAndEachCountFilters", fleetListCountsEachStatusAndEachCountFilters},
		{"ListSortsBySeverityByDefaultAndByName", fleetListSortsBySeverityByDefaultAndByName},
		{"ListColumnsShowQualityLimitCanSendAndLastCheck", fleetListColumnsShowQualityLimitCanSendAndLastCheck},
		{"ListSearchesByNameOrNumber", fleetListSearchesByNameOrNumber},
		{"ListPagesKeepTheFilterAndCoverEveryInboxOnce", fleetListPagesKeepTheFilterAndCoverEveryInboxOnce},
		{"ListFilterIsAFormWithASubmitButton", fleetListFilterIsAFormWithASubmitButton},
		{"ListRefusesBadParametersClearlyAndStillLists", fleetListRefusesBadParametersClearlyAndStillLists},
		{"APIFiltersSearchesSortsAndPages", fleetAPIFiltersSearchesSortsAndPages},
		{"AgentsSeeOnlyTheirInboxesEverywhere", fleetAgentsSeeOnlyTheirInboxesEverywhere},
		{"ExportIsTheFilteredViewAsSafeCSV", fleetExportIsTheFilteredViewAsSafeCSV},
	} {
		t.Run(sub.name, func(t *testing.T) { sub.run(t, env, s) })
	}
}

// listRows are the rows of a list page: inbox names and overall status codes, in order.
func listRows(doc *goquery.Document) (names, statuses []string) {
	doc.Find(`[data-testid="inbox-row"]`).Each(func(_ int, row *goquery.Selection) {
		names = append(names, strings.TrimSpace(row.Find("td").First().Text()))
		status, _ := row.Attr("data-status")
		statuses = append(statuses, status)
	})
	return names, statuses
}

func fleetListCountsEachStatusAndEachCountFilters(t *testing.T, env *healthEnv, s *webClient) {
	resp, doc, _ := s.getDoc(views.InboxesURL(env.admin.AccountID))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: want 200, got %d", resp.StatusCode)
	}
	counts := map[string]int{}
	links := map[string]string{}
	doc.Find(`[data-testid="status-count"]`).Each(func(_ int, a *goquery.Selection) {
		status, _ := a.Attr("data-status")
		n := 0
		for _, r := range a.Find(".count").Text() {
			n = n*10 + int(r-'0')
		}
		counts[status] = n
		links[status], _ = a.Attr("href")
	})
	want := map[string]int{"": 8, filterAttention: 7, whatsapp.OverallBlocked: 2, whatsapp.OverallTokenExpired: 1,
		whatsapp.OverallConnected: 1, whatsapp.OverallQualityLow: 1, whatsapp.OverallRegistrationIncomplete: 1,
		whatsapp.OverallDisplayNameInReview: 1, whatsapp.OverallDisplayNameActionRequired: 1}
	for status, n := range want {
		if counts[status] != n {
			t.Errorf("count of %q: want %d, got %d (all counts %v)", status, n, counts[status], counts)
		}
	}
	if _, shown := counts[whatsapp.OverallOnPremise]; shown {
		t.Errorf("a status no inbox has must not get a tile, got on_premise")
	}
	if current, _ := doc.Find(`[data-testid="status-count"][aria-current]`).Attr("data-status"); current != "" {
		t.Errorf("unfiltered list: want the All tile marked current, got %q", current)
	}

	// Each count is a link to the list of exactly the inboxes it counts.
	for status, n := range want {
		_, doc, _ := s.getDoc(links[status])
		names, statuses := listRows(doc)
		if len(names) != n {
			t.Errorf("link of count %q (%s): want %d rows, got %d: %v", status, links[status], n, len(names), names)
		}
		for _, got := range statuses {
			if status == filterAttention && got == whatsapp.OverallConnected || status != "" && status != filterAttention && got != status {
				t.Errorf("link of count %q: row with status %q listed", status, got)
			}
		}
		if status != "" {
			if current, _ := doc.Find(`[data-testid="status-count"][aria-current]`).Attr("data-status"); current != status {
				t.Errorf("list filtered by %q: want its tile marked current, got %q", status, current)
			}
		}
	}
}

func fleetListSortsBySeverityByDefaultAndByName(t *testing.T, env *healthEnv, s *webClient) {
	_, doc, _ := s.getDoc(views.InboxesURL(env.admin.AccountID))
	names, statuses := listRows(doc)
	if len(statuses) != 8 {
		t.Fatalf("want 8 rows, got %v", names)
	}
	if statuses[0] != whatsapp.OverallTokenExpired || statuses[1] != whatsapp.OverallBlocked || statuses[2] != whatsapp.OverallBlocked {
		t.Errorf("most urgent first: want the token problem, then the two blocked numbers, got %v", statuses)
	}
	if last := statuses[len(statuses)-1]; last != whatsapp.OverallConnected {
		t.Errorf("want the connected number last, got %q", last)
	}
	for i := 1; i < len(statuses); i++ {
		prev, cur := whatsapp.StatusByCode(statuses[i-1]).Severity, whatsapp.StatusByCode(statuses[i]).Severity
		if prev > cur || prev == cur && strings.ToLower(names[i-1]) > strings.ToLower(names[i]) {
			t.Errorf("row %d (%s, %s) must not come after row %d (%s, %s)", i, names[i], statuses[i], i-1, names[i-1], statuses[i-1])
		}
	}
	// The row's badge is the one every page shows for the inbox.
	blocked := env.inbox(inboxBlocked)
	if got, _ := doc.Find(`[data-inbox-id="` + itoa(blocked.ID) + `"] [data-testid="overall-status"]`).Attr("data-status"); got != whatsapp.OverallBlocked {
		t.Errorf("blocked inbox's badge: want blocked, got %q", got)
	}

	_, doc, _ = s.getDoc(views.InboxesURL(env.admin.AccountID) + "?sort=name")
	byName, _ := listRows(doc)
	if !slices.IsSortedFunc(byName, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }) || len(byName) != 8 {
		t.Errorf("sort=name: want the 8 names in alphabetical order, got %v", byName)
	}
	if sel, _ := doc.Find(`[data-testid="list-sort"] option[selected]`).Attr("value"); sel != db.FleetSortName {
		t.Errorf("sort=name: want the sort field to keep name selected, got %q", sel)
	}
}

func fleetListColumnsShowQualityLimitCanSendAndLastCheck(t *testing.T, env *healthEnv, s *webClient) {
	_, doc, _ := s.getDoc(views.InboxesURL(env.admin.AccountID))
	for _, th := range []string{"Inbox", "Phone number", "Status", "Quality", "Messaging limit", "Can send", "Last check"} {
		if doc.Find(`thead th:contains("`+th+`")`).Length() != 1 {
			t.Errorf("want a column %q", th)
		}
	}
	row := doc.Find(`[data-inbox-id="` + itoa(env.inbox(inboxBlocked).ID) + `"]`)
	snap := env.latestSnapshotOf(env.inbox(inboxBlocked))
	for cell, want := range map[string]string{"cell-quality": snap.Phone.QualityRating, "cell-limit": snap.Phone.LimitTier(),
		"cell-can-send": snap.Phone.HealthStatus.CanSendMessage} {
		if got, _ := row.Find(`[data-testid="` + cell + `"] .badge`).Attr("data-value"); got != want || want == "" {
			t.Errorf("blocked inbox, %s: want Meta's %q, got %q", cell, want, got)
		}
	}
	datetime, _ := row.Find(`[data-testid="cell-checked"] time`).Attr("datetime")
	if at, err := time.Parse(time.RFC3339, datetime); err != nil || at.Unix() != snap.CheckedAt.Unix() {
		t.Errorf("last check: want <time datetime> of the snapshot (%v), got %q (%v)", snap.CheckedAt, datetime, err)
	}
	token := doc.Find(`[data-inbox-id="` + itoa(env.inbox(inboxTokenGone).ID) + `"]`)
	if got := strings.TrimSpace(token.Find(`[data-testid="cell-quality"]`).Text()); got != "—" {
		t.Errorf("a number Meta never answered for: want — for quality, got %q", got)
	}
	// Never any data: not "stale" (there is nothing older to show) but "check failed".
	if token.Find(`[data-testid="cell-checked"] [data-testid="check-failed"]`).Length() != 1 ||
		token.Find(`[data-testid="cell-checked"] .badge:contains("stale")`).Length() != 0 {
		t.Errorf("a number whose checks all failed: want it marked check failed, not stale, got %q", token.Find(`[data-testid="cell-checked"]`).Text())
	}
}

func fleetListSearchesByNameOrNumber(t *testing.T, env *healthEnv, s *webClient) {
	search := func(q string, extra url.Values) []string {
		v := url.Values{"q": {q}}
		for k, vs := range extra {
			v[k] = vs
		}
		resp, doc, _ := s.getDoc(views.InboxesURL(env.admin.AccountID) + "?" + v.Encode())
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("search %q: want 200, got %d", q, resp.StatusCode)
		}
		names, _ := listRows(doc)
		if got, _ := doc.Find(`[data-testid="list-search"]`).Attr("value"); got != q {
			t.Errorf("search %q: want the search field to keep it, got %q", q, got)
		}
		return names
	}
	for q, want := range map[string][]string{
		"quick":           {inboxBlocked},
		"PADARIA":         {"Padaria Central — Orders", inboxConnected},
		"+1 (206) 555-01": {"Summit Fitness"},
		"0199":            {inboxConnected},
		"%":               nil,
		"nobody":          nil,
	} {
		if got := search(q, nil); !slices.Equal(got, want) {
			t.Errorf("search %q: want %v, got %v", q, want, got)
		}
	}
	if got := search("padaria", url.Values{"status": {filterAttention}}); !slices.Equal(got, []string{"Padaria Central — Orders"}) {
		t.Errorf("search with a status filter: want only the Padaria inbox needing attention, got %v", got)
	}
	_, doc, _ := s.getDoc(views.InboxesURL(env.admin.AccountID) + "?q=nobody")
	if text := doc.Find(`[data-testid="no-inboxes"]`).Text(); !strings.Contains(text, "No inbox matches") {
		t.Errorf("a search matching nothing: want it said, got %q", text)
	}
}

func fleetListPagesKeepTheFilterAndCoverEveryInboxOnce(t *testing.T, env *healthEnv, s *webClient) {
	_, doc, _ := s.getDoc(views.InboxesURL(env.admin.AccountID))
	all, _ := listRows(doc)

	var paged []string
	next := views.InboxesURL(env.admin.AccountID) + "?per_page=3"
	for page := 1; next != ""; page++ {
		if page > 10 {
			t.Fatal("more pages than inboxes")
		}
		_, doc, _ := s.getDoc(next)
		names, _ := listRows(doc)
		paged = append(paged, names...)
		if want := "Page " + itoa(int64(page)) + " of 3"; doc.Find(`[data-testid="page-of"]`).Text() != want {
			t.Errorf("page %d: want %q, got %q", page, want, doc.Find(`[data-testid="page-of"]`).Text())
		}
		if page > 1 && doc.Find(`[data-testid="page-prev"]`).Length() != 1 {
			t.Errorf("page %d: want a link to the previous page", page)
		}
		next, _ = doc.Find(`[data-testid="page-next"]`).Attr("href")
		if next != "" && !strings.Contains(next, "per_page=3") {
			t.Errorf("next link %q must keep per_page", next)
		}
	}
	if !slices.Equal(paged, all) {
		t.Errorf("pages of 3: want every inbox once in the list's order\nwant %v\ngot  %v", all, paged)
	}

	_, doc, _ = s.getDoc(views.InboxesURL(env.admin.AccountID) + "?status=attention&sort=name&per_page=2&page=2")
	names, statuses := listRows(doc)
	if len(names) != 2 || slices.Contains(statuses, whatsapp.OverallConnected) {
		t.Errorf("page 2 of those needing attention: want 2 rows, none connected, got %v %v", names, statuses)
	}
	if got := doc.Find(`[data-testid="list-range"]`).Text(); got != "3–4 of 7 inboxes" {
		t.Errorf("range: want %q, got %q", "3–4 of 7 inboxes", got)
	}
	for _, sel := range []string{"page-next", "page-prev"} {
		href, _ := doc.Find(`[data-testid="` + sel + `"]`).Attr("href")
		if !strings.Contains(href, "status=attention") || !strings.Contains(href, "sort=name") {
			t.Errorf("%s link %q must keep the filter and the order", sel, href)
		}
	}

	_, doc, _ = s.getDoc(views.InboxesURL(env.admin.AccountID) + "?per_page=3&page=99")
	if got := doc.Find(`[data-testid="page-of"]`).Text(); got != "Page 3 of 3" {
		t.Errorf("a page past the end: want the last page, got %q", got)
	}
}

func fleetListFilterIsAFormWithASubmitButton(t *testing.T, env *healthEnv, s *webClient) {
	_, doc, body := s.getDoc(views.InboxesURL(env.admin.AccountID))
	form := doc.Find(`form[data-testid="inbox-filter"]`)
	if method, _ := form.Attr("method"); method != "get" {
		t.Errorf("filter form: want method get, got %q", method)
	}
	if form.Find(`button[type="submit"]`).Length() != 1 {
		t.Errorf("filter form: want a submit button")
	}
	for _, name := range []string{"q", "status", "sort"} {
		field := form.Find(`[name="` + name + `"]`)
		if field.Length() != 1 {
			t.Errorf("filter form: want a field %q", name)
		}
		id, _ := field.Attr("id")
		if id == "" || form.Find(`label[for="`+id+`"]`).Length() != 1 {
			t.Errorf("field %q: want a label tied to it", name)
		}
	}
	// Nothing navigates while a keyboard user moves through the options.
	if strings.Contains(body, "onchange") || strings.Contains(body, "requestSubmit") {
		t.Errorf("the status filter must not submit on change")
	}
}

func fleetListRefusesBadParametersClearlyAndStillLists(t *testing.T, env *healthEnv, s *webClient) {
	resp, doc, _ := s.getDoc(views.InboxesURL(env.admin.AccountID) + "?status=bogus&sort=age&per_page=0&q=" + url.QueryEscape(strings.Repeat("x", 101)))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad parameters: want 400, got %d", resp.StatusCode)
	}
	problems := doc.Find(`[data-testid="list-problems"]`)
	for _, want := range []string{"Unknown status filter", "Sort by severity or name", "from 1 to 200", "at most 100"} {
		if !strings.Contains(problems.Text(), want) {
			t.Errorf("problems: want %q said, got %q", want, problems.Text())
		}
	}
	if role, _ := problems.Attr("role"); role != "alert" {
		t.Errorf("problems: want role=alert, got %q", role)
	}
	status := doc.Find(`[data-testid="list-status"]`)
	if inv, _ := status.Attr("aria-invalid"); inv != "true" {
		t.Errorf("status field: want aria-invalid=true")
	}
	if ref, _ := status.Attr("aria-describedby"); ref == "" || doc.Find("#"+ref).Length() != 1 {
		t.Errorf("status field: want aria-describedby naming its message, got %q", ref)
	}
	if names, _ := listRows(doc); len(names) != 8 {
		t.Errorf("bad parameters: want the list shown with the defaults, got %d rows", len(names))
	}
}

func fleetAgentsSeeOnlyTheirInboxesEverywhere(t *testing.T, env *healthEnv, s *webClient) {
	ctx := context.Background()
	for _, name := range []string{inboxBlocked, inboxConnected} {
		if err := env.store.AddInboxMember(ctx, env.inbox(name).ID, env.agent.UserID); err != nil {
			t.Fatal(err)
		}
	}
	agent := env.login("agent@health.test")
	_, doc, _ := agent.getDoc(views.InboxesURL(env.admin.AccountID))
	names, _ := listRows(doc)
	if !slices.Equal(names, []string{inboxBlocked, inboxConnected}) {
		t.Errorf("agent's list: want their two inboxes, most urgent first, got %v", names)
	}
	if all := doc.Find(`[data-testid="status-count"][data-status=""] .count`).Text(); all != "2" {
		t.Errorf("agent's counts: want 2 inboxes in all, got %q", all)
	}
	if doc.Find(`[data-testid="status-count"][data-status="token_expired"]`).Length() != 0 {
		t.Errorf("agent's counts must not count inboxes they cannot see")
	}
	if _, doc, _ := agent.getDoc(views.InboxesURL(env.admin.AccountID) + "?q=lumen"); doc.Find(`[data-testid="inbox-row"]`).Length() != 0 {
		t.Errorf("agent's search must not find inboxes they cannot see")
	}
	if doc.Find(`[data-testid="add-inbox"]`).Length() != 0 {
		t.Errorf("agents get no Add inbox button")
	}

	_, body := agent.do(http.MethodGet, views.InboxesURL(env.admin.AccountID)+"/export.csv", nil, nil)
	records := readCSV(t, body)
	if len(records) != 3 {
		t.Errorf("agent's export: want a header and their 2 inboxes, got %d lines", len(records))
	}

	rec := env.apiGet(env.agent.APIAccessToken, apiInboxesPath(env.admin.AccountID)+"?per_page=50")
	var got inboxListAnswer
	decodeJSONBody(t, rec.Body.Bytes(), &got)
	if len(got.Payload) != 2 || got.Meta.Total != 2 || got.Meta.Counts.All != 2 {
		t.Errorf("agent's API list: want 2 inboxes, got %d (total %d, all %d)", len(got.Payload), got.Meta.Total, got.Meta.Counts.All)
	}
}

func readCSV(t *testing.T, body string) [][]string {
	t.Helper()
	records, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, body)
	}
	return records
}

func fleetExportIsTheFilteredViewAsSafeCSV(t *testing.T, env *healthEnv, s *webClient) {
	ctx := context.Background()
	// A name a spreadsheet would run as a formula, with CSV's special characters.
	evil, err := env.store.CreateInbox(ctx, db.NewInbox{AccountID: env.admin.AccountID, Name: `=HYPERLINK("http://x.test","Click, me")`,
		PhoneNumber: "+15550100999", PhoneNumberID: "109999999999999", WABAID: "209999999999999", AccessToken: "EAAG-unused"})
	if err != nil {
		t.Fatal(err)
	}
	_, doc, _ := s.getDoc(views.InboxesURL(env.admin.AccountID) + "?status=blocked&sort=name")
	exportURL, _ := doc.Find(`[data-testid="export-csv"]`).Attr("href")
	if !strings.Contains(exportURL, "status=blocked") || !strings.Contains(exportURL, "sort=name") {
		t.Fatalf("export link %q must carry the filter and the order", exportURL)
	}
	resp, body := s.do(http.MethodGet, exportURL, nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: want 200 text/csv, got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".csv") {
		t.Errorf("export: want an attachment with a .csv name, got %q", cd)
	}
	records := readCSV(t, body)
	if !slices.Equal(records[0], exportColumns) {
		t.Errorf("header: want %v, got %v", exportColumns, records[0])
	}
	if len(records) != 3 || records[1][0] != inboxBlocked || records[2][0] != "Summit Fitness" {
		t.Fatalf("export of blocked by name: want Quick Loans Desk, Summit Fitness, got %v", records[1:])
	}
	blocked := records[1]
	snap := env.latestSnapshotOf(env.inbox(inboxBlocked))
	want := []string{inboxBlocked, "'" + env.inbox(inboxBlocked).PhoneNumber, whatsapp.OverallBlocked, "Blocked",
		snap.Phone.QualityRating, snap.Phone.LimitTier(), snap.Phone.HealthStatus.CanSendMessage,
		snap.CheckedAt.UTC().Format(time.RFC3339), "false",
		"http://health.test" + views.InboxHealthURL(env.admin.AccountID, env.inbox(inboxBlocked).ID)}
	if !slices.Equal(blocked, want) {
		t.Errorf("blocked inbox's line:\nwant %q\ngot  %q", want, blocked)
	}

	_, body = s.do(http.MethodGet, views.InboxesURL(env.admin.AccountID)+"/export.csv?q=hyperlink", nil, nil)
	records = readCSV(t, body)
	if len(records) != 2 {
		t.Fatalf("export of a search: want the one inbox, got %v", records)
	}
	if got := records[1][0]; got != "'"+evil.Name {
		t.Errorf("a name starting with =: want it defused with a leading apostrophe, got %q", got)
	}
	if got := records[1][2]; got != whatsapp.OverallUnknown {
		t.Errorf("a never-checked inbox: want status unknown, got %q", got)
	}
	if got := records[1][7]; got != "" {
		t.Errorf("a never-checked inbox: want no check time, got %q", got)
	}

	_, body = s.do(http.MethodGet, views.InboxesURL(env.admin.AccountID)+"/export.csv", nil, nil)
	if records := readCSV(t, body); len(records) != 10 {
		t.Errorf("export of everything: want a header and 9 inboxes, got %d lines", len(records))
	}
	resp, body = s.do(http.MethodGet, views.InboxesURL(env.admin.AccountID)+"/export.csv?status=bogus", nil, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Unknown status filter") {
		t.Errorf("export with a bad filter: want 400 saying why, got %d %q", resp.StatusCode, body)
	}
	other := env.login("admin@elsewhere.test")
	_, body = other.do(http.MethodGet, views.InboxesURL(env.other.AccountID)+"/export.csv", nil, nil)
	if records := readCSV(t, body); len(records) != 1 {
		t.Errorf("another account's export: want only the header, got %v", records)
	}
}

func TestSafeCSVRecordDefusesFormulas(t *testing.T) {
	got := safeCSVRecord([]string{"=1+1", "+123", "-2", "@SUM(A1)", "\tx", "\rx", "plain", "", "a=b"})
	want := []string{"'=1+1", "'+123", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "plain", "", "a=b"}
	if !slices.Equal(got, want) {
		t.Errorf("want %q, got %q", want, got)
	}
}

type inboxListAnswer struct {
	Payload []struct {
		ID            int64  `json:"id"`
		AccountID     int64  `json:"account_id"`
		Name          string `json:"name"`
		PhoneNumber   string `json:"phone_number"`
		PhoneNumberID string `json:"phone_number_id"`
		WABAID        string `json:"waba_id"`
		WebhookURL    string `json:"webhook_url"`
		CreatedAt     string `json:"created_at"`
		Health        struct {
			OverallStatus  string  `json:"overall_status"`
			Severity       int     `json:"severity"`
			QualityRating  *string `json:"quality_rating"`
			CanSendMessage *string `json:"can_send_message"`
			CheckedAt      *string `json:"checked_at"`
			Stale          bool    `json:"stale"`
		} `json:"health"`
	} `json:"payload"`
	Meta struct {
		Status     string `json:"status"`
		Q          string `json:"q"`
		Sort       string `json:"sort"`
		Page       int    `json:"page"`
		PerPage    int    `json:"per_page"`
		Total      int    `json:"total"`
		TotalPages int    `json:"total_pages"`
		Counts     struct {
			All       int            `json:"all"`
			Attention int            `json:"attention"`
			ByStatus  map[string]int `json:"by_status"`
		} `json:"counts"`
	} `json:"meta"`
}

func apiInboxesPath(accountID int64) string {
	return "/api/v1/accounts/" + itoa(accountID) + "/inboxes"
}

func decodeJSONBody(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("not the expected JSON (%v): %s", err, body)
	}
}

func fleetAPIFiltersSearchesSortsAndPages(t *testing.T, env *healthEnv, s *webClient) {
	get := func(query string) (int, inboxListAnswer, string) {
		rec := env.apiGet(env.admin.APIAccessToken, apiInboxesPath(env.admin.AccountID)+query)
		var out inboxListAnswer
		if rec.Code == http.StatusOK {
			decodeJSONBody(t, rec.Body.Bytes(), &out)
		}
		return rec.Code, out, rec.Body.String()
	}

	// Without parameters: every inbox, with the fields the API always had.
	code, all, raw := get("")
	if code != http.StatusOK || len(all.Payload) != 8 || all.Meta.Total != 8 || all.Meta.TotalPages != 1 {
		t.Fatalf("no parameters: want all 8 inboxes on one page, got %d: %s", code, raw)
	}
	for _, p := range all.Payload {
		if p.ID == 0 || p.AccountID != env.admin.AccountID || p.Name == "" || p.PhoneNumberID == "" || p.WABAID == "" || p.WebhookURL == "" || p.CreatedAt == "" {
			t.Errorf("inbox %+v: want every field of the inbox as before", p)
		}
	}
	if strings.Contains(raw, "access_token") || strings.Contains(raw, "EAAsim") {
		t.Errorf("the list must never carry a token: %s", raw)
	}
	if first := all.Payload[0].Health; first.OverallStatus != whatsapp.OverallTokenExpired || first.Severity != 1 {
		t.Errorf("default order: want the token problem first, got %+v", first)
	}
	if all.Meta.Counts.All != 8 || all.Meta.Counts.Attention != 7 || all.Meta.Counts.ByStatus[whatsapp.OverallBlocked] != 2 {
		t.Errorf("counts: want 8 in all, 7 needing attention, 2 blocked, got %+v", all.Meta.Counts)
	}
	for _, p := range all.Payload {
		if p.Name == inboxBlocked && (p.Health.QualityRating == nil || *p.Health.QualityRating != "RED" ||
			p.Health.CanSendMessage == nil || *p.Health.CanSendMessage != "BLOCKED" || p.Health.CheckedAt == nil || p.Health.Stale) {
			t.Errorf("blocked inbox's health: want RED, BLOCKED, a check time and not stale, got %+v", p.Health)
		}
	}

	_, blocked, _ := get("?status=blocked&sort=name")
	if len(blocked.Payload) != 2 || blocked.Payload[0].Name != inboxBlocked || blocked.Meta.Status != "blocked" || blocked.Meta.Sort != "name" {
		t.Errorf("status=blocked&sort=name: want Quick Loans Desk then Summit Fitness, got %+v", blocked)
	}
	_, found, _ := get("?q=" + url.QueryEscape("+1 212 555"))
	if len(found.Payload) != 2 || found.Meta.Total != 2 || found.Meta.Q != "+1 212 555" {
		t.Errorf("q=+1 212 555: want the two Padaria numbers, got %+v", found)
	}

	var paged []string
	for page := 1; page <= 3; page++ {
		_, ans, raw := get("?per_page=3&page=" + itoa(int64(page)))
		if ans.Meta.Page != page || ans.Meta.PerPage != 3 || ans.Meta.Total != 8 || ans.Meta.TotalPages != 3 {
			t.Errorf("page %d: want page %d of 3 with 8 in total, got %s", page, page, raw)
		}
		for _, p := range ans.Payload {
			paged = append(paged, p.Name)
		}
	}
	var allNames []string
	for _, p := range all.Payload {
		allNames = append(allNames, p.Name)
	}
	if !slices.Equal(paged, allNames) {
		t.Errorf("pages: want every inbox once in the same order\nwant %v\ngot  %v", allNames, paged)
	}
	if _, past, _ := get("?page=9&per_page=3"); len(past.Payload) != 0 || past.Meta.Total != 8 {
		t.Errorf("a page past the end: want an empty payload with the total, got %+v", past)
	}

	for _, bad := range []string{"?status=nope", "?sort=age", "?page=0", "?page=x", "?per_page=201", "?q=" + strings.Repeat("y", 101)} {
		code, _, raw := get(bad)
		var e struct {
			Error struct {
				Type   string            `json:"type"`
				Fields map[string]string `json:"fields"`
			} `json:"error"`
		}
		json.Unmarshal([]byte(raw), &e)
		if code != http.StatusUnprocessableEntity || e.Error.Type != "invalid" || len(e.Error.Fields) != 1 {
			t.Errorf("%s: want 422 naming the parameter, got %d %s", bad, code, raw)
		}
	}
	if rec := env.apiGet(env.other.APIAccessToken, apiInboxesPath(env.admin.AccountID)); rec.Code != http.StatusNotFound && rec.Code != http.StatusForbidden {
		t.Errorf("another account's list: want it refused, got %d", rec.Code)
	}
	rec := env.apiGet(env.other.APIAccessToken, apiInboxesPath(env.other.AccountID))
	var own inboxListAnswer
	decodeJSONBody(t, rec.Body.Bytes(), &own)
	if len(own.Payload) != 0 || own.Meta.Counts.All != 0 {
		t.Errorf("an account without inboxes: want an empty list, got %+v", own)
	}
}
