package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
)

const (
	sessionName       = "inboxhealth_session"
	sessionUserID     = "user_id"
	sessionAccountID  = "account_id"
	sessionFlash      = "flash"
	sessionFlashError = "flash_error"

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

// loadSession puts the logged-in user (if any) in the context.
func (h *Handler) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, err := c.Request().Cookie(sessionName); err != nil {
			return next(c) // no cookie, no session: API clients with a token pay nothing here
		}
		sess, _ := h.sessions.Get(c.Request(), sessionName) // a bad cookie is just no session
		if id, ok := sess.Values[sessionUserID].(int64); ok {
			u, err := h.store.UserByID(c.Request().Context(), id)
			switch {
			case err == nil && u.HasOneTimePassword() && !h.now().Before(u.OneTimePasswordExpiresAt):
				// A session begun with a one-time password ends with the password's life:
				// log-in then says it expired.
			case err == nil:
				c.Set(ctxUser, u)
			case !errors.Is(err, db.ErrNotFound):
				return err
			}
		}
		return next(c)
	}
}

// requireLogin sends visitors without a session to the login page.
func (h *Handler) requireLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := currentUser(c); !ok {
			to := "/login?next=" + url.QueryEscape(c.Request().URL.RequestURI())
			if isHTMX(c) {
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

func (h *Handler) rememberAccount(c echo.Context, accountID int64) {
	sess, _ := h.sessions.Get(c.Request(), sessionName)
	if cur, _ := sess.Values[sessionAccountID].(int64); cur == accountID {
		return
	}
	sess.Values[sessionAccountID] = accountID
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		h.log.Warn("save session", "error", err)
	}
}

// setFlash keeps a one-time message for the next page.
func (h *Handler) setFlash(c echo.Context, message string, isError bool) {
	sess, _ := h.sessions.Get(c.Request(), sessionName)
	sess.Values[sessionFlash] = message
	sess.Values[sessionFlashError] = isError
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		h.log.Warn("save flash", "error", err)
	}
}

// requestInfo gathers what every page shows: user, accounts, CSRF token, flash.
func (h *Handler) requestInfo(c echo.Context) views.RequestInfo {
	info := views.RequestInfo{DemoMode: h.cfg.DemoMode, Now: h.now()}
	if tok, ok := c.Get(middleware.DefaultCSRFConfig.ContextKey).(string); ok {
		info.CSRFToken = tok
	}
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
	sess, _ := h.sessions.Get(c.Request(), sessionName)
	if msg, ok := sess.Values[sessionFlash].(string); ok && msg != "" {
		info.Flash = msg
		info.FlashIsError, _ = sess.Values[sessionFlashError].(bool)
		delete(sess.Values, sessionFlash)
		delete(sess.Values, sessionFlashError)
		if err := sess.Save(c.Request(), c.Response()); err != nil {
			h.log.Warn("clear flash", "error", err)
		}
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
	keys := []string{"email:" + strings.ToLower(email), "ip:" + c.RealIP()}
	if wait := h.logins.blockedFor(keys...); wait > 0 {
		form.Error = fmt.Sprintf("Too many failed log-ins. Wait %s and try again.", roundUp(wait))
		return h.render(c, http.StatusTooManyRequests, views.LoginPage(form))
	}
	if email == "" || password == "" {
		form.Error = "Enter your email and password."
		return h.render(c, http.StatusUnprocessableEntity, views.LoginPage(form))
	}
	u, err := h.store.Authenticate(c.Request().Context(), email, password)
	if errors.Is(err, db.ErrNotFound) {
		h.logins.fail(keys...)
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
	h.logins.succeed(keys[0])
	if err := h.startSession(c, u.ID); err != nil {
		return err
	}
	if err := h.store.RecordSignIn(c.Request().Context(), u.ID); err != nil {
		h.log.Warn("record sign-in", "user_id", u.ID, "error", err) // the sign-in itself worked
	}
	h.log.Info("login", "user_id", u.ID)
	if u.HasOneTimePassword() {
		return redirectAfterPost(c, choosePasswordURL(form.Next))
	}
	return redirectAfterPost(c, form.Next)
}

// startSession gives the user a fresh session: nothing from before carries over.
func (h *Handler) startSession(c echo.Context, userID int64) error {
	sess, _ := h.sessions.New(c.Request(), sessionName)
	sess.Values = map[any]any{sessionUserID: userID}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

func (h *Handler) demoLogins() []string {
	if !h.cfg.DemoMode {
		return nil
	}
	return h.cfg.DemoLogins
}

func (h *Handler) logout(c echo.Context) error {
	sess, _ := h.sessions.Get(c.Request(), sessionName)
	sess.Values = map[any]any{}
	sess.Options.MaxAge = -1
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return fmt.Errorf("end session: %w", err)
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
	sess, _ := h.sessions.Get(c.Request(), sessionName)
	target := memberships[0].AccountID
	if last, ok := sess.Values[sessionAccountID].(int64); ok {
		for _, m := range memberships {
			if m.AccountID == last {
				target = last
			}
		}
	}
	return c.Redirect(http.StatusSeeOther, views.InboxesURL(target))
}

// safeNext keeps post-login redirects on this site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func roundUp(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(d.Seconds())+1)
	}
	return fmt.Sprintf("%d minutes", int(d.Minutes())+1)
}

// loginThrottle slows down password guessing: each email and each client address gets
// a small burst of failures, then one more try per interval.
type loginThrottle struct {
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	now      func() time.Time
}

const (
	loginFailureBurst    = 5
	loginFailureInterval = 30 * time.Second
	loginThrottleMaxKeys = 100_000
)

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{limiters: map[string]*rate.Limiter{}, now: now}
}

func (t *loginThrottle) limiter(key string) *rate.Limiter {
	l, ok := t.limiters[key]
	if !ok {
		if len(t.limiters) >= loginThrottleMaxKeys {
			clear(t.limiters) // bounded memory beats perfect memory under a flood
		}
		l = rate.NewLimiter(rate.Every(loginFailureInterval), loginFailureBurst)
		t.limiters[key] = l
	}
	return l
}

// blockedFor says how long the caller must wait before trying again (0: go ahead).
func (t *loginThrottle) blockedFor(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		l := t.limiter(k)
		if l.TokensAt(t.now()) < 1 {
			r := l.ReserveN(t.now(), 1)
			wait = max(wait, r.DelayFrom(t.now()))
			r.CancelAt(t.now())
		}
	}
	return wait
}

func (t *loginThrottle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		t.limiter(k).AllowN(t.now(), 1)
	}
}

func (t *loginThrottle) succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.limiters, key)
}
