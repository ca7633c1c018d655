package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
)

// choosePasswordPath is where someone signed in with a one-time password chooses their
// own; until they have, every other page sends them here.
const choosePasswordPath = "/choose-password"

func choosePasswordURL(next string) string {
	if next == "" || next == "/" {
		return choosePasswordPath
	}
	return choosePasswordPath + "?next=" + url.QueryEscape(next)
}

// requireChosenPassword keeps a one-time password to its one use: choosing a password.
// Pages redirect to the form; the API (through the browser session) is 403.
func requireChosenPassword(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, _ := currentUser(c)
		if !u.HasOneTimePassword() {
			return next(c)
		}
		if strings.HasPrefix(c.Request().URL.Path, "/api/") {
			return forbidden(c, "Choose your own password first: sign in in the browser.")
		}
		to := choosePasswordURL(c.Request().URL.RequestURI())
		if isHTMX(c) {
			c.Response().Header().Set(headerHXRedirect, to)
			return c.NoContent(http.StatusUnauthorized)
		}
		return c.Redirect(http.StatusSeeOther, to)
	}
}

func (h *Handler) showChoosePassword(c echo.Context) error {
	u, _ := currentUser(c)
	if !u.HasOneTimePassword() {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	return h.render(c, http.StatusOK, views.ChoosePasswordPage(views.ChoosePasswordForm{Email: u.Email, Next: safeNext(c.QueryParam("next"))}))
}

func (h *Handler) choosePassword(c echo.Context) error {
	u, _ := currentUser(c)
	next := safeNext(c.FormValue("next"))
	if !u.HasOneTimePassword() {
		return c.Redirect(http.StatusSeeOther, next)
	}
	password, again := c.FormValue("password"), c.FormValue("password_again")
	errs := map[string]string{}
	switch err := db.CheckPassword(password); {
	case err != nil:
		errs["password"] = "Choose a password of " + fmt.Sprint(db.MinPasswordLength) + " to " + fmt.Sprint(db.MaxPasswordLength) + " characters."
	case u.PasswordMatches(password):
		errs["password"] = "Choose a password of your own, not the one-time password."
	case again != password:
		errs["password_again"] = "The two passwords differ. Type the same password twice."
	}
	if len(errs) > 0 {
		return h.render(c, http.StatusUnprocessableEntity, views.ChoosePasswordPage(views.ChoosePasswordForm{Email: u.Email, Next: next, Errors: errs}))
	}
	if err := h.store.SetPassword(c.Request().Context(), u.ID, password); err != nil {
		return err
	}
	h.log.Info("password chosen after a one-time password", "user_id", u.ID)
	if err := h.startSession(c, u); err != nil {
		return err
	}
	h.setFlash(c, "Your password is set. Use it from now on.", false)
	return c.Redirect(http.StatusSeeOther, next)
}
