package handlers

import (
	"strings"
	"unicode/utf8"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// inboxInput is the add-inbox form and the API's create body.
type inboxInput struct {
	Name          string `json:"name" form:"name"`
	PhoneNumber   string `json:"phone_number" form:"phone_number"`
	PhoneNumberID string `json:"phone_number_id" form:"phone_number_id"`
	WABAID        string `json:"waba_id" form:"waba_id"`
	BusinessID    string `json:"business_id" form:"business_id"`
	AccessToken   string `json:"access_token" form:"access_token"`
}

// validate trims the input, normalises the phone number, and returns one message per
// invalid field (empty when all is well).
func (in *inboxInput) validate() map[string]string {
	errs := in.validateFields()
	in.AccessToken = strings.TrimSpace(in.AccessToken)
	if problem := accessTokenProblem(in.AccessToken); problem != "" {
		errs["access_token"] = problem
	}
	return errs
}

// validateFields is validate without the access token: editing an inbox keeps its
// token unless a new one is given.
func (in *inboxInput) validateFields() map[string]string {
	errs := map[string]string{}
	in.Name = strings.TrimSpace(in.Name)
	in.PhoneNumberID = strings.TrimSpace(in.PhoneNumberID)
	in.WABAID = strings.TrimSpace(in.WABAID)
	in.BusinessID = strings.TrimSpace(in.BusinessID)

	if problem := nameProblem(in.Name); problem != "" {
		errs["name"] = problem
	}

	raw := strings.TrimSpace(in.PhoneNumber)
	normalized := whatsapp.NormalizePhoneNumber(raw)
	digits := strings.TrimPrefix(normalized, "+")
	switch {
	case raw == "":
		errs["phone_number"] = "Enter the WhatsApp phone number, with country code."
	case len(raw) > 32 || strings.IndexFunc(raw, notPhoneRune) >= 0 || len(digits) < 8 || len(digits) > 15:
		errs["phone_number"] = "Enter a phone number in international format, like +1 415 555 0142 (8 to 15 digits)."
	default:
		in.PhoneNumber = normalized
	}
	checkMetaID(errs, "phone_number_id", in.PhoneNumberID, true, "Enter the phone number ID shown in WhatsApp Manager (digits only).")
	checkMetaID(errs, "waba_id", in.WABAID, true, "Enter the WhatsApp Business Account ID (digits only).")
	checkMetaID(errs, "business_id", in.BusinessID, false, "The business portfolio ID is digits only; leave it empty if you do not know it.")
	return errs
}

// nameProblem says what is wrong with an inbox name ("" when it is fine).
func nameProblem(name string) string {
	switch {
	case name == "":
		return "Give the inbox a name."
	case utf8.RuneCountInString(name) > 100 || !utf8.ValidString(name):
		return "Use at most 100 characters."
	case db.HasUnsafeText(name):
		return "The name cannot contain control, invisible or text-direction characters."
	}
	return ""
}

// accessTokenProblem says what is wrong with a pasted access token ("" when it looks
// like one Meta issues).
func accessTokenProblem(token string) string {
	switch {
	case token == "":
		return "Paste the access token of a system user with whatsapp_business_management and whatsapp_business_messaging."
	case len(token) < 20 || len(token) > 4096 || strings.IndexFunc(token, notTokenRune) >= 0:
		return "This does not look like a Meta access token (20 to 4096 printable characters, no spaces)."
	}
	return ""
}

func checkMetaID(errs map[string]string, field, value string, required bool, message string) {
	if value == "" {
		if required {
			errs[field] = message
		}
		return
	}
	if len(value) > 32 || strings.IndexFunc(value, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		errs[field] = message
	}
}

func notPhoneRune(r rune) bool {
	return !(r >= '0' && r <= '9') && !strings.ContainsRune("+ -().", r)
}

func notTokenRune(r rune) bool {
	return r <= ' ' || r > '~'
}

func (in inboxInput) fields() health.InboxFields {
	return health.InboxFields{Name: in.Name, PhoneNumber: in.PhoneNumber, PhoneNumberID: in.PhoneNumberID,
		WABAID: in.WABAID, BusinessID: in.BusinessID, AccessToken: in.AccessToken}
}

func inputOf(in db.Inbox) inboxInput {
	return inboxInput{Name: in.Name, PhoneNumber: in.PhoneNumber, PhoneNumberID: in.PhoneNumberID, WABAID: in.WABAID, BusinessID: in.BusinessID}
}

// validateImported applies creation's rules to an inbox an import would create.
func validateImported(f *health.InboxFields) map[string]string {
	in := inboxInput{Name: f.Name, PhoneNumber: f.PhoneNumber, PhoneNumberID: f.PhoneNumberID, WABAID: f.WABAID,
		BusinessID: f.BusinessID, AccessToken: f.AccessToken}
	errs := in.validate()
	*f = in.fields()
	return errs
}
