package health

import (
	"errors"
	"fmt"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// The words for what the registrar records and refuses, so pages and the API only
// render them.

// TechnicalSeparator ends the plain part of a stored message; Meta's own words follow
// it, which pages show behind "Technical details" (views.TechnicalSplit).
const TechnicalSeparator = "\nMeta's answer: "

// AttemptDescription is one registration attempt in plain words, for the attempts table.
type AttemptDescription struct {
	Trigger string // what asked ("Complete registration button")
	Outcome string // "Registered", "Failed", ...
	Tone    whatsapp.Tone
	Reason  string // why it came out so
	Detail  string // Meta's code and subcode, or that no call was made
}

// DescribeAttempt words one registration attempt.
func DescribeAttempt(a db.RegistrationAttempt) AttemptDescription {
	d := AttemptDescription{Trigger: triggerText(a.Trigger)}
	d.Outcome, d.Tone = outcomeText(a.Outcome)
	switch {
	case a.Outcome == db.OutcomeRegistered:
		d.Reason = "Meta accepted the registration."
	case a.Outcome == db.OutcomeInterrupted || !a.GraphCalled:
		d.Reason = a.Message
	case a.ErrorKind != whatsapp.KindNone:
		d.Reason = a.ErrorKind.Explain().Title
	default:
		d.Reason = a.Message
	}
	if a.GraphCode != 0 {
		d.Detail = fmt.Sprintf("Meta error %d", a.GraphCode)
		if a.GraphSubcode != 0 {
			d.Detail += fmt.Sprintf("/%d", a.GraphSubcode)
		}
	}
	if !a.GraphCalled && a.Outcome != db.OutcomeInFlight {
		d.Detail = "No call to Meta was made."
	}
	return d
}

func triggerText(trigger string) string {
	switch trigger {
	case db.TriggerBanner:
		return "Complete registration button"
	case db.TriggerAPI:
		return "API"
	case db.TriggerAutomatic:
		return "Automatic retry"
	case db.TriggerWebhook:
		return "Display name approved (webhook)"
	case db.TriggerSetup:
		return "Inbox setup"
	case db.TriggerNameChange:
		return "Display name change approved"
	}
	return trigger
}

func outcomeText(outcome string) (string, whatsapp.Tone) {
	switch outcome {
	case db.OutcomeRegistered:
		return "Registered", whatsapp.ToneGreen
	case db.OutcomePINSet:
		return "New PIN set", whatsapp.ToneGreen
	case db.OutcomeFailed:
		return "Failed", whatsapp.ToneRed
	case db.OutcomeInterrupted:
		return "Interrupted", whatsapp.ToneAmber
	case db.OutcomeInFlight:
		return "In progress", whatsapp.ToneGrey
	case db.OutcomeDeregistered:
		return "Deregistered", whatsapp.ToneAmber
	case string(OutcomeDeferred):
		return "Not tried now", whatsapp.ToneAmber
	case string(OutcomeSkipped):
		return "Not needed", whatsapp.ToneGrey
	}
	return outcome, whatsapp.ToneGrey
}

// DescribePINState says what is known of an inbox's two-step PIN (never the PIN).
func DescribePINState(state string) string {
	switch state {
	case db.PINStateGenerated:
		return "Set by Inbox Health (stored encrypted)"
	case db.PINStateProvided:
		return "Provided by an administrator (stored encrypted)"
	case db.PINStateConfirmed:
		return "Confirmed by Meta (stored encrypted)"
	case db.PINStateMismatch:
		return "Meta holds a different PIN — an administrator must enter it or set a new one"
	default:
		return "None yet — one is made when the number is registered"
	}
}

// Refusal words an error that refused a person's request before any call to Meta; ""
// for any other error (a failure to report as such).
func Refusal(err error) string {
	switch {
	case errors.Is(err, ErrInvalidPIN):
		return "Enter the PIN as exactly 6 digits."
	case errors.Is(err, ErrRegistrationInProgress):
		return "A registration is in progress right now. Wait a moment and try again."
	case errors.Is(err, ErrNoDeregistrationPending):
		return "Deregistering is only offered after Meta said a previous deregistration did not finish."
	case errors.Is(err, ErrNotEnoughCallsLeft):
		return "Deregistering and registering again needs two of Meta's 10 attempts per 72 hours, and fewer are left."
	case errors.Is(err, ErrNewPINNotConfirmed):
		return "To set a new PIN, tick the box confirming that the old PIN stops working everywhere."
	}
	return ""
}

// MetaCheckDescription is how an inbox fared in the check of its token and ids with
// Meta, in plain words.
type MetaCheckDescription struct {
	Label string
	Tone  whatsapp.Tone
	Note  string
}

// DescribeMetaCheck words the inbox's check with Meta (db.Inbox.MetaCheck).
func DescribeMetaCheck(in db.Inbox) MetaCheckDescription {
	switch in.MetaCheck {
	case db.MetaCheckPassed:
		return MetaCheckDescription{Label: "Checked", Tone: whatsapp.ToneGreen,
			Note: "Meta lists this number in the business account, read with this inbox's access token."}
	case db.MetaCheckFailed:
		return MetaCheckDescription{Label: "Check failed", Tone: whatsapp.ToneRed,
			Note: in.MetaCheckProblem + " Fix it with Edit (or Reconnect for the token) on the Settings tab; the monitor checks again at every sweep."}
	}
	return MetaCheckDescription{Label: "Not checked yet", Tone: whatsapp.ToneGrey,
		Note: "Meta could not be reached when this inbox was saved; the monitor's next sweep checks its token and IDs."}
}

// MetaCheckAPIValue is the check as the JSON API names it: passed, not_checked_yet or failed.
func MetaCheckAPIValue(check string) string {
	if check == db.MetaCheckPending || check == "" {
		return "not_checked_yet"
	}
	return check
}

// changeActions words the actions of the inbox change log.
var changeActions = map[string]string{
	db.ChangeCreated:     "Added",
	db.ChangeImported:    "Imported from a WhatsApp Business Account",
	db.ChangeEdited:      "Edited",
	db.ChangeReconnected: "Reconnected with a new access token",
	db.ChangePINProvided: "Two-step PIN given (the one Meta holds)",
	db.ChangePINReset:    "New two-step PIN set at Meta",
}

// changeFields names the fields the change log mentions.
var changeFields = map[string]string{
	"name":             "Name",
	FieldPhoneNumber:   "Phone number",
	FieldPhoneNumberID: "Phone number ID",
	FieldWABAID:        "WhatsApp Business Account ID",
	FieldBusinessID:    "Business portfolio ID",
	FieldAccessToken:   "Access token",
	"pin":              "Two-step PIN",
	"imported_from":    "From",
}

// DescribeChange words one entry of an inbox's change log: what was done, and one line
// per field (a secret is named, its value never shown).
func DescribeChange(c db.InboxChange) (action string, details []string) {
	action = changeActions[c.Action]
	if action == "" {
		action = c.Action
	}
	secretVerb := "changed"
	if c.Action == db.ChangeCreated || c.Action == db.ChangeImported {
		secretVerb = "set"
	}
	for _, f := range c.Details {
		label := changeFields[f.Field]
		if label == "" {
			label = f.Field
		}
		switch {
		case f.Secret:
			details = append(details, label+": "+secretVerb+" (not shown)")
		case f.From != "" && f.To != "":
			details = append(details, label+": "+f.From+" → "+f.To)
		case f.From != "":
			details = append(details, label+": "+f.From+" → (none)")
		default:
			details = append(details, label+": "+f.To)
		}
	}
	return action, details
}
