package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
)

// "Your account": every signed-in person can change their own password, make a new
// API token and sign out everywhere, on the page and in the API (/api/v1/profile).

func (h *Handler) showAccount(c echo.Context) error {
	return h.renderAccount(c, http.StatusOK, views.AccountPage{})
}

func (h *Handler) renderAccount(c echo.Context, status int, page views.AccountPage) error {
	u, _ := currentUser(c)
	n, err := h.store.CountUserSessions(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	page.Email, page.Sessions = u.Email, n
	return h.render(c, status, views.AccountView(page))
}

// passwordChange is the change-password form and the API's body.
type passwordChange struct {
	Current string `json:"current_password"`
	New     string `json:"password"`
	// Confirm is the form's second entry; the API does not ask for it.
	Confirm *string `json:"-"`
}

// errPasswordThrottled: too many wrong current passwords from this address.
type errPasswordThrottled struct{ verdict LoginVerdict }

func (e errPasswordThrottled) Error() string { return "password change throttled" }

// changeOwnPassword checks the request and changes the password: a field-by-field
// problem map when it is refused, a throttling error when the current password was
// guessed too often (it counts as a failed log-in), else nil. Every session of the
// user ends; the browser that asked gets a new one.
func (h *Handler) changeOwnPassword(c echo.Context, in passwordChange) (map[string]string, error) {
	u, _ := currentUser(c)
	errs := map[string]string{}
	switch {
	case in.Current == "":
		errs["current_password"] = "Enter your current password."
	case len(in.Current) > db.MaxPasswordLength:
		errs["current_password"] = "This is not your current password."
	}
	if err := db.CheckPassword(in.New); err != nil {
		errs["password"] = fmt.Sprintf("Use %d to %d characters.", db.MinPasswordLength, db.MaxPasswordLength)
	} else if in.New == in.Current {
		errs["password"] = "Choose a password different from the current one."
	}
	if in.Confirm != nil && *in.Confirm != in.New {
		errs["password_confirm"] = "The two new passwords differ."
	}
	if len(errs) > 0 {
		return errs, nil
	}
	ctx := c.Request().Context()
	attempt := LoginAttempt{Email: u.Email, Address: c.RealIP()}
	verdict, err := h.logins.Check(ctx, attempt)
	if err != nil {
		return nil, fmt.Errorf("log-in throttle: %w", err)
	}
	if verdict.RetryAfter > 0 {
		return nil, errPasswordThrottled{verdict}
	}
	if err := h.sleep(ctx, verdict.Delay); err != nil {
		return nil, err
	}
	err = h.store.ChangePassword(ctx, u.ID, in.Current, in.New)
	if errors.Is(err, db.ErrWrongPassword) {
		if err := h.logins.Failed(ctx, attempt); err != nil {
			return nil, fmt.Errorf("log-in throttle: %w", err)
		}
		return map[string]string{"current_password": "This is not your current password."}, nil
	}
	if err != nil {
		return nil, err
	}
	h.log.Info("password changed", "user_id", u.ID)
	if _, ok := c.Get(ctxSessionToken).(string); ok {
		if err := h.startSession(c, u); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (h *Handler) changePassword(c echo.Context) error {
	confirm := c.FormValue("password_confirm")
	errs, err := h.changeOwnPassword(c, passwordChange{Current: c.FormValue("current_password"), New: c.FormValue("password"), Confirm: &confirm})
	var throttled errPasswordThrottled
	if errors.As(err, &throttled) {
		c.Response().Header().Set("Retry-After", retryAfterSeconds(throttled.verdict))
		return h.renderAccount(c, http.StatusTooManyRequests, views.AccountPage{
			FormError: fmt.Sprintf("Too many wrong passwords. Wait %s and try again.", roundUp(throttled.verdict.RetryAfter))})
	}
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return h.renderAccount(c, http.StatusUnprocessableEntity, views.AccountPage{Errors: errs, FormError: "Please fix the fields marked below."})
	}
	h.setFlash(c, "Password changed. Every other browser signed in as you has been signed out.", false)
	return redirectAfterPost(c, views.AccountURL)
}

func (h *Handler) rotateAPIToken(c echo.Context) error {
	token, err := h.rotateOwnAPIToken(c)
	if err != nil {
		return err
	}
	// Rendered, not redirected: the token is shown in this answer only (no-store).
	return h.renderAccount(c, http.StatusOK, views.AccountPage{NewAPIToken: token})
}

func (h *Handler) rotateOwnAPIToken(c echo.Context) (string, error) {
	u, _ := currentUser(c)
	token, err := h.store.RotateAPIToken(c.Request().Context(), u.ID)
	if err != nil {
		return "", err
	}
	h.log.Info("api token rotated", "user_id", u.ID)
	return token, nil
}

func (h *Handler) signOutEverywhere(c echo.Context) error {
	if err := h.endAllSessions(c); err != nil {
		return err
	}
	if err := h.endSession(c); err != nil {
		return err
	}
	h.setFlash(c, "You have been signed out everywhere, this browser included.", false)
	return redirectAfterPost(c, "/login")
}

func (h *Handler) endAllSessions(c echo.Context) error {
	u, _ := currentUser(c)
	n, err := h.store.EndUserSessions(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	h.log.Info("signed out everywhere", "user_id", u.ID, "sessions", n)
	return nil
}

func retryAfterSeconds(v LoginVerdict) string { return strconv.Itoa(int(v.RetryAfter.Seconds()) + 1) }

// apiProfile is GET /api/v1/profile: who the caller is.
func (h *Handler) apiProfile(c echo.Context) error {
	u, _ := currentUser(c)
	n, err := h.store.CountUserSessions(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user_id": u.ID, "email": u.Email, "sessions": n})
}

func (h *Handler) apiChangePassword(c echo.Context) error {
	var in passwordChange
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	errs, err := h.changeOwnPassword(c, in)
	var throttled errPasswordThrottled
	if errors.As(err, &throttled) {
		c.Response().Header().Set("Retry-After", retryAfterSeconds(throttled.verdict))
		return &APIError{Status: http.StatusTooManyRequests, Type: "rate_limited", Message: "Too many wrong passwords. Wait " + roundUp(throttled.verdict.RetryAfter) + " and try again."}
	}
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid", Message: "Some fields are invalid.", Fields: errs}
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handler) apiRotateAPIToken(c echo.Context) error {
	token, err := h.rotateOwnAPIToken(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"api_access_token": token})
}

func (h *Handler) apiSignOutEverywhere(c echo.Context) error {
	if err := h.endAllSessions(c); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
