package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// listInboxes is the administrator's dashboard (and an agent's list of their inboxes):
// counts per overall status, each a link that filters; search, status filter and sort
// in one form with a submit button (no script needed); one page of rows. A parameter
// that is not understood is said above the form and reset, and the list still shows.
func (h *Handler) listInboxes(c echo.Context) error {
	q, problems := parseFleetQuery(c)
	fp, err := h.loadFleetPage(c, q, true)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if len(problems) > 0 {
		status = http.StatusBadRequest
	}
	return h.render(c, status, views.InboxList(fleetListView(currentMembership(c).AccountID, fp, problems)))
}

// fleetListView is the list page's view of a fleet page.
func fleetListView(accountID int64, fp fleetPage, problems map[string]string) views.InboxListPage {
	q := fp.Query
	listURL := func(v url.Values) string {
		if len(v) == 0 {
			return views.InboxesURL(accountID)
		}
		return views.InboxesURL(accountID) + "?" + v.Encode()
	}
	p := views.InboxListPage{AccountID: accountID, Search: q.Search, Problems: problems, All: fp.Counts.All,
		Total: fp.Total, Page: fp.Page, Pages: fp.Pages}
	if q.PerPage != defaultPerPage {
		p.PerPage = q.PerPage
	}

	// Counts: every inbox, those needing attention, then each status present, the most
	// urgent first. A count links to its status with the current order, and no search,
	// so the list it opens holds exactly the inboxes counted.
	countURL := func(status string) string {
		return listURL(fleetQuery{Status: status, Sort: q.Sort, PerPage: q.PerPage}.values(1))
	}
	p.Counts = append(p.Counts,
		views.StatusCount{Value: filterAll, Label: "All inboxes", Count: fp.Counts.All, URL: countURL(filterAll), Current: q.Status == filterAll && q.Search == ""},
		views.StatusCount{Value: filterAttention, Label: "Needing attention", Count: fp.Counts.Attention, URL: countURL(filterAttention), Current: q.Status == filterAttention && q.Search == ""})
	for _, st := range whatsapp.StatusesBySeverity() {
		if n := fp.Counts.ByStatus[st.Code]; n > 0 {
			p.Counts = append(p.Counts, views.StatusCount{Value: st.Code, Label: st.Label, Tone: string(st.Tone), Count: n,
				URL: countURL(st.Code), Current: q.Status == st.Code && q.Search == ""})
		}
	}

	p.Filters = []views.StatusFilter{{Value: filterAll, Label: "All inboxes"}, {Value: filterAttention, Label: "Needing attention"}}
	for _, st := range whatsapp.StatusesBySeverity() {
		p.Filters = append(p.Filters, views.StatusFilter{Value: st.Code, Label: "Only: " + st.Label})
	}
	for i := range p.Filters {
		p.Filters[i].Selected = p.Filters[i].Value == q.Status
	}
	p.Sorts = []views.SortOption{
		{Value: db.FleetSortSeverity, Label: "Most urgent first", Selected: q.Sort == db.FleetSortSeverity},
		{Value: db.FleetSortName, Label: "Name", Selected: q.Sort == db.FleetSortName},
	}

	for _, in := range fp.Inboxes {
		row := views.InboxRow{ID: in.ID, AccountID: accountID, Name: in.Name, PhoneNumber: in.PhoneNumber, Status: statusBadge(in.Overall)}
		if quality, limit, canSend, ok := in.badges(); ok {
			row.HasData, row.Quality, row.Limit, row.CanSend = true, viewBadge(quality), viewBadge(limit), viewBadge(canSend)
		}
		if in.Snapshot != nil {
			row.CheckedAt, row.Stale = in.Snapshot.CheckedAt, !in.Snapshot.OK
		}
		p.Rows = append(p.Rows, row)
	}
	if len(p.Rows) > 0 {
		p.From = (fp.Page-1)*q.PerPage + 1
		p.To = p.From + len(p.Rows) - 1
	}
	if fp.Page > 1 {
		p.FirstURL, p.PrevURL = listURL(q.values(1)), listURL(q.values(fp.Page-1))
	}
	if fp.Page < fp.Pages {
		p.NextURL, p.LastURL = listURL(q.values(fp.Page+1)), listURL(q.values(fp.Pages))
	}
	p.LiveURL = listURL(q.values(fp.Page))
	export := q.values(1)
	export.Del("per_page")
	p.ExportURL = views.InboxesURL(accountID) + "/export.csv"
	if len(export) > 0 {
		p.ExportURL += "?" + export.Encode()
	}
	return p
}

func statusBadge(s whatsapp.OverallStatus) views.StatusBadge {
	return views.StatusBadge{Code: s.Code, Label: s.Label, Tone: string(s.Tone), Summary: s.Summary}
}

func (h *Handler) newInboxForm(c echo.Context) error {
	return h.render(c, http.StatusOK, views.NewInboxPage(currentMembership(c).AccountID, views.InboxForm{}))
}

// createInbox takes the add-inbox form: the fields are checked as the API checks them,
// then with Meta (AddInbox); each problem shows next to its field, and nothing is stored
// until Meta accepted the connection or could not be reached.
func (h *Handler) createInbox(c echo.Context) error {
	if h.registrar == nil {
		return errRegistrationUnavailable
	}
	m := currentMembership(c)
	var input inboxInput
	if err := c.Bind(&input); err != nil {
		return h.render(c, http.StatusBadRequest, views.NewInboxPage(m.AccountID, views.InboxForm{FormError: "The form could not be read. Please try again."}))
	}
	form := func(errs map[string]string, formErr string) views.InboxForm {
		return views.InboxForm{Name: input.Name, PhoneNumber: input.PhoneNumber, PhoneNumberID: input.PhoneNumberID,
			WABAID: input.WABAID, BusinessID: input.BusinessID, Errors: errs, FormError: formErr}
	}
	if errs := input.validate(); len(errs) > 0 {
		return h.render(c, http.StatusUnprocessableEntity, views.NewInboxPage(m.AccountID, form(errs, "Please fix the fields marked below.")))
	}
	in, err := h.registrar.AddInbox(c.Request().Context(), m.AccountID, input.fields(), currentActor(c))
	var refused *health.InboxRefusedError
	if errors.As(err, &refused) {
		return h.render(c, http.StatusUnprocessableEntity, views.NewInboxPage(m.AccountID,
			form(refused.Fields, "Meta did not accept this inbox: fix the fields marked below. Nothing was saved.")))
	}
	var conflict *db.ConflictError
	if errors.As(err, &conflict) {
		errs := map[string]string{conflict.Field: "This is already connected to an inbox."}
		return h.render(c, http.StatusConflict, views.NewInboxPage(m.AccountID, form(errs, "Please fix the fields marked below.")))
	}
	if err != nil {
		return err
	}
	h.setFlash(c, addedFlash(in), false)
	return redirectAfterPost(c, views.InboxHealthURL(in.AccountID, in.ID))
}

// addedFlash confirms a new inbox, saying whether Meta checked it.
func addedFlash(in db.Inbox) string {
	if in.MetaCheck == db.MetaCheckPassed {
		return "Inbox " + in.Name + " added: Meta confirmed the number and the access token. Setting it up now."
	}
	return "Inbox " + in.Name + " added, not checked yet: " + health.DescribeMetaCheck(in).Note
}

// loadInbox resolves :id within the current account, honouring agent membership.
// An inbox the user may not see is 404, never 403.
func (h *Handler) loadInbox(c echo.Context) (db.Inbox, error) {
	u, _ := currentUser(c)
	m := currentMembership(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return db.Inbox{}, notFound(c, "inbox")
	}
	in, err := h.store.Inbox(c.Request().Context(), m.AccountID, id)
	if errors.Is(err, db.ErrNotFound) {
		return db.Inbox{}, notFound(c, "inbox")
	}
	if err != nil {
		return db.Inbox{}, err
	}
	ok, err := h.store.CanSeeInbox(c.Request().Context(), m, u.ID, in)
	if err != nil {
		return db.Inbox{}, err
	}
	if !ok {
		return db.Inbox{}, notFound(c, "inbox")
	}
	return in, nil
}

func (h *Handler) inboxHeader(in db.Inbox, snap *db.HealthSnapshot) views.InboxHeader {
	return views.InboxHeader{ID: in.ID, AccountID: in.AccountID, Name: in.Name, PhoneNumber: in.PhoneNumber,
		Status: statusBadge(health.OverallOf(snap)), MetaCheck: metaCheckView(in)}
}

func metaCheckView(in db.Inbox) views.MetaCheckView {
	d := health.DescribeMetaCheck(in)
	return views.MetaCheckView{Status: in.MetaCheck, Label: d.Label, Tone: string(d.Tone), Note: d.Note}
}

func (h *Handler) showInbox(c echo.Context) error {
	in, err := h.loadInbox(c)
	if err != nil {
		return err
	}
	return h.showInboxWith(c, in, http.StatusOK, settingsForms{})
}

// settingsForms is what the Settings tab's forms show after a refused post: the
// problem next to the reconnect form's token field, or the edit form as it was sent
// with its problems. Zero shows them fresh.
type settingsForms struct {
	ReconnectError string
	Edit           *views.InboxForm
}

// showInboxWith renders the Settings tab.
func (h *Handler) showInboxWith(c echo.Context, in db.Inbox, status int, forms settingsForms) error {
	snap, err := h.latestSnapshot(c, in.ID)
	if err != nil {
		return err
	}
	changes, err := h.store.InboxChanges(c.Request().Context(), in.ID, db.InboxChangeLogLength)
	if err != nil {
		return err
	}
	admin := currentMembership(c).IsAdministrator()
	settings := views.InboxSettings{
		PhoneNumberID: in.PhoneNumberID, WABAID: in.WABAID, BusinessID: in.BusinessID,
		WebhookURL:               health.AppWebhookURL(h.cfg.FrontendURL),
		WebhookSubscriptionError: in.WebhookSubscriptionError,
		PINText:                  health.DescribePINState(in.PINState),
		CreatedAt:                views.FormatTime(in.CreatedAt),
		ManagerURL:               whatsapp.ManagerPhoneNumbersURL(in.BusinessID, in.WABAID),
		CanReconnect:             admin && h.registrar != nil,
		ReconnectURL:             views.ReconnectURL(in.AccountID, in.ID),
		ReconnectError:           forms.ReconnectError,
		Name:                     in.Name,
		RemoveURL:                views.InboxURL(in.AccountID, in.ID) + "/remove",
		MetaCheck:                metaCheckView(in),
		CanEdit:                  admin && h.registrar != nil,
		EditURL:                  views.EditURL(in.AccountID, in.ID),
		Changes:                  changeRows(changes, h.now()),
	}
	if forms.Edit != nil {
		settings.Edit = *forms.Edit
	} else {
		settings.Edit = views.InboxForm{Name: in.Name, PhoneNumber: in.PhoneNumber, PhoneNumberID: in.PhoneNumberID,
			WABAID: in.WABAID, BusinessID: in.BusinessID}
	}
	if in.WebhookSubscribedAt != nil {
		settings.WebhookSubscribed = views.FormatTime(*in.WebhookSubscribedAt)
	}
	if route, ok := h.webhookRoute(c, in, snap); ok {
		settings.Webhooks = h.webhookRoutingView(route, admin)
	}
	banner := h.bannerOf(c, in, h.adviceFor(c, in, snap, nil), views.BannerOnSettings)
	return h.render(c, status, views.InboxPage(h.inboxHeader(in, snap), views.TabSettings, banner, views.SettingsTab(settings)))
}

// latestSnapshot returns nil when the inbox was never checked.
func (h *Handler) latestSnapshot(c echo.Context, inboxID int64) (*db.HealthSnapshot, error) {
	snap, err := h.store.LatestSnapshot(c.Request().Context(), inboxID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &snap, nil
}

func changeRows(changes []db.InboxChange, now time.Time) []views.ChangeRow {
	rows := make([]views.ChangeRow, 0, len(changes))
	for _, c := range changes {
		action, details := health.DescribeChange(c)
		rows = append(rows, views.ChangeRow{Ago: views.Ago(now, c.ChangedAt), Exact: views.FormatTime(c.ChangedAt), ISO: c.ChangedAt.UTC().Format(time.RFC3339),
			Who: c.Actor.Name, Action: action, Details: details})
	}
	return rows
}
