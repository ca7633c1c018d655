package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
)

// The People page: administrators list, add, change and remove their account's members.

func (h *Handler) listPeople(c echo.Context) error {
	ctx := c.Request().Context()
	m := currentMembership(c)
	members, err := h.store.Members(ctx, m.AccountID)
	if err != nil {
		return err
	}
	names, err := h.inboxNames(c)
	if err != nil {
		return err
	}
	page := views.PeoplePage{AccountID: m.AccountID}
	me := currentUserIDValue(c)
	for _, p := range members {
		row := views.PersonRow{UserID: p.UserID, Email: p.Email, Role: p.Role, LastSignIn: h.lastSignIn(p),
			PasswordState: h.passwordState(p), IsYou: p.UserID == me}
		for _, id := range p.InboxIDs {
			row.Inboxes = append(row.Inboxes, names[id])
		}
		page.Rows = append(page.Rows, row)
	}
	return h.render(c, http.StatusOK, views.People(page))
}

func (h *Handler) lastSignIn(m db.Member) string {
	if m.LastSignInAt.IsZero() {
		return "never"
	}
	return views.Ago(h.now(), m.LastSignInAt)
}

// passwordState says what waits while a person has not chosen a password ("" once
// they have).
func (h *Handler) passwordState(m db.Member) string {
	switch {
	case !m.HasOneTimePassword():
		return ""
	case h.now().Before(m.OneTimePasswordExpiresAt):
		return "one-time password until " + views.FormatTime(m.OneTimePasswordExpiresAt)
	default:
		return "one-time password expired"
	}
}

// inboxNames maps the account's inbox ids to their names.
func (h *Handler) inboxNames(c echo.Context) (map[int64]string, error) {
	inboxes, err := h.accountInboxes(c)
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(inboxes))
	for _, in := range inboxes {
		names[in.ID] = in.Name
	}
	return names, nil
}

func (h *Handler) accountInboxes(c echo.Context) ([]db.Inbox, error) {
	m := currentMembership(c)
	u, _ := currentUser(c)
	return h.store.InboxesVisibleTo(c.Request().Context(), m.AccountID, m, u.ID) // an administrator's: all
}

// inboxChoices are the account's inboxes as checkboxes, ticked where selected.
func (h *Handler) inboxChoices(c echo.Context, selected []int64) ([]views.InboxChoice, error) {
	inboxes, err := h.accountInboxes(c)
	if err != nil {
		return nil, err
	}
	out := make([]views.InboxChoice, 0, len(inboxes))
	for _, in := range inboxes {
		out = append(out, views.InboxChoice{ID: in.ID, Name: in.Name, Checked: containsID(selected, in.ID)})
	}
	return out, nil
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// formInboxIDs reads the ticked inbox checkboxes. The form offers inboxes to agents
// only, so an administrator's ticks are not applied (the hint beside them says so).
func formInboxIDs(c echo.Context, role string) ([]int64, string) {
	if role == db.RoleAdministrator {
		return nil, ""
	}
	form, err := c.FormParams()
	if err != nil {
		return nil, "The form could not be read. Please try again."
	}
	var ids []int64
	for _, v := range form["inbox_ids"] {
		id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, "Tick inboxes from the list."
		}
		ids = append(ids, id)
	}
	return ids, ""
}

func (h *Handler) newPersonForm(c echo.Context) error {
	choices, err := h.inboxChoices(c, nil)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.NewPerson(currentMembership(c).AccountID, views.PersonForm{Role: db.RoleAgent, Inboxes: choices}))
}

func (h *Handler) addPerson(c echo.Context) error {
	accountID := currentMembership(c).AccountID
	input := memberInput{Email: c.FormValue("email"), Role: c.FormValue("role")}
	ids, idsProblem := formInboxIDs(c, strings.TrimSpace(input.Role))
	input.InboxIDs = ids
	errs := input.validate()
	if idsProblem != "" {
		errs["inbox_ids"] = idsProblem
	}
	rerender := func(status int, errs map[string]string, formErr string) error {
		choices, err := h.inboxChoices(c, ids)
		if err != nil {
			return err
		}
		return h.render(c, status, views.NewPerson(accountID, views.PersonForm{Email: input.Email, Role: input.Role,
			Inboxes: choices, Errors: errs, FormError: formErr}))
	}
	if len(errs) > 0 {
		return rerender(http.StatusUnprocessableEntity, errs, "Please fix the fields marked below.")
	}
	added, err := h.addMember(c, input)
	if status, field, message, ok := memberProblem(err); ok {
		return rerender(status, map[string]string{field: message}, message)
	}
	if err != nil {
		return err
	}
	page := views.PersonAdded{AccountID: accountID, Email: added.Email, Role: added.Role}
	if added.OneTimePassword != "" {
		page.OneTimePassword = added.OneTimePassword
		page.ExpiresAt = views.FormatTime(added.OneTimePasswordExpiresAt)
	}
	// Shown once: no redirect through a flash (it would sit in the cookie), and no copy
	// kept by the browser's cache or history.
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return h.render(c, http.StatusCreated, views.PersonAddedPage(page))
}

// loadPerson resolves :user_id to a member of the current account; anyone else is 404.
func (h *Handler) loadPerson(c echo.Context) (db.Member, error) {
	userID, err := memberIDParam(c)
	if err != nil {
		return db.Member{}, err
	}
	p, err := h.store.Member(c.Request().Context(), currentMembership(c).AccountID, userID)
	if errors.Is(err, db.ErrNotFound) {
		return db.Member{}, notFound(c, "member")
	}
	return p, err
}

func (h *Handler) showPerson(c echo.Context) error {
	p, err := h.loadPerson(c)
	if err != nil {
		return err
	}
	return h.renderPerson(c, http.StatusOK, p, func(*views.PersonPage) {})
}

// renderPerson renders a member's page; edit adjusts it (errors, a new password).
func (h *Handler) renderPerson(c echo.Context, status int, p db.Member, edit func(*views.PersonPage)) error {
	choices, err := h.inboxChoices(c, p.InboxIDs)
	if err != nil {
		return err
	}
	m := currentMembership(c)
	page := views.PersonPage{AccountID: m.AccountID, AccountName: m.AccountName, UserID: p.UserID, Email: p.Email,
		Role: p.Role, JoinedAt: views.FormatTime(p.JoinedAt), LastSignIn: h.lastSignIn(p),
		IsYou: p.UserID == currentUserIDValue(c), PasswordState: h.passwordState(p), Inboxes: choices}
	edit(&page)
	return h.render(c, status, views.Person(page))
}

func (h *Handler) changePerson(c echo.Context) error {
	p, err := h.loadPerson(c)
	if err != nil {
		return err
	}
	role := strings.TrimSpace(c.FormValue("role"))
	ids, idsProblem := formInboxIDs(c, role)
	errs := map[string]string{}
	if problem := roleProblem(role); problem != "" {
		errs["role"] = problem
	}
	if idsProblem == "" {
		idsProblem = inboxIDsProblem(role, ids)
	}
	if idsProblem != "" {
		errs["inbox_ids"] = idsProblem
	}
	if len(errs) > 0 {
		return h.renderPerson(c, http.StatusUnprocessableEntity, p, func(page *views.PersonPage) {
			page.Errors, page.FormError = errs, "Please fix the fields marked below."
		})
	}
	ch := db.MemberChange{Role: &role}
	if role == db.RoleAgent {
		ch.InboxIDs = &ids
	}
	updated, err := h.updateMember(c, p.UserID, ch)
	if errors.Is(err, db.ErrNotFound) {
		return notFound(c, "member")
	}
	if status, field, message, ok := memberProblem(err); ok {
		return h.renderPerson(c, status, p, func(page *views.PersonPage) {
			page.Errors, page.FormError = map[string]string{field: message}, message
		})
	}
	if err != nil {
		return err
	}
	summary := updated.Email + " is an administrator: they see every inbox."
	if !updated.IsAdministrator() {
		summary = updated.Email + " is an agent with " + countInboxes(len(updated.InboxIDs)) + "."
	}
	h.setFlash(c, "Saved. "+summary, false)
	if updated.UserID == currentUserIDValue(c) && !updated.IsAdministrator() {
		// No longer an administrator: the People page is closed to them from now on.
		return c.Redirect(http.StatusSeeOther, views.InboxesURL(currentMembership(c).AccountID))
	}
	return c.Redirect(http.StatusSeeOther, views.PeopleURL(currentMembership(c).AccountID))
}

func countInboxes(n int) string {
	switch n {
	case 0:
		return "no inboxes"
	case 1:
		return "1 inbox"
	}
	return strconv.Itoa(n) + " inboxes"
}

func (h *Handler) removePerson(c echo.Context) error {
	p, err := h.loadPerson(c)
	if err != nil {
		return err
	}
	if c.FormValue("confirm_remove") != "1" {
		return h.renderPerson(c, http.StatusUnprocessableEntity, p, func(page *views.PersonPage) {
			page.RemoveError = "Tick the box to confirm that " + p.Email + " is to be removed."
		})
	}
	err = h.removeMember(c, p.UserID)
	if errors.Is(err, db.ErrNotFound) {
		return notFound(c, "member")
	}
	if _, _, message, ok := memberProblem(err); ok {
		return h.renderPerson(c, http.StatusConflict, p, func(page *views.PersonPage) { page.RemoveError = message })
	}
	if err != nil {
		return err
	}
	if p.UserID == currentUserIDValue(c) {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	h.setFlash(c, "Removed "+p.Email+" from "+currentMembership(c).AccountName+".", false)
	return c.Redirect(http.StatusSeeOther, views.PeopleURL(currentMembership(c).AccountID))
}

// newPersonPassword replaces the one-time password of someone who has not chosen a
// password yet, and shows the new one once.
func (h *Handler) newPersonPassword(c echo.Context) error {
	p, err := h.loadPerson(c)
	if err != nil {
		return err
	}
	password, err := h.store.NewOneTimePassword(c.Request().Context(), currentMembership(c).AccountID, p.UserID)
	if errors.Is(err, db.ErrNotFound) {
		return notFound(c, "member")
	}
	if status, _, message, ok := memberProblem(err); ok {
		return h.renderPerson(c, status, p, func(page *views.PersonPage) { page.FormError = message })
	}
	if err != nil {
		return err
	}
	h.log.Info("one-time password replaced", "account_id", currentMembership(c).AccountID, "user_id", p.UserID,
		"by_user_id", currentUserIDValue(c))
	p, err = h.store.Member(c.Request().Context(), currentMembership(c).AccountID, p.UserID)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return h.renderPerson(c, http.StatusOK, p, func(page *views.PersonPage) {
		page.NewPassword, page.NewPasswordExpiresAt = password, views.FormatTime(p.OneTimePasswordExpiresAt)
	})
}
