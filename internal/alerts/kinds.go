// Package alerts tells people when a number gets into trouble, and when it recovers:
// it watches the health the health service records (health.HealthObserver), turns
// transitions into alerts (one per transition, flaps grouped), and delivers them by
// email, Slack-compatible webhook or signed JSON webhook from an outbox that retries
// with backoff for a day and survives restarts.
package alerts

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is what an alert is about; destinations choose the kinds they get. The values
// are part of the JSON API and of the webhook payload: keep them stable.
type Kind string

// Alert kinds.
const (
	// KindStatus: the number's status left CONNECTED (FLAGGED, RESTRICTED, BANNED, ...)
	// or got worse; recovery: back to CONNECTED.
	KindStatus Kind = "status"
	// KindQuality: the quality rating dropped (GREEN → YELLOW → RED); recovery: GREEN.
	KindQuality Kind = "quality"
	// KindCanSend: Meta's can_send_message became LIMITED or BLOCKED; recovery: AVAILABLE.
	KindCanSend Kind = "can_send"
	// KindMessagingLimit: the messaging limit went down; recovery: back to where it was.
	KindMessagingLimit Kind = "messaging_limit"
	// KindToken: Meta stopped accepting the inbox's access token; recovery: it works again.
	KindToken Kind = "token"
	// KindRegistration: registration still not done long after the number was added,
	// or it needs a person (the PIN, a declined display name, Meta's 10 attempts used);
	// recovery: registered.
	KindRegistration Kind = "registration"
	// KindAccountEvent: Meta restricted, disabled or offboarded the business account, or
	// found a violation (account_update); recovery: reinstated or reconnected.
	KindAccountEvent Kind = "account_event"
	// KindWebhooksSilent: no account-level webhook arrived for the business account for
	// a week while the app is subscribed (webhook routing probably broken); recovery:
	// one arrived.
	KindWebhooksSilent Kind = "webhooks_silent"
	// KindTest is a "Send test alert": it goes to one destination, whatever its kinds.
	KindTest Kind = "test"
	// KindDigest is a daily digest, for destinations that asked for one.
	KindDigest Kind = "digest"
)

// AllKinds lists the kinds a destination can get, in the order pages show them.
var AllKinds = []Kind{KindStatus, KindQuality, KindCanSend, KindMessagingLimit, KindToken,
	KindRegistration, KindAccountEvent, KindWebhooksSilent}

// kindText is each kind's label and its problem and recovery headlines.
var kindText = map[Kind]struct{ label, problem, recovered string }{
	KindStatus:         {"Status leaves CONNECTED", "status changed", "back to CONNECTED"},
	KindQuality:        {"Quality drops", "quality dropped", "quality recovered"},
	KindCanSend:        {"Sending limited or blocked", "sending is limited or blocked", "can send messages again"},
	KindMessagingLimit: {"Messaging limit lowered", "messaging limit lowered", "messaging limit restored"},
	KindToken:          {"Access token stops working", "access token stopped working", "access token works again"},
	KindRegistration:   {"Registration stuck or needs a person", "registration needs attention", "registered"},
	KindAccountEvent:   {"Business account events", "Meta acted on the business account", "business account back in order"},
	KindWebhooksSilent: {"No account-level webhooks for 7 days", "no account-level webhooks from Meta for 7 days", "account-level webhooks arriving again"},
	KindTest:           {"Test alert", "test alert", "test alert"},
	KindDigest:         {"Daily digest", "daily digest", "daily digest"},
}

// Label is the kind's name on the Alerts page.
func (k Kind) Label() string {
	if t, ok := kindText[k]; ok {
		return t.label
	}
	return string(k)
}

// Alert types: the payload's "type" is the kind and whether it is a problem or a
// recovery, e.g. "quality.problem", "quality.recovered"; a test alert is "test", a
// daily digest "digest".
const (
	suffixProblem   = ".problem"
	suffixRecovered = ".recovered"
	TypeTest        = "test"
	TypeDigest      = "digest"
)

// ProblemType and RecoveredType are the alert types of a kind.
func (k Kind) ProblemType() string   { return string(k) + suffixProblem }
func (k Kind) RecoveredType() string { return string(k) + suffixRecovered }

// IsRecovery reports whether an alert type is a recovery.
func IsRecovery(alertType string) bool { return strings.HasSuffix(alertType, suffixRecovered) }

// Headline is the short text of an alert type ("quality dropped").
func Headline(k Kind, alertType string) string {
	t, ok := kindText[k]
	if !ok {
		return alertType
	}
	if IsRecovery(alertType) {
		return t.recovered
	}
	return t.problem
}

// ParseKinds checks the kinds a destination asks for; none means all of them.
func ParseKinds(raw []string) ([]string, error) {
	if len(raw) == 0 {
		out := make([]string, len(AllKinds))
		for i, k := range AllKinds {
			out[i] = string(k)
		}
		return out, nil
	}
	var out []string
	for _, r := range raw {
		r = strings.TrimSpace(r)
		if !slices.Contains(AllKinds, Kind(r)) {
			names := make([]string, len(AllKinds))
			for i, k := range AllKinds {
				names[i] = string(k)
			}
			return nil, fmt.Errorf("unknown alert kind %q (known: %s)", r, strings.Join(names, ", "))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}
