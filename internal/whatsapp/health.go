package whatsapp

import (
	"slices"
	"strings"
)

// Tone is the colour family a status or badge is drawn in, chosen so a person can
// tell at a glance whether something is fine (green), in progress or degraded
// (amber), broken (red) or not applicable / not known (grey).
type Tone string

// Tones, from healthy to not known.
const (
	ToneGreen Tone = "green"
	ToneAmber Tone = "amber"
	ToneRed   Tone = "red"
	ToneGrey  Tone = "grey"
)

// OverallStatus is the one verdict about a number that a person understands at once;
// the detailed badges (see HealthBadges) explain it.
type OverallStatus struct {
	Code    string // stable machine name, see the Overall* constants
	Label   string // short human name
	Tone    Tone
	Summary string // one sentence in plain words
	// Severity ranks the status for the fleet list: 1 is the most urgent. Blocked
	// numbers and token problems come first (nothing works until a person acts), then
	// what stops or limits sending, then what needs watching or waiting, then the
	// numbers this product does not manage, and connected numbers last.
	Severity int
}

// Overall status codes. They are part of the JSON API and of filter URLs, so keep them
// stable.
const (
	OverallConnected                 = "connected"
	OverallRegistrationIncomplete    = "registration_incomplete"
	OverallDisplayNameInReview       = "display_name_in_review"
	OverallDisplayNameActionRequired = "display_name_action_required"
	OverallQualityLow                = "quality_low"
	OverallRestricted                = "restricted"
	OverallBlocked                   = "blocked"
	OverallTokenExpired              = "token_expired"
	OverallOnPremise                 = "on_premise"
	OverallCoexistence               = "coexistence"
	OverallUnknown                   = "unknown"
)

// AllStatusCodes lists every overall status with its label and usual tone, in the
// order a filter dropdown shows them, with a generic summary. quality_low is listed
// as amber; DeriveOverallStatus draws it red when Meta rates the quality RED.
func AllStatusCodes() []OverallStatus {
	return append([]OverallStatus(nil), statusCatalogue...)
}

// statusCatalogue is the one list of overall statuses; DeriveOverallStatus reads it on
// every call (every list row, every API request), so it is built once.
var statusCatalogue = []OverallStatus{
	{OverallConnected, "Connected", ToneGreen, "The number is registered and can send messages.", 11},
	{OverallRegistrationIncomplete, "Registration incomplete", ToneAmber, "The number is not registered with the Cloud API yet, so it cannot send messages.", 4},
	{OverallDisplayNameInReview, "Display name in review", ToneAmber, "Meta is reviewing the display name.", 8},
	{OverallDisplayNameActionRequired, "Display name needs action", ToneRed, "The display name must be fixed in WhatsApp Manager.", 3},
	{OverallQualityLow, "Quality low", ToneAmber, "Recipients have been blocking or reporting messages from this number.", 6},
	{OverallRestricted, "Restricted", ToneAmber, "Meta is limiting what this number can send.", 5},
	{OverallBlocked, "Blocked", ToneRed, "Meta is blocking messages from this number.", 2},
	{OverallTokenExpired, "Token expired", ToneRed, "The access token has expired or was revoked, so the number cannot be checked or used.", 1},
	{OverallOnPremise, "On-Premises API", ToneGrey, "The number uses the On-Premises API, which this product does not manage.", 9},
	{OverallCoexistence, "WhatsApp Business app", ToneGrey, "The number is also used in the WhatsApp Business app, so it is never registered from here.", 10},
	{OverallUnknown, "Unknown", ToneGrey, "The number's health is not known yet.", 7},
}

// StatusByCode returns the catalogue entry of an overall status code (with its
// generic summary); a code this version does not know is shown as it is, grey, and
// ranked with unknown.
func StatusByCode(code string) OverallStatus {
	var unknown OverallStatus
	for _, s := range statusCatalogue {
		if s.Code == code {
			return s
		}
		if s.Code == OverallUnknown {
			unknown = s
		}
	}
	return OverallStatus{Code: code, Label: code, Tone: ToneGrey, Summary: unknown.Summary, Severity: unknown.Severity}
}

// StatusesBySeverity lists every overall status, the most urgent first: the order of
// the fleet list's default sort and of its counts.
func StatusesBySeverity() []OverallStatus {
	out := AllStatusCodes()
	slices.SortStableFunc(out, func(a, b OverallStatus) int { return a.Severity - b.Severity })
	return out
}

// NeedsAttention reports whether a person should look at a number: everything but
// connected does, including grey states, because nobody has confirmed those work.
func NeedsAttention(s OverallStatus) bool {
	return s.Code != OverallConnected
}

// DeriveOverallStatus reduces a number's health to one OverallStatus.
//
// p is the latest good phone-number data, nil when there is none yet. businessHealth
// is the WhatsApp Business Account's own health_status, nil when not fetched.
// fetchError is the kind of the latest fetch's failure (KindNone when it worked);
// other than the two kinds below, a failed fetch leaves the verdict on the last good
// data, because a network hiccup says nothing about the number.
//
// When several problems apply, the one a person must fix first wins:
//
//  1. token_expired — fetch failed with KindTokenExpired: nothing else can be trusted
//     or fixed until someone reconnects.
//  2. blocked — fetch failed with KindAccountLocked or KindPolicyBlocked,
//     can_send_message BLOCKED (on the number or the business account), or status
//     BANNED, DISCONNECTED, DELETED.
//  3. unknown — no phone data (and nothing above applies).
//  4. display_name_action_required — effective name status DECLINED, EXPIRED, NONE,
//     NON_EXISTS.
//  5. display_name_in_review — effective name status PENDING_REVIEW.
//  6. coexistence / on_premise / registration_incomplete — not registered with the
//     Cloud API (see Decide); coexistence when the number is also on the WhatsApp
//     Business app (never registered from here, so "incomplete" would mislead),
//     on_premise when the platform is ON_PREMISE. A registered coexistence number
//     goes on to the steps below; its badge says it is on the app.
//  7. restricted — status RESTRICTED, RATE_LIMITED, FLAGGED, or can_send_message
//     LIMITED on a registered number (unregistered numbers are always LIMITED, which
//     step 6 already explains).
//  8. quality_low — quality RED (red) or YELLOW (amber).
//  9. connected.
func DeriveOverallStatus(p *PhoneNumber, businessHealth *HealthStatus, fetchError Kind) OverallStatus {
	switch fetchError {
	case KindTokenExpired:
		return overallStatus(OverallTokenExpired,
			"Meta no longer accepts the access token, so reconnect the WhatsApp account to resume checks and messages.")
	case KindAccountLocked:
		return overallStatus(OverallBlocked,
			"Meta has locked the WhatsApp Business account, so no messages can be sent until Meta unlocks it.")
	case KindPolicyBlocked:
		return overallStatus(OverallBlocked,
			"Meta has temporarily blocked this account for policy violations, so it cannot be used until the block ends.")
	}

	var numberHealth *HealthStatus
	if p != nil {
		numberHealth = p.HealthStatus
	}
	if canSend(numberHealth, businessHealth) == CanSendBlocked {
		summary := "Meta is blocking messages from this number."
		if reason := firstHealthReason(CanSendBlocked, numberHealth, businessHealth); reason != "" {
			summary = withReason("Meta is blocking messages from this number", reason)
		}
		return overallStatus(OverallBlocked, summary)
	}
	if p == nil {
		if fetchError != KindNone {
			return overallStatus(OverallUnknown, "We could not reach Meta to check this number yet.")
		}
		return overallStatus(OverallUnknown, "This number has not been checked with Meta yet.")
	}
	switch p.Status {
	case "BANNED":
		return overallStatus(OverallBlocked, "Meta has banned this number, so it cannot send messages.")
	case "DISCONNECTED":
		return overallStatus(OverallBlocked, "This number is disconnected from WhatsApp, so it cannot send messages.")
	case "DELETED":
		return overallStatus(OverallBlocked, "This number was deleted from the WhatsApp Business account.")
	}

	registered := isRegisteredOnCloudAPI(*p)
	switch p.EffectiveNameStatus() {
	case NameDeclined, NameExpired, NameNone, NameNonExists:
		if registered {
			return overallStatus(OverallDisplayNameActionRequired,
				"The display name needs your attention in WhatsApp Manager; Meta may limit this number until it is fixed.")
		}
		return overallStatus(OverallDisplayNameActionRequired,
			"The display name needs your attention in WhatsApp Manager before this number can be registered.")
	case NamePendingReview:
		if registered {
			return overallStatus(OverallDisplayNameInReview,
				"Meta is reviewing the new display name; messages keep flowing under the current one.")
		}
		return overallStatus(OverallDisplayNameInReview,
			"Meta is reviewing the display name, and registration will finish automatically once it is approved.")
	}

	if !registered {
		if p.OnBizApp() {
			return overallStatus(OverallCoexistence,
				"This number is also used in the WhatsApp Business app, so it is connected through the app and never registered from here.")
		}
		if p.PlatformType == PlatformOnPremise {
			return overallStatus(OverallOnPremise,
				"This number uses the On-Premises API, which this product does not manage.")
		}
		return overallStatus(OverallRegistrationIncomplete,
			"This number is not registered with the WhatsApp Cloud API yet, so Meta limits what it can send until it is.")
	}

	switch {
	case p.Status == "FLAGGED":
		return overallStatus(OverallRestricted,
			"Meta flagged this number for low quality, and its messaging limit drops if quality does not improve.")
	case p.Status == "RESTRICTED":
		return overallStatus(OverallRestricted, "Meta has restricted what this number may send for now.")
	case p.Status == "RATE_LIMITED":
		return overallStatus(OverallRestricted, "Meta is rate limiting this number for now.")
	case canSend(numberHealth, businessHealth) == CanSendLimited:
		summary := "Meta is limiting messages from this number."
		if reason := firstHealthReason(CanSendLimited, numberHealth, businessHealth); reason != "" {
			summary = withReason("Meta is limiting messages from this number", reason)
		}
		return overallStatus(OverallRestricted, summary)
	}

	switch p.QualityRating {
	case "RED":
		s := overallStatus(OverallQualityLow,
			"Many recipients block or report this number's messages, so Meta may lower its limit or restrict it.")
		s.Tone = ToneRed
		return s
	case "YELLOW":
		return overallStatus(OverallQualityLow,
			"Some recipients block or report this number's messages, so its quality needs watching.")
	}

	return overallStatus(OverallConnected, "This number is registered and can send messages.")
}

// overallStatus builds a status from the catalogue in AllStatusCodes so labels and
// tones are written down once.
func overallStatus(code, summary string) OverallStatus {
	s := StatusByCode(code)
	s.Summary = summary
	return s
}

// canSend merges the verdicts of the number and its business account: the worse one
// wins, because a blocked business account blocks every number in it.
func canSend(verdicts ...*HealthStatus) string {
	worst := ""
	for _, h := range verdicts {
		if h == nil {
			continue
		}
		switch h.CanSendMessage {
		case CanSendBlocked:
			return CanSendBlocked
		case CanSendLimited:
			worst = CanSendLimited
		case CanSendAvailable:
			if worst == "" {
				worst = CanSendAvailable
			}
		}
	}
	return worst
}

// firstHealthReason finds Meta's own words for why an entity has the given verdict:
// an error description, else additional info. Meta's words are the most specific
// explanation a customer can get.
func firstHealthReason(verdict string, verdicts ...*HealthStatus) string {
	for _, h := range verdicts {
		if h == nil {
			continue
		}
		for _, e := range h.Entities {
			if e.CanSendMessage != verdict {
				continue
			}
			for _, he := range e.Errors {
				if d := strings.TrimSpace(he.ErrorDescription); d != "" {
					return d
				}
			}
			for _, info := range e.AdditionalInfo {
				if info = strings.TrimSpace(info); info != "" {
					return info
				}
			}
		}
	}
	return ""
}

// withReason joins our lead-in and Meta's reason into one sentence.
func withReason(leadIn, reason string) string {
	reason = strings.TrimRight(reason, " .")
	return leadIn + ": " + reason + "."
}

// CanSendVerdict is whether messages from the number get through, merging the number's
// and its business account's health_status the way the overall status does (the worse
// wins), with Meta's own words for it when Meta gave any. verdict is "" when neither
// was reported.
func CanSendVerdict(p *PhoneNumber, businessHealth *HealthStatus) (verdict, reason string) {
	var numberHealth *HealthStatus
	if p != nil {
		numberHealth = p.HealthStatus
	}
	verdict = canSend(numberHealth, businessHealth)
	if verdict != "" && verdict != CanSendAvailable {
		reason = firstHealthReason(verdict, numberHealth, businessHealth)
	}
	return verdict, reason
}
