package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// apiMember is a member as the JSON API shows it: never a password hash or token.
type apiMember struct {
	UserID int64  `json:"user_id"`
	Email  string `json:"email"`
	Role   string `json:"role"`
	// InboxIDs is an agent's inboxes; absent for administrators, who see every inbox.
	InboxIDs       *[]int64 `json:"inbox_ids,omitempty"`
	JoinedAt       string   `json:"joined_at"`
	LastSignInAt   *string  `json:"last_sign_in_at"`
	PasswordChosen bool     `json:"password_chosen"`
	// Password and PasswordExpiresAt: the one-time password of a person new to this
	// server, in the answer that created them only.
	Password          string `json:"password,omitempty"`
	PasswordExpiresAt string `json:"password_expires_at,omitempty"`
}

func apiTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func toAPIMember(m db.Member) apiMember {
	out := apiMember{UserID: m.UserID, Email: m.Email, Role: m.Role, JoinedAt: apiTime(m.JoinedAt),
		PasswordChosen: !m.HasOneTimePassword()}
	if !m.IsAdministrator() {
		ids := append([]int64{}, m.InboxIDs...)
		out.InboxIDs = &ids
	}
	if !m.LastSignInAt.IsZero() {
		at := apiTime(m.LastSignInAt)
		out.LastSignInAt = &at
	}
	return out
}

// memberAPIError turns a refusal of the store into the API's error shape.
func memberAPIError(err error) error {
	if errors.Is(err, db.ErrNotFound) {
		return apiNotFound("member")
	}
	status, field, message, ok := memberProblem(err)
	if !ok {
		return err
	}
	apiErr := &APIError{Status: status, Type: "invalid", Message: message}
	if status == http.StatusConflict {
		apiErr.Type = "conflict"
	}
	if errors.Is(err, db.ErrLastAdministrator) {
		apiErr.Type = "last_administrator"
	}
	if field != "" {
		apiErr.Fields = map[string]string{field: message}
	}
	return apiErr
}

func (h *Handler) apiListMembers(c echo.Context) error {
	ms, err := h.store.Members(c.Request().Context(), currentMembership(c).AccountID)
	if err != nil {
		return err
	}
	out := make([]apiMember, 0, len(ms))
	for _, m := range ms {
		out = append(out, toAPIMember(m))
	}
	return c.JSON(http.StatusOK, map[string]any{"payload": out})
}

func (h *Handler) apiAddMember(c echo.Context) error {
	var input memberInput
	if err := decodeJSON(c, &input); err != nil {
		return err
	}
	if errs := input.validate(); len(errs) > 0 {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid", Message: "Some fields are invalid.", Fields: errs}
	}
	added, err := h.addMember(c, input)
	if err != nil {
		return memberAPIError(err)
	}
	out := toAPIMember(added.Member)
	if added.OneTimePassword != "" {
		out.Password = added.OneTimePassword
		out.PasswordExpiresAt = apiTime(added.OneTimePasswordExpiresAt)
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	}
	return c.JSON(http.StatusCreated, out)
}

// addMember is the one way both doors add a person: the store call and its log line
// (which names who, never the password).
func (h *Handler) addMember(c echo.Context, input memberInput) (db.AddedMember, error) {
	m := currentMembership(c)
	added, err := h.store.AddMember(c.Request().Context(), m.AccountID, db.NewMember{Email: input.Email, Role: input.Role, InboxIDs: input.InboxIDs})
	if err != nil {
		return db.AddedMember{}, err
	}
	h.log.Info("member added", "account_id", m.AccountID, "user_id", added.UserID, "role", added.Role,
		"new_user", added.OneTimePassword != "", "by_user_id", currentUserIDValue(c))
	return added, nil
}

func (h *Handler) apiPatchMember(c echo.Context) error {
	userID, err := memberIDParam(c)
	if err != nil {
		return err
	}
	var input memberChangeInput
	if err := decodeJSON(c, &input); err != nil {
		return err
	}
	if errs := input.validate(); len(errs) > 0 {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid", Message: "Some fields are invalid.", Fields: errs}
	}
	updated, err := h.updateMember(c, userID, input.toChange())
	if err != nil {
		return memberAPIError(err)
	}
	return c.JSON(http.StatusOK, toAPIMember(updated))
}

func (h *Handler) updateMember(c echo.Context, userID int64, ch db.MemberChange) (db.Member, error) {
	accountID := currentMembership(c).AccountID
	updated, err := h.store.UpdateMember(c.Request().Context(), accountID, userID, ch)
	if err != nil {
		return db.Member{}, err
	}
	h.log.Info("member changed", "account_id", accountID, "user_id", userID, "role", updated.Role,
		"inboxes", len(updated.InboxIDs), "by_user_id", currentUserIDValue(c))
	return updated, nil
}

func (h *Handler) apiDeleteMember(c echo.Context) error {
	userID, err := memberIDParam(c)
	if err != nil {
		return err
	}
	if err := h.removeMember(c, userID); err != nil {
		return memberAPIError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handler) removeMember(c echo.Context, userID int64) error {
	accountID := currentMembership(c).AccountID
	if err := h.store.RemoveMember(c.Request().Context(), accountID, userID); err != nil {
		return err
	}
	h.log.Info("member removed", "account_id", accountID, "user_id", userID, "by_user_id", currentUserIDValue(c))
	return nil
}

// memberIDParam reads :user_id; anything but a positive number is an unknown member.
func memberIDParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("user_id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound(c, "member")
	}
	return id, nil
}

func currentUserIDValue(c echo.Context) int64 {
	u, _ := currentUser(c)
	return u.ID
}
