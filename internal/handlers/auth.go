package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
)

const (
	ctxUser       = "user"
	ctxMembership = "membership"
	ctxViaAPIKey  = "via_api_token"

	// headerAPIAccessToken carries a user's API token (Chatwoot-compatible name).
	headerAPIAccessToken = "api_access_token"
)

func currentUser(c echo.Context) (db.User, bool) {
	u, ok := c.Get(ctxUser).(db.User)
	return u, ok
}

func currentMembership(c echo.Context) db.Membership {
	m, _ := c.Get(ctxMembership).(db.Membership)
	return m
}

// requireLogin sends visitors without a session to the login page.
func (h *Handler) requireLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := currentUser(c); !ok {
			to := "/login?next=" + url.QueryEscape(c.Request().URL.RequestURI())
			if isHTMX(c) {
				// An htmx request (a page's poll, a banner form) comes back to the page it
				// was made from, not to the fragment's URL.
				if page := htmxPage(c); page != "" {
					to = "/login?next=" + url.QueryEscape(page)
				}
				c.Response().Header().Set(headerHXRedirect, to)
				return c.NoContent(http.StatusUnauthorized)
			}
			return c.Redirect(http.StatusSeeOther, to)
		}
		return next(c)
	}
}

// apiAuth accepts the api_access_token header or the browser session.
func (h *Handler) apiAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if token := c.Request().Header.Get(headerAPIAccessToken); token != "" {
			u, err := h.store.UserByAPIToken(c.Request().Context(), token)
			if errors.Is(err, db.ErrNotFound) {
				return &APIError{Status: http.StatusUnauthorized, Type: "unauthorized", Message: "The api_access_token is not valid."}
			}
			if err != nil {
				return err
			}
			c.Set(ctxUser, u)
			c.Set(ctxViaAPIKey, true)
			return next(c)
		}
		if _, ok := currentUser(c); !ok {
			return &APIError{Status: http.StatusUnauthorized, Type: "unauthorized", Message: "Send the api_access_token header or log in."}
		}
		return next(c)
	}
}

// requireAccount resolves :account_id to the user's membership. An account the user
// does not belong to is 404, so its existence is not revealed.
func (h *Handler) requireAccount(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, _ := currentUser(c)
		accountID, err := strconv.ParseInt(c.Param("account_id"), 10, 64)
		if err != nil {
			return notFound(c, "account")
		}
		m, err := h.store.Membership(c.Request().Context(), u.ID, accountID)
		if errors.Is(err, db.ErrNotFound) {
			return notFound(c, "account")
		}
		if err != nil {
			return err
		}
		c.Set(ctxMembership, m)
		if c.Get(ctxViaAPIKey) == nil {
			h.rememberAccount(c, accountID)
		}
		return next(c)
	}
}

func notFound(c echo.Context, what string) error {
	if strings.HasPrefix(c.Request().URL.Path, "/api/") {
		return apiNotFound(what)
	}
	return echo.ErrNotFound
}

func forbidden(c echo.Context, message string) error {
	if strings.HasPrefix(c.Request().URL.Path, "/api/") {
		return &APIError{Status: http.StatusForbidden, Type: "forbidden", Message: message}
	}
	return echo.NewHTTPError(http.StatusForbidden, message)
}

// requireAdministrator lets only the account's administrators change things.
func requireAdministrator(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !currentMembership(c).IsAdministrator() {
			return forbidden(c, "Only an administrator of this account can do this.")
		}
		return next(c)
	}
}

// requestInfo gathers what every page shows: user, accounts, CSRF token, flash.
func (h *Handler) requestInfo(c echo.Context) views.RequestInfo {
	info := views.RequestInfo{DemoMode: h.cfg.DemoMode, Now: h.now()}
	if tok, ok := c.Get(middleware.DefaultCSRFConfig.ContextKey).(string); ok {
		info.CSRFToken = tok
	}
	info.Flash, info.FlashIsError = h.takeFlash(c)
	u, ok := currentUser(c)
	if !ok {
		return info
	}
	info.UserEmail = u.Email
	memberships, err := h.store.Memberships(c.Request().Context(), u.ID)
	if err != nil {
		h.log.Warn("list memberships", "error", err)
	}
	current := currentMembership(c)
	for _, m := range memberships {
		link := views.AccountLink{ID: m.AccountID, Name: m.AccountName, Role: m.Role}
		info.Accounts = append(info.Accounts, link)
		if m.AccountID == current.AccountID {
			info.Account = link
		}
	}
	if info.Account.ID == 0 && len(info.Accounts) > 0 && current.AccountID == 0 {
		info.Account = info.Accounts[0]
	}
	return info
}

func (h *Handler) showLogin(c echo.Context) error {
	if _, ok := currentUser(c); ok {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	return h.render(c, http.StatusOK, views.LoginPage(views.LoginForm{Next: safeNext(c.QueryParam("next")), DemoLogins: h.demoLogins()}))
}

func (h *Handler) login(c echo.Context) error {
	email := strings.TrimSpace(c.FormValue("email"))
	password := c.FormValue("password")
	form := views.LoginForm{Email: email, Next: safeNext(c.FormValue("next")), DemoLogins: h.demoLogins()}
	if email == "" || password == "" || len(email) > maxEmailLength || len(password) > db.MaxPasswordLength {
		// Refused before the throttle: an attempt that cannot log anyone in costs it nothing.
		form.Error = "Enter your email and password."
		return h.render(c, http.StatusUnprocessableEntity, views.LoginPage(form))
	}
	ctx := c.Request().Context()
	attempt := LoginAttempt{Email: email, Address: c.RealIP()}
	verdict, err := h.logins.Check(ctx, attempt)
	if err != nil {
		return fmt.Errorf("log-in throttle: %w", err)
	}
	if verdict.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", retryAfterSeconds(verdict))
		form.Error = fmt.Sprintf("Too many failed log-ins. Wait %s and try again.", roundUp(verdict.RetryAfter))
		return h.render(c, http.StatusTooManyRequests, views.LoginPage(form))
	}
	if err := h.sleep(ctx, verdict.Delay); err != nil {
		return err
	}
	u, err := h.store.Authenticate(ctx, email, password)
	if errors.Is(err, db.ErrNotFound) {
		if err := h.logins.Failed(ctx, attempt); err != nil {
			return fmt.Errorf("log-in throttle: %w", err)
		}
		form.Error = "That email and password do not match an account."
		return h.render(c, http.StatusUnauthorized, views.LoginPage(form))
	}
	if errors.Is(err, db.ErrOneTimePasswordExpired) {
		form.Error = "This one-time password has expired. Ask an administrator of your account for a new one."
		return h.render(c, http.StatusUnauthorized, views.LoginPage(form))
	}
	if err != nil {
		return err
	}
	if err := h.logins.Succeeded(ctx, attempt); err != nil {
		return fmt.Errorf("log-in throttle: %w", err)
	}
	if err := h.startSession(c, u); err != nil {
		return err
	}
	if err := h.store.RecordSignIn(ctx, u.ID); err != nil {
		h.log.Warn("record sign-in", "user_id", u.ID, "error", err) // the sign-in itself worked
	}
	h.log.Info("login", "user_id", u.ID)
	if u.HasOneTimePassword() {
		return redirectAfterPost(c, choosePasswordURL(form.Next))
	}
	return redirectAfterPost(c, form.Next)
}

// maxEmailLength is the longest email address there can be (RFC 5321's path limit).
const maxEmailLength = 254

func (h *Handler) demoLogins() []string {
	if !h.cfg.DemoMode {
		return nil
	}
	return h.cfg.DemoLogins
}

func (h *Handler) logout(c echo.Context) error {
	if err := h.endSession(c); err != nil {
		return err
	}
	return redirectAfterPost(c, "/login")
}

// home sends the user to their last-used account's inboxes.
func (h *Handler) home(c echo.Context) error {
	u, _ := currentUser(c)
	memberships, err := h.store.Memberships(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	if len(memberships) == 0 {
		return echo.NewHTTPError(http.StatusForbidden, "Your user is not a member of any account yet. Ask an administrator to add you.")
	}
	target := memberships[0].AccountID
	if last, ok := h.cookieValues(c)[cookieAccountID].(int64); ok {
		for _, m := range memberships {
			if m.AccountID == last {
				target = last
			}
		}
	}
	return c.Redirect(http.StatusSeeOther, views.InboxesURL(target))
}

func roundUp(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(d.Seconds())+1)
	}
	return fmt.Sprintf("%d minutes", int(d.Minutes())+1)
}

// htmxPage is the path and query of the page an htmx request was made from
// (HX-Current-URL), when that page is on this server; "" otherwise.
func htmxPage(c echo.Context) string {
	cur, err := url.Parse(c.Request().Header.Get("HX-Current-URL"))
	if err != nil || cur.Host != c.Request().Host || !strings.HasPrefix(cur.Path, "/") {
		return ""
	}
	return cur.RequestURI()
}
