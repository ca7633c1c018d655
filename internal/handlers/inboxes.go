package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// Status filter values of the inbox list.
const (
	filterAll       = ""
	filterAttention = "attention"
)

func (h *Handler) listInboxes(c echo.Context) error {
	ctx := c.Request().Context()
	u, _ := currentUser(c)
	m := currentMembership(c)
	inboxes, err := h.store.InboxesVisibleTo(ctx, m.AccountID, m, u.ID)
	if err != nil {
		return err
	}
	snaps, err := h.store.LatestSnapshots(ctx, m.AccountID)
	if err != nil {
		return err
	}
	filter := c.QueryParam("status")
	page := views.InboxListPage{AccountID: m.AccountID, Total: len(inboxes)}
	now := h.now()
	for _, in := range inboxes {
		var snap *db.HealthSnapshot
		if s, ok := snaps[in.ID]; ok {
			snap = &s
		}
		status := health.OverallOf(snap)
		if !matchesFilter(filter, status) {
			continue
		}
		row := views.InboxRow{ID: in.ID, AccountID: in.AccountID, Name: in.Name, PhoneNumber: in.PhoneNumber,
			Status: statusBadge(status), CheckedAt: "never"}
		if snap != nil {
			row.CheckedAt = views.Ago(now, snap.CheckedAt)
			row.Stale = !snap.OK
		}
		page.Rows = append(page.Rows, row)
	}
	page.Filters = statusFilters(filter)
	return h.render(c, http.StatusOK, views.InboxList(page))
}

func matchesFilter(filter string, s whatsapp.OverallStatus) bool {
	switch filter {
	case filterAll:
		return true
	case filterAttention:
		return whatsapp.NeedsAttention(s)
	default:
		return s.Code == filter
	}
}

func statusFilters(selected string) []views.StatusFilter {
	filters := []views.StatusFilter{
		{Value: filterAll, Label: "All inboxes"},
		{Value: filterAttention, Label: "Needing attention"},
	}
	for _, s := range whatsapp.AllStatusCodes() {
		filters = append(filters, views.StatusFilter{Value: s.Code, Label: "Only: " + s.Label})
	}
	for i := range filters {
		filters[i].Selected = filters[i].Value == selected
	}
	return filters
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
		rows = append(rows, views.ChangeRow{Ago: views.Ago(now, c.ChangedAt), Exact: views.FormatTime(c.ChangedAt),
			Who: c.Actor.Name, Action: action, Details: details})
	}
	return rows
}
