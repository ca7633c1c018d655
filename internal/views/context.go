// Package views holds the templ components. Components take small view-model structs
// and never query the database; per-request values travel in the context.
package views

import (
	"context"
	"fmt"
	"time"
)

// AccountLink is one entry of the account switcher.
type AccountLink struct {
	ID   int64
	Name string
	Role string
}

// RequestInfo is what every page needs to know about the request it renders for.
type RequestInfo struct {
	CSRFToken    string
	UserEmail    string
	Accounts     []AccountLink
	Account      AccountLink // the current account; ID 0 when none
	DemoMode     bool
	Flash        string
	FlashIsError bool
	Now          time.Time
}

// IsAdministrator reports whether the current user administers the current account.
func (r RequestInfo) IsAdministrator() bool { return r.Account.Role == "administrator" }

type requestInfoKey struct{}

// WithRequestInfo stores the request's info for components.
func WithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// Info returns the request's info (zero value outside a request).
func Info(ctx context.Context) RequestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	if info.Now.IsZero() {
		info.Now = time.Now()
	}
	return info
}

// CSRFToken returns the token to put in forms.
func CSRFToken(ctx context.Context) string { return Info(ctx).CSRFToken }

// csrfHeaders is the hx-headers value that makes every htmx request carry the token.
func csrfHeaders(ctx context.Context) string {
	return fmt.Sprintf(`{"X-CSRF-Token": %q}`, CSRFToken(ctx))
}

// InboxesURL is the inbox list of an account.
func InboxesURL(accountID int64) string { return fmt.Sprintf("/accounts/%d/inboxes", accountID) }

// InboxURL is an inbox's page (Settings tab).
func InboxURL(accountID, inboxID int64) string {
	return fmt.Sprintf("/accounts/%d/inboxes/%d", accountID, inboxID)
}

// InboxHealthURL is an inbox's Account Health tab.
func InboxHealthURL(accountID, inboxID int64) string {
	return InboxURL(accountID, inboxID) + "/health"
}

// Ago says how long ago t was, in words a person reads at a glance.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d seconds ago", int(d.Seconds()))
	case d < 2*time.Minute:
		return "1 minute ago"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 2*time.Hour:
		return "1 hour ago"
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
}

// FormatTime renders a time for people (UTC, explicit).
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
