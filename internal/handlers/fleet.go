package handlers

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// The fleet: an account's inboxes as the list page, its CSV export and the list API
// show them — counted per overall status, filtered, searched, sorted by severity
// (whatsapp.OverallStatus.Severity) and paged, all in SQL (db.FleetPage). Every one of
// them asks the same fleetQuery and reads the same rows, so the page, the file and the
// API never disagree about which inboxes a filter selects.

// Status filter values besides the overall status codes.
const (
	filterAll       = ""
	filterAttention = "attention"
)

// Paging of the fleet list.
const (
	defaultPerPage = 50
	maxPerPage     = 200
	maxSearchRunes = 100
)

// fleetQuery is what the list, the export and the API are asked for.
type fleetQuery struct {
	Status  string // filterAll, filterAttention or an overall status code
	Search  string
	Sort    string // db.FleetSortSeverity or db.FleetSortName
	Page    int
	PerPage int
	// Paged is set when page or per_page was given; the API then answers one page, and
	// otherwise every matching inbox, as it always did.
	Paged bool
}

// parseFleetQuery reads ?status=&q=&sort=&page=&per_page=. A bad value is named in
// problems (by parameter) and replaced by its default, so the page can still show the
// list next to the message.
func parseFleetQuery(c echo.Context) (fleetQuery, map[string]string) {
	q := fleetQuery{Sort: db.FleetSortSeverity, Page: 1, PerPage: defaultPerPage}
	problems := map[string]string{}
	q.Status = strings.TrimSpace(c.QueryParam("status"))
	if !validStatusFilter(q.Status) {
		problems["status"] = "Unknown status filter; use attention or one of: " + strings.Join(statusCodes(), ", ") + "."
		q.Status = filterAll
	}
	q.Search = strings.TrimSpace(c.QueryParam("q"))
	if utf8.RuneCountInString(q.Search) > maxSearchRunes {
		problems["q"] = fmt.Sprintf("Search for at most %d characters.", maxSearchRunes)
		q.Search = ""
	}
	switch sort := c.QueryParam("sort"); sort {
	case "", db.FleetSortSeverity:
	case db.FleetSortName:
		q.Sort = sort
	default:
		problems["sort"] = "Sort by severity or name."
	}
	if v := c.QueryParam("page"); v != "" {
		q.Paged = true
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			problems["page"] = "The page is a whole number from 1."
		} else {
			q.Page = n
		}
	}
	if v := c.QueryParam("per_page"); v != "" {
		q.Paged = true
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPerPage {
			problems["per_page"] = fmt.Sprintf("Show from 1 to %d inboxes a page.", maxPerPage)
		} else {
			q.PerPage = n
		}
	}
	return q, problems
}

func validStatusFilter(s string) bool {
	if s == filterAll || s == filterAttention {
		return true
	}
	for _, st := range whatsapp.AllStatusCodes() {
		if st.Code == s {
			return true
		}
	}
	return false
}

func statusCodes() []string {
	var codes []string
	for _, st := range whatsapp.StatusesBySeverity() {
		codes = append(codes, st.Code)
	}
	return codes
}

// values is the query as URL parameters, without its defaults; page only when asked.
func (q fleetQuery) values(page int) url.Values {
	v := url.Values{}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Search != "" {
		v.Set("q", q.Search)
	}
	if q.Sort != db.FleetSortSeverity {
		v.Set("sort", q.Sort)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if q.PerPage != defaultPerPage {
		v.Set("per_page", strconv.Itoa(q.PerPage))
	}
	return v
}

// fleetFilter is the store's filter for the query, as the current member may see it.
func fleetFilter(c echo.Context, q fleetQuery) db.FleetFilter {
	f := db.FleetFilter{AccountID: currentMembership(c).AccountID, Search: q.Search, Sort: q.Sort, MemberUserID: memberFilter(c)}
	switch q.Status {
	case filterAll:
	case filterAttention:
		for _, st := range whatsapp.AllStatusCodes() {
			if !whatsapp.NeedsAttention(st) {
				f.ExceptStatuses = append(f.ExceptStatuses, st.Code)
			}
		}
	default:
		f.Statuses = []string{q.Status}
	}
	return f
}

// memberFilter is the user whose memberships limit the list: agents see the inboxes
// they are members of, administrators every inbox of the account (0).
func memberFilter(c echo.Context) int64 {
	if currentMembership(c).IsAdministrator() {
		return 0
	}
	u, _ := currentUser(c)
	return u.ID
}

// fleetCounts are the inboxes the member may see, per overall status.
type fleetCounts struct {
	All, Attention int
	ByStatus       map[string]int
}

// fleetInbox is one inbox of a page with its newest health (nil: never checked) and
// the overall status that health gives, decided where every page decides it.
type fleetInbox struct {
	db.FleetRow
	AccountID int64
	Snapshot  *db.HealthSnapshot
	Overall   whatsapp.OverallStatus
}

// badges are the list's columns: quality, messaging limit and can-send, as the Account
// Health tab's badges show them (empty when the number never answered).
func (f fleetInbox) badges() (quality, limit, canSend whatsapp.Badge, ok bool) {
	if f.Snapshot == nil || f.Snapshot.Phone == nil {
		return quality, limit, canSend, false
	}
	for _, b := range whatsapp.HealthBadges(*f.Snapshot.Phone) {
		switch b.Field {
		case "quality_rating":
			quality = b
		case "messaging_limit_tier":
			limit = b
		case "can_send_message":
			canSend = b
		}
	}
	return quality, limit, canSend, true
}

// values are the list's columns as Meta sent them, the health API's fields of the same
// names ("" when Meta did not report one, or never answered).
func (f fleetInbox) values() (quality, limit, canSend string) {
	if f.Snapshot == nil || f.Snapshot.Phone == nil {
		return "", "", ""
	}
	p := f.Snapshot.Phone
	if p.HealthStatus != nil {
		canSend = p.HealthStatus.CanSendMessage
	}
	return p.QualityRating, p.LimitTier(), canSend
}

// fleetPage is one page of the fleet.
type fleetPage struct {
	Query   fleetQuery
	Counts  fleetCounts
	Total   int // inboxes the filter selects
	Page    int // the page shown (the last one when a later page was asked for)
	Pages   int
	Inboxes []fleetInbox
}

// loadFleetPage reads the counts and one page of the filtered fleet. With clamp, a page
// past the end shows the last page (the list page); without, it is empty (the API).
func (h *Handler) loadFleetPage(c echo.Context, q fleetQuery, clamp bool) (fleetPage, error) {
	ctx := c.Request().Context()
	m := currentMembership(c)
	counts, err := h.store.FleetCounts(ctx, m.AccountID, memberFilter(c))
	if err != nil {
		return fleetPage{}, err
	}
	p := fleetPage{Query: q, Counts: fleetCounts{ByStatus: counts}}
	for code, n := range counts {
		p.Counts.All += n
		if whatsapp.NeedsAttention(whatsapp.StatusByCode(code)) {
			p.Counts.Attention += n
		}
	}
	switch {
	case q.Search != "":
		if p.Total, err = h.store.FleetCount(ctx, fleetFilter(c, q)); err != nil {
			return fleetPage{}, err
		}
	case q.Status == filterAll:
		p.Total = p.Counts.All
	case q.Status == filterAttention:
		p.Total = p.Counts.Attention
	default:
		p.Total = counts[q.Status]
	}
	perPage := q.PerPage
	if !q.Paged && !clamp {
		perPage = max(p.Total, 1) // the API without paging: every inbox, as before
	}
	p.Pages = max(1, (p.Total+perPage-1)/perPage)
	p.Page = q.Page
	if clamp && p.Page > p.Pages {
		p.Page = p.Pages
	}
	p.Query.PerPage = perPage
	rows, err := h.store.FleetPage(ctx, fleetFilter(c, q), (p.Page-1)*perPage, perPage)
	if err != nil {
		return fleetPage{}, err
	}
	if p.Inboxes, err = h.withHealth(c, rows, true); err != nil {
		return fleetPage{}, err
	}
	return p, nil
}

// withHealth adds each row's newest snapshot and overall status.
func (h *Handler) withHealth(c echo.Context, rows []db.FleetRow, keep bool) ([]fleetInbox, error) {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	snaps, err := h.store.LatestSnapshotsOf(c.Request().Context(), ids, keep)
	if err != nil {
		return nil, err
	}
	accountID := currentMembership(c).AccountID
	out := make([]fleetInbox, len(rows))
	for i, r := range rows {
		out[i] = fleetInbox{FleetRow: r, AccountID: accountID}
		if snap, ok := snaps[r.ID]; ok {
			out[i].Snapshot = &snap
		}
		out[i].Overall = health.OverallOf(out[i].Snapshot)
	}
	return out, nil
}
