package alerts

import (
	"fmt"
	"net/mail"
	"strings"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// Destination limits.
const (
	maxRecipients   = 20
	minSecretLength = 16
	maxSecretLength = 256
	maxURLLength    = 2048
)

// DestinationInput is a destination as an administrator gives it (the API's POST body
// and the Alerts page's form).
type DestinationInput struct {
	Channel string   `json:"kind"`
	URL     string   `json:"url"`
	Secret  string   `json:"secret"`
	To      []string `json:"to"`
	Events  []string `json:"events"`
	// Digest: one daily digest of these kinds instead of each alert as it happens.
	Digest bool `json:"digest"`
}

// NewDestination checks a destination for an account and returns what to store, or
// the problem of each field ("kind", "url", "secret", "to", "events").
func NewDestination(accountID int64, in DestinationInput, policy URLPolicy) (db.NewAlertDestination, map[string]string) {
	errs := map[string]string{}
	d := db.NewAlertDestination{AccountID: accountID, Channel: strings.TrimSpace(in.Channel), Digest: in.Digest}
	kinds, err := ParseKinds(in.Events)
	if err != nil {
		errs["events"] = err.Error()
	}
	d.Kinds = kinds
	url, secret := strings.TrimSpace(in.URL), in.Secret
	switch d.Channel {
	case ChannelEmail:
		if url != "" {
			errs["url"] = "an email destination has no URL"
		}
		if secret != "" {
			errs["secret"] = "an email destination has no secret"
		}
		for _, raw := range in.To {
			raw = strings.TrimSpace(raw)
			if raw == "" {
				continue
			}
			a, err := mail.ParseAddress(raw)
			if err != nil || !strings.Contains(a.Address, "@") {
				errs["to"] = fmt.Sprintf("%q is not an email address", raw)
				break
			}
			if !containsFold(d.Recipients, a.Address) {
				d.Recipients = append(d.Recipients, a.Address)
			}
		}
		switch {
		case errs["to"] != "":
		case len(d.Recipients) == 0:
			errs["to"] = "choose at least one member or give an address"
		case len(d.Recipients) > maxRecipients:
			errs["to"] = fmt.Sprintf("at most %d addresses", maxRecipients)
		}
		d.Label = strings.Join(d.Recipients, ", ")
	case ChannelSlack, ChannelWebhook:
		if len(in.To) > 0 {
			errs["to"] = "only an email destination has addresses"
		}
		switch u, err := policy.CheckURL(url); {
		case url == "":
			errs["url"] = "give the URL to post alerts to"
		case len(url) > maxURLLength:
			errs["url"] = fmt.Sprintf("at most %d characters", maxURLLength)
		case err != nil:
			errs["url"] = strings.TrimPrefix(err.Error(), ErrDestinationRefused.Error()+": ")
		default:
			d.URL = u.String()
			d.Label = u.Scheme + "://" + u.Host
		}
		if d.Channel == ChannelSlack && secret != "" {
			errs["secret"] = "a Slack webhook has no signing secret (its URL is the secret)"
		}
		if d.Channel == ChannelWebhook {
			switch n := len(secret); {
			case n < minSecretLength:
				errs["secret"] = fmt.Sprintf("give a signing secret of at least %d characters", minSecretLength)
			case n > maxSecretLength:
				errs["secret"] = fmt.Sprintf("at most %d characters", maxSecretLength)
			default:
				d.Secret = secret
			}
		}
	default:
		errs["kind"] = "choose email, slack or webhook"
	}
	if len(errs) > 0 {
		return db.NewAlertDestination{}, errs
	}
	return d, nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
