package alerts

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// PayloadVersion is the version of the webhook payload below. A change that removes or
// renames a member, or changes its meaning, gets a new version; members may be added
// within a version.
const PayloadVersion = 1

// Payload is the JSON body of a webhook delivery (docs/API.md, "Alert webhooks"). It
// never carries a token, PIN, password or destination secret.
type Payload struct {
	Version int    `json:"version"`
	ID      int64  `json:"id"`   // the alert's id: the same on every retry, for deduplication
	Type    string `json:"type"` // "<kind>.problem", "<kind>.recovered" or "test"
	Kind    string `json:"kind"`
	// Recovery: the alert says a problem ended.
	Recovery bool           `json:"recovery"`
	Account  PayloadAccount `json:"account"`
	Inbox    *PayloadInbox  `json:"inbox"` // null for a test alert
	From     string         `json:"from"`  // the value before ("" for events)
	To       string         `json:"to"`    // the value now, or the event Meta sent
	Reason   string         `json:"reason"`
	Remedy   string         `json:"remedy"`
	Count    int            `json:"count"` // transitions this alert stands for (grouped when > 1)
	Occurred time.Time      `json:"occurred_at"`
	URL      string         `json:"url"` // the inbox's page (the Alerts page for a test)
	Headline string         `json:"headline"`
}

// PayloadAccount is the account an alert is about.
type PayloadAccount struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// PayloadInbox is the inbox an alert is about.
type PayloadInbox struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	PhoneNumber string `json:"phone_number"`
}

// payloadOf renders a stored alert for delivery.
func payloadOf(a db.Alert, accountName, frontendURL string) Payload {
	p := Payload{Version: PayloadVersion, ID: a.ID, Type: a.Type, Kind: a.Kind, Recovery: IsRecovery(a.Type),
		Account: PayloadAccount{ID: a.AccountID, Name: accountName}, From: a.From, To: a.To,
		Reason: a.Reason, Remedy: a.Remedy, Count: a.Count, Occurred: a.OccurredAt.UTC()}
	if a.Type != TypeDigest {
		p.Count = max(p.Count, 1)
	}
	base := strings.TrimRight(frontendURL, "/")
	if a.InboxID != nil {
		p.Inbox = &PayloadInbox{ID: *a.InboxID, Name: a.InboxName, PhoneNumber: a.PhoneNumber}
		p.URL = fmt.Sprintf("%s/accounts/%d/inboxes/%d/health", base, a.AccountID, *a.InboxID)
	} else {
		p.URL = fmt.Sprintf("%s/accounts/%d/alerts", base, a.AccountID)
	}
	p.Headline = headlineOf(p)
	if p.Count > 1 && p.Type != TypeDigest {
		p.Reason = fmt.Sprintf("This changed %d times since the last alert about it (at most one alert per number and kind per hour); it is now as below. %s",
			p.Count, p.Reason)
	}
	return p
}

// headlineOf is an alert's one-line summary, used as the email subject and the chat
// message's text: "[Problem] Acme Support (+14155550142): quality dropped (GREEN → RED)".
func headlineOf(p Payload) string {
	tag := "[Problem]"
	if p.Recovery {
		tag = "[Recovered]"
	}
	switch p.Type {
	case TypeTest:
		return "[Test] Inbox Health alerts reach this destination"
	case TypeDigest:
		switch p.Count {
		case 0:
			return "[Digest] " + p.Account.Name + ": no alerts in the last 24 hours"
		case 1:
			return "[Digest] " + p.Account.Name + ": 1 alert in the last 24 hours"
		}
		return fmt.Sprintf("[Digest] %s: %d alerts in the last 24 hours", p.Account.Name, p.Count)
	}
	who := "?"
	if p.Inbox != nil {
		who = p.Inbox.Name
		if p.Inbox.PhoneNumber != "" {
			who += " (" + p.Inbox.PhoneNumber + ")"
		}
	}
	line := tag + " " + who + ": " + Headline(Kind(p.Kind), p.Type)
	switch {
	case p.From != "" && p.To != "":
		line += " (" + p.From + " → " + p.To + ")"
	case p.To != "":
		line += " (" + p.To + ")"
	}
	if p.Count > 1 {
		line += fmt.Sprintf(", %d changes grouped", p.Count)
	}
	return line
}

// Webhook signature headers. The signature is HMAC-SHA256, under the destination's
// secret, of the timestamp, a dot and the raw body: "<X-InboxHealth-Timestamp>.<body>".
// A receiver recomputes it, compares in constant time, and refuses a timestamp more
// than a few minutes old (a replay).
const (
	HeaderSignature = "X-InboxHealth-Signature"
	HeaderTimestamp = "X-InboxHealth-Timestamp"
	HeaderEvent     = "X-InboxHealth-Event"
	HeaderDelivery  = "X-InboxHealth-Delivery"
)

// Sign returns the X-InboxHealth-Signature value of body sent at timestamp (unix seconds).
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks a delivery as a receiver should: the signature matches the
// timestamp and body, and the timestamp is within maxAge of now. The demo's catcher
// uses it; docs/API.md shows the same steps for other languages.
func VerifySignature(secret, signature, timestamp string, body []byte, now time.Time, maxAge time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("alerts: bad %s %q", HeaderTimestamp, timestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > maxAge || d < -maxAge {
		return fmt.Errorf("alerts: %s is %s away from now (replay?)", HeaderTimestamp, d.Round(time.Second))
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature)) {
		return fmt.Errorf("alerts: %s does not match", HeaderSignature)
	}
	return nil
}
