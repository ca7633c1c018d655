package views

import "strings"

// HealthBadge is one health field drawn as a badge: colour (Tone) and text, with a
// tooltip that says what the field and the value mean.
type HealthBadge struct {
	Field   string // Graph API field name, e.g. "quality_rating"; used in data-testid
	Label   string // e.g. "Quality"
	Value   string // as Meta sent it
	Text    string // e.g. "Green"; the raw value when unknown
	Tone    string // green | amber | red | grey
	Tooltip string
}

// HealthEntity is an entity (phone number, business account, business, app) that Meta
// says is limited or blocked, with Meta's reasons.
type HealthEntity struct {
	Type    string // PHONE_NUMBER, WABA, BUSINESS, APP, as Meta sends it
	ID      string
	Title   string      // "WhatsApp Business Account 2098..."
	Verdict HealthBadge // its can_send_message
	Reasons []HealthReason
	Info    []string // Meta's additional_info
}

// HealthReason is one of Meta's errors on an entity.
type HealthReason struct {
	Code        int64
	Description string
	Solution    string
}

// HealthProblem is why the latest check failed, in plain words.
type HealthProblem struct {
	Title   string
	Message string
	Remedy  string
	Detail  string // Meta's or the transport's own message, for support
}

// HealthPanel is the badge panel of the Account Health tab (element id
// "health-panel"), which the Refresh button replaces.
type HealthPanel struct {
	RefreshURL string
	ManagerURL string
	// Checked is false when the number was never checked: the panel then says so and
	// offers Refresh instead of badges.
	Checked        bool
	CheckedAgo     string // "3 minutes ago"
	CheckedAtExact string // "2025-06-01 12:03:04 UTC"
	CheckedAtISO   string // RFC 3339, for machines and tests
	Overall        StatusBadge
	DisplayPhone   string
	VerifiedName   string
	Badges         []HealthBadge
	Entities       []HealthEntity
	// Stale is set when the latest check failed: badges show the last good data.
	Stale   bool
	Problem *HealthProblem
	// HasData is false when no check ever succeeded: there are no badges to show.
	HasData bool
}

// HealthChangeRow is one line of the health history.
type HealthChangeRow struct {
	Ago   string
	Exact string
	ISO   string // for <time datetime>, which static/app.js shows in local time too
	Label string // "Quality"
	From  HealthBadge
	To    HealthBadge
}

// MetaEventRow is one webhook event from Meta on the Account Health tab.
type MetaEventRow struct {
	Ago, Exact  string
	ISO         string // for <time datetime>
	Field       string // Meta's field name, e.g. account_update
	Description string // what it means, in plain words
}

// InboxHealthRefreshURL is where the Account Health tab's Refresh button posts.
func InboxHealthRefreshURL(accountID, inboxID int64) string {
	return InboxHealthURL(accountID, inboxID) + "/refresh"
}

func tipID(field string) string { return "tip-" + field }

// LivePollSeconds is how often an open inbox page or inbox list asks for what changed
// (paused while the browser tab is hidden).
const LivePollSeconds = 10

// LiveURL is where an inbox page's live poll asks for the parts that change; tab is
// the page it is on (TabSettings or TabHealth).
func LiveURL(accountID, inboxID int64, tab string) string {
	return InboxURL(accountID, inboxID) + "/live?from=" + tab
}

// liveParts are the elements an inbox page's live poll replaces.
func liveParts(tab string) string {
	parts := "#live-banner,#inbox-status"
	if tab == TabHealth {
		parts += ",#health-panel,#health-changes,#meta-events,#registration-attempts"
	}
	return parts
}

// ariaBool is "true" or "false", as ARIA state attributes take them.
func ariaBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// technicalSeparator splits a stored message into its plain part and Meta's own
// words (health.TechnicalSeparator writes it).
const technicalSeparator = "\nMeta's answer: "

// TechnicalSplit splits a stored message at the separator; a message without one is
// all plain.
func TechnicalSplit(message string) (plain, technical string) {
	if i := strings.Index(message, technicalSeparator); i >= 0 {
		return message[:i], message[i+len(technicalSeparator):]
	}
	return message, ""
}
