package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// Browser sessions. The cookie (signed and encrypted by gorilla/sessions) carries the
// session's token, the last account used and a one-time flash message; the session
// itself lives in the database (db.Session), so it ends for every copy of the cookie
// the moment its row goes. Lifetimes are db.SessionLifetime (absolute) and
// db.SessionIdleTimeout; the cookie's Max-Age is always what is left of the absolute
// one, so the browser drops the cookie when the server would refuse it.
const (
	sessionName = "inboxhealth_session"

	cookieSessionToken = "session"
	cookieAccountID    = "account_id"
	cookieFlash        = "flash"
	cookieFlashError   = "flash_error"

	ctxSession      = "session"
	ctxSessionToken = "session_token"

	// csrfCookieName holds the CSRF token (Echo's CSRF middleware, double submit).
	csrfCookieName = "_csrf"
)

func newCookieStore(cfg Config) *sessions.CookieStore {
	cs := sessions.NewCookieStore(cfg.SessionAuthKey, cfg.SessionEncryptionKey)
	for _, codec := range cs.Codecs {
		if sc, ok := codec.(*securecookie.SecureCookie); ok {
			sc.SetSerializer(sessionCookieSerializer{})
		}
	}
	// MaxAge also bounds the signed timestamp securecookie checks on every read.
	cs.MaxAge(int(db.SessionLifetime.Seconds()))
	cs.Options.Path = "/"
	cs.Options.HttpOnly = true
	cs.Options.SameSite = http.SameSiteLaxMode
	cs.Options.Secure = strings.HasPrefix(strings.ToLower(cfg.FrontendURL), "https://")
	return cs
}

// loadSession puts the logged-in user (if any) in the context: the cookie's session
// must still exist in the database, and its user too.
func (h *Handler) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, err := c.Request().Cookie(sessionName); err != nil {
			return next(c) // no cookie, no session: API clients with a token pay nothing here
		}
		token, _ := h.cookieValues(c)[cookieSessionToken].(string)
		if token == "" {
			return next(c) // a bad cookie, or one from before server-side sessions
		}
		ctx := c.Request().Context()
		sess, err := h.store.ResumeSession(ctx, token)
		if errors.Is(err, db.ErrNotFound) {
			return next(c) // ended: logged out, signed out everywhere, expired
		}
		if err != nil {
			return err
		}
		u, err := h.store.UserByID(ctx, sess.UserID)
		if errors.Is(err, db.ErrNotFound) {
			return next(c)
		}
		if err != nil {
			return err
		}
		if u.HasOneTimePassword() && !h.now().Before(u.OneTimePasswordExpiresAt) {
			// A session begun with a one-time password ends with the password's life:
			// log-in then says it expired.
			return next(c)
		}
		c.Set(ctxUser, u)
		c.Set(ctxSession, sess)
		c.Set(ctxSessionToken, token)
		return next(c)
	}
}

// cookieValues is the session cookie's content (empty for a missing or bad cookie).
func (h *Handler) cookieValues(c echo.Context) map[any]any {
	sess, _ := h.sessions.Get(c.Request(), sessionName) // a bad cookie is just no session
	return sess.Values
}

// saveCookie writes the cookie back with what changed in its values; its Max-Age is
// what is left of the session's absolute lifetime.
func (h *Handler) saveCookie(c echo.Context) error {
	cookie, _ := h.sessions.Get(c.Request(), sessionName)
	opts := *h.sessions.Options
	if sess, ok := c.Get(ctxSession).(db.Session); ok {
		opts.MaxAge = max(1, int(sess.ExpiresAt().Sub(h.now()).Seconds()))
	}
	cookie.Options = &opts
	return cookie.Save(c.Request(), c.Response())
}

// startSession logs the user in: a new session in the database and a fresh cookie,
// so nothing from before the log-in carries over (no session fixation).
func (h *Handler) startSession(c echo.Context, u db.User) error {
	token, sess, err := h.store.CreateSession(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	// The request's registered cookie session, emptied: later writes in this request
	// (a flash) then carry the new token, not the old one.
	cookie, _ := h.sessions.Get(c.Request(), sessionName)
	cookie.Values = map[any]any{cookieSessionToken: token}
	c.Set(ctxUser, u)
	c.Set(ctxSession, sess)
	c.Set(ctxSessionToken, token)
	opts := *h.sessions.Options
	cookie.Options = &opts
	if err := cookie.Save(c.Request(), c.Response()); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	// A new CSRF token comes with the new session (the next page makes one): a token
	// planted or read before the log-in is worth nothing after it.
	c.SetCookie(&http.Cookie{Name: csrfCookieName, Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: opts.Secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// endSession logs this browser out: its session row goes, so a copy of the cookie
// kept elsewhere stops working too, and the cookie is deleted.
func (h *Handler) endSession(c echo.Context) error {
	if token, ok := c.Get(ctxSessionToken).(string); ok {
		if err := h.store.DeleteSession(c.Request().Context(), token); err != nil {
			return err
		}
	}
	c.Set(ctxUser, nil)
	c.Set(ctxSession, nil)
	c.Set(ctxSessionToken, nil)
	cookie, _ := h.sessions.Get(c.Request(), sessionName)
	cookie.Values = map[any]any{}
	opts := *h.sessions.Options
	opts.MaxAge = -1
	cookie.Options = &opts
	if err := cookie.Save(c.Request(), c.Response()); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// rememberAccount keeps the account last opened, for the home page.
func (h *Handler) rememberAccount(c echo.Context, accountID int64) {
	values := h.cookieValues(c)
	if cur, _ := values[cookieAccountID].(int64); cur == accountID {
		return
	}
	values[cookieAccountID] = accountID
	if err := h.saveCookie(c); err != nil {
		h.log.Warn("save session", "error", err)
	}
}

// setFlash keeps a one-time message for the next page.
func (h *Handler) setFlash(c echo.Context, message string, isError bool) {
	values := h.cookieValues(c)
	values[cookieFlash] = message
	values[cookieFlashError] = isError
	if err := h.saveCookie(c); err != nil {
		h.log.Warn("save flash", "error", err)
	}
}

// takeFlash returns the flash message once and forgets it.
func (h *Handler) takeFlash(c echo.Context) (message string, isError bool) {
	values := h.cookieValues(c)
	message, _ = values[cookieFlash].(string)
	if message == "" {
		return "", false
	}
	isError, _ = values[cookieFlashError].(bool)
	delete(values, cookieFlash)
	delete(values, cookieFlashError)
	if err := h.saveCookie(c); err != nil {
		h.log.Warn("clear flash", "error", err)
	}
	return message, isError
}

// sleepContext waits d unless ctx ends first (Config.Sleep by default).
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
