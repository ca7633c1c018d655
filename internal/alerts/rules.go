package alerts

import (
	"fmt"
	"strings"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// What is worth an alert, and the words of each alert. Transitions, not states: each
// rule reads one value from a health reading (the status, the quality rating, ...),
// and the engine compares it with the value it saw last for the inbox (db
// alert_conditions). A reading that says nothing about the value (a failed fetch, a
// rating Meta did not give) leaves the last value as it is. The first value seen of
// an inbox is its baseline and raises nothing: alerts are about what changed while
// this app was watching, and a number's page already shows how it was when added.

// rule is one kind's reading and what counts as worse and as recovered.
type rule struct {
	kind Kind
	// read returns the value the reading shows, and false when it shows none.
	read func(r reading) (string, bool)
	// worse reports whether going from one value to another is worth a problem alert.
	worse func(from, to string) bool
	// recovered reports whether a value ends a problem that began at okValue.
	recovered func(okValue, value string) bool
	// explain words a transition: why it matters and what to do.
	explain func(r reading, from, to string, recovery bool) (reason, remedy string)
}

// reading is one health reading of an inbox, with what the rules need beside it.
type reading struct {
	inbox  db.Inbox
	snap   db.HealthSnapshot
	now    time.Time
	advice health.Advice
	// registrationOverdueAfter is how long after the inbox was added registration
	// may take before it is an alert.
	registrationOverdueAfter time.Duration
	// attemptsUsed: Meta's register calls for the 72-hour window are spent.
	attemptsUsed bool
}

// phone is the reading's phone data when it is fresh: a failed fetch carries the last
// good data, which says nothing new.
func (r reading) phone() *whatsapp.PhoneNumber {
	if r.snap.Phone == nil || (!r.snap.OK && r.snap.Source != db.SourceWebhook) {
		return nil
	}
	return r.snap.Phone
}

// severityRule is a rule whose values have a severity (0: fine); worse means more
// severe, recovered means severity 0.
func severityRule(kind Kind, read func(r reading) (string, bool), severity func(string) int,
	explain func(r reading, from, to string, recovery bool) (string, string)) rule {
	return rule{kind: kind, read: read, explain: explain,
		worse:     func(from, to string) bool { return severity(to) > severity(from) },
		recovered: func(_, value string) bool { return severity(value) == 0 },
	}
}

// rules are read in this order for every health reading.
var rules = []rule{
	severityRule(KindStatus, func(r reading) (string, bool) {
		p := r.phone()
		return valueOf(p, func(p *whatsapp.PhoneNumber) string { return p.Status })
	}, statusSeverity, explainField("status", "Check Meta's notice for the number in WhatsApp Manager; the inbox page links to it.")),
	severityRule(KindQuality, func(r reading) (string, bool) {
		v, ok := valueOf(r.phone(), func(p *whatsapp.PhoneNumber) string { return p.QualityRating })
		return v, ok && qualitySeverity(v) >= 0
	}, qualitySeverity, explainField("quality_rating", "See which messages recipients block or report (templates, opt-in, how often you write); Meta lowers the messaging limit when quality stays low.")),
	severityRule(KindCanSend, func(r reading) (string, bool) {
		if r.phone() == nil {
			return "", false
		}
		v, _ := whatsapp.CanSendVerdict(r.phone(), r.snap.BusinessHealth)
		return v, canSendSeverity(v) >= 0
	}, canSendSeverity, explainCanSend),
	{
		kind: KindMessagingLimit,
		read: func(r reading) (string, bool) {
			v, ok := valueOf(r.phone(), func(p *whatsapp.PhoneNumber) string { return p.LimitTier() })
			return v, ok && tierRank(v) > 0
		},
		worse:     func(from, to string) bool { return tierRank(to) < tierRank(from) },
		recovered: func(okValue, value string) bool { return tierRank(value) >= tierRank(okValue) },
		explain: explainField("messaging_limit_tier",
			"Meta raises the limit again as quality recovers; check the quality rating and recent messages."),
	},
	severityRule(KindToken, readToken, func(v string) int {
		if v == tokenWorking {
			return 0
		}
		return 1
	}, explainToken),
	severityRule(KindRegistration, readRegistration, registrationSeverity, explainRegistration),
}

func valueOf(p *whatsapp.PhoneNumber, field func(*whatsapp.PhoneNumber) string) (string, bool) {
	if p == nil {
		return "", false
	}
	v := field(p)
	return v, v != ""
}

// statusSeverity: CONNECTED is fine; not connected yet (PENDING, UNVERIFIED) is a step
// down from it; Meta's own restrictions are worse, and a banned, disconnected or
// deleted number worst. A value this version does not know counts as a problem.
func statusSeverity(s string) int {
	switch s {
	case "CONNECTED":
		return 0
	case "PENDING", "UNVERIFIED":
		return 1
	case "FLAGGED", "RATE_LIMITED", "UNKNOWN":
		return 2
	case "RESTRICTED", "MIGRATED":
		return 3
	case "BANNED", "DISCONNECTED", "DELETED":
		return 4
	}
	return 2
}

// qualitySeverity: -1 for ratings that say nothing (NA, UNKNOWN).
func qualitySeverity(q string) int {
	switch q {
	case "GREEN":
		return 0
	case "YELLOW":
		return 1
	case "RED":
		return 2
	}
	return -1
}

func canSendSeverity(v string) int {
	switch v {
	case whatsapp.CanSendAvailable:
		return 0
	case whatsapp.CanSendLimited:
		return 1
	case whatsapp.CanSendBlocked:
		return 2
	}
	return -1
}

// tierRank orders the messaging limits; 0 for values that are no limit (UNTIERED,
// TIER_NOT_SET, unknown), which are not compared.
func tierRank(t string) int {
	switch t {
	case "TIER_50":
		return 1
	case "TIER_250":
		return 2
	case "TIER_1K":
		return 3
	case "TIER_2K":
		return 4
	case "TIER_10K":
		return 5
	case "TIER_100K":
		return 6
	case "TIER_UNLIMITED":
		return 7
	}
	return 0
}

// explainField words a change of one phone-number field with the badges' words for
// its values (the one vocabulary of the product) and the overall status's summary.
func explainField(field, remedy string) func(r reading, from, to string, recovery bool) (string, string) {
	return func(r reading, from, to string, recovery bool) (string, string) {
		fb, tb := whatsapp.FieldBadge(field, from), whatsapp.FieldBadge(field, to)
		reason := fmt.Sprintf("%s changed from %s to %s. %s", tb.Label, fb.Text, tb.Text, valueMeaning(tb))
		if recovery {
			return reason, ""
		}
		// The overall status says what the change means for the number as a whole,
		// unless it is the same news in other words (quality_low for a quality drop).
		if s := r.advice.Overall.Summary; s != "" && r.advice.Overall.Code != whatsapp.OverallConnected &&
			!(field == "quality_rating" && r.advice.Overall.Code == whatsapp.OverallQualityLow) {
			reason += " " + s
		}
		return reason, remedy
	}
}

// valueMeaning is the part of a badge's tooltip about its value (the tooltip starts
// with what the field means).
func valueMeaning(b whatsapp.Badge) string {
	spec := whatsapp.FieldBadge(b.Field, "").Tooltip
	lead, _, _ := strings.Cut(spec, " Meta did not report")
	return strings.TrimSpace(strings.TrimPrefix(b.Tooltip, lead))
}

func explainCanSend(r reading, from, to string, recovery bool) (string, string) {
	reason, remedy := explainField("can_send_message", "")(r, from, to, recovery)
	if recovery {
		return reason, ""
	}
	if _, why := whatsapp.CanSendVerdict(r.phone(), r.snap.BusinessHealth); why != "" {
		reason += " Meta says: " + strings.TrimRight(why, ".") + "."
	}
	remedy = "Fix what Meta names (the inbox page shows it with Meta's suggested solution), in WhatsApp Manager or Business Settings."
	return reason, remedy
}

// tokenWorking is the token rule's value while Meta accepts the token.
const tokenWorking = "working"

// readToken: a fetch that worked says the token works; one Meta refused for the token
// (expired, revoked, a permission missing) says it does not; other failures say nothing.
func readToken(r reading) (string, bool) {
	if r.snap.Source == db.SourceWebhook {
		return "", false // a webhook carries the last fetch's outcome, not a new one
	}
	if r.snap.OK {
		return tokenWorking, true
	}
	switch r.snap.ErrorKind {
	case whatsapp.KindTokenExpired, whatsapp.KindPermissionMissing:
		return string(r.snap.ErrorKind), true
	}
	return "", false
}

func explainToken(r reading, from, to string, recovery bool) (string, string) {
	if recovery {
		return "Meta accepts the inbox's access token again; health checks and registration work again.", ""
	}
	e := whatsapp.Kind(to).Explain()
	return e.Message, e.Remedy
}

// Registration values.
const (
	regRegistered     = "registered"
	regNotApplicable  = "not_applicable" // coexistence, On-Premises: never registered from here
	regInProgress     = "in_progress"
	regOverdue        = "overdue"
	regPINNeeded      = "pin_needed"
	regNameDeclined   = "display_name_declined"
	regAttemptsUsed   = "attempts_used"
	regNotVerifiedYet = "verification_needed"
)

func registrationSeverity(v string) int {
	switch v {
	case regRegistered, regNotApplicable, regInProgress:
		return 0
	case regOverdue:
		return 1
	}
	return 2 // a person must act
}

// readRegistration says where registration stands: done, not ours, in progress, late
// (not done registrationOverdueAfter after the inbox was added), or stuck on a person
// (the PIN Meta holds, a declined display name, Meta's attempts spent). A failed fetch
// says nothing.
func readRegistration(r reading) (string, bool) {
	if !r.snap.OK || r.snap.Phone == nil {
		return "", false
	}
	state := r.advice.State
	switch {
	case state == whatsapp.StateRegistered || r.advice.Done:
		return regRegistered, true
	case state == whatsapp.StateCoexistence || state == whatsapp.StateOnPremise:
		return regNotApplicable, true
	case r.inbox.PINState == db.PINStateMismatch || r.advice.Offers(health.ActionEnterPIN):
		return regPINNeeded, true
	case state == whatsapp.StateDisplayNameActionRequired:
		return regNameDeclined, true
	case r.attemptsUsed:
		return regAttemptsUsed, true
	case state == whatsapp.StateNameChangeNeedsRegister:
		return regInProgress, true
	}
	if r.now.Sub(r.inbox.CreatedAt) >= r.registrationOverdueAfter {
		if r.advice.Offers(health.ActionRequestCode) {
			return regNotVerifiedYet, true
		}
		return regOverdue, true
	}
	return regInProgress, true
}

// explainRegistration words registration alerts with the advice the inbox page shows.
func explainRegistration(r reading, from, to string, recovery bool) (string, string) {
	a := r.advice
	if recovery {
		if to == regRegistered {
			return "The number is registered with the WhatsApp Cloud API and can send messages.", ""
		}
		return a.Title + ". " + a.Reason, ""
	}
	reason := a.Title + ". " + a.Reason
	if to == regOverdue || to == regNotVerifiedYet {
		reason = fmt.Sprintf("Still not registered %s after the number was added. %s", roundHours(r.now.Sub(r.inbox.CreatedAt)), reason)
	}
	remedy := a.Remedy
	if remedy == "" {
		remedy = a.Next
	}
	if remedy == "" {
		remedy = "Open the inbox page: it says what is in the way and offers what can be done."
	}
	return reason, remedy
}

func roundHours(d time.Duration) string {
	h := int(d.Hours())
	if h < 48 {
		return fmt.Sprintf("%d hours", h)
	}
	return fmt.Sprintf("%d days", h/24)
}

// Account-level events (account_update) are events, not states: each one Meta sends
// about a business account is an alert, except the ones that need nobody.
func accountEventAlert(change whatsapp.WebhookChange) (alertType, event, reason, remedy string, ok bool) {
	u, err := change.AccountUpdate()
	if err != nil {
		return "", "", "", "", false
	}
	event = whatsapp.CanonicalAccountEvent(u.Event)
	reason = whatsapp.ExplainAccountEvent(u.Event)
	remedy = "Read Meta's notice for the business account in WhatsApp Manager (Account quality) and follow it; appeal there if you disagree."
	switch event {
	case whatsapp.AccountEventRestriction, whatsapp.AccountEventViolation, whatsapp.AccountEventDeleted,
		whatsapp.AccountEventOffboarded, whatsapp.AccountEventPartnerRemoved:
		return KindAccountEvent.ProblemType(), event, reason, remedy, true
	case whatsapp.AccountEventDisabled:
		if u.BanInfo != nil && u.BanInfo.WABABanState == whatsapp.BanStateReinstate {
			return KindAccountEvent.RecoveredType(), event + " " + u.BanInfo.WABABanState, reason, "", true
		}
		if u.BanInfo != nil && u.BanInfo.WABABanState != "" {
			event += " " + u.BanInfo.WABABanState
		}
		return KindAccountEvent.ProblemType(), event, reason, remedy, true
	case whatsapp.AccountEventReconnected:
		return KindAccountEvent.RecoveredType(), event, reason, "", true
	}
	return "", "", "", "", false
}

// Webhook silence values.
const (
	webhooksReceiving = "receiving"
	webhooksSilent    = "silent"
)

var webhooksSilentRule = severityRule(KindWebhooksSilent, nil, func(v string) int {
	if v == webhooksSilent {
		return 1
	}
	return 0
}, func(r reading, from, to string, recovery bool) (string, string) {
	if recovery {
		return "An account-level webhook from Meta arrived for the business account again.", ""
	}
	return "No account-level webhook (name reviews, quality, account updates) has arrived from Meta for this number's business account for 7 days, though the app is subscribed to it: Meta probably sends them to another callback.",
		"Open the inbox's Settings tab: it shows where Meta sends the webhooks and the callback URL to set in the Meta App Dashboard."
})
