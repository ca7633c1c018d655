package health

// metacheck.go checks an inbox's access token and ids with Meta before they are saved
// (creation, edits, imports), and settles later the inboxes saved while Meta could not
// be reached. It is the one place that decides what Meta's answers mean for each field
// an administrator typed.
//
// Meta's answers, and where they come from:
//   - an access token Meta does not accept (expired, revoked, malformed) is code 190,
//     or 0 (Graph API "Handling Errors",
//     https://developers.facebook.com/docs/graph-api/guides/error-handling);
//   - a token without a permission the call needs is code 10, or 200-299 ("Permission
//     is either not granted or has been removed", same page);
//   - an object the token may not see, or that does not exist, is code 100 subcode 33
//     "Unsupported get request. Object with ID ... does not exist, cannot be loaded due to
//     missing permissions, or does not support this operation" (older answers carry code
//     100 without the subcode): a phone-number id or WABA id mistyped, or one the token's
//     system user was not given, look the same;
//   - a phone-number node does not name its business account, so "this number belongs to
//     this WABA" is read from the WABA's own list, GET /{waba-id}/phone_numbers, which
//     pages (https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/phone_numbers/,
//     whose error table lists 100, 190 and 200); a number of another WABA that the same
//     token can see reads fine on its own, and is missing from that list.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// The fields of an inbox the check can find a problem with, named as the create form
// and the API name them.
const (
	FieldAccessToken   = "access_token"
	FieldPhoneNumber   = "phone_number"
	FieldPhoneNumberID = "phone_number_id"
	FieldWABAID        = "waba_id"
	FieldBusinessID    = "business_id"
)

// Connection is what an inbox reads Meta with: its access token and the ids typed for it.
type Connection struct {
	AccessToken   string
	PhoneNumber   string // E.164, as validated
	PhoneNumberID string
	WABAID        string
	BusinessID    string // optional
}

// MetaCheck is what Meta's answers said about a Connection.
type MetaCheck struct {
	// Problems names each field Meta's answers showed wrong, in plain words. Empty
	// when Meta accepted the connection, or could not be reached.
	Problems map[string]string
	// Unreachable: Meta could not be reached (network, timeout, 5xx, rate limit), so
	// nothing is known yet; the inbox may be saved as not checked yet.
	Unreachable bool
	// Phone is the number as Meta answered it, when Meta accepted the connection.
	Phone *whatsapp.PhoneNumber
}

// Passed reports whether Meta accepted the connection.
func (c MetaCheck) Passed() bool { return len(c.Problems) == 0 && !c.Unreachable }

// status is the inbox's db.MetaCheck* value for a check that found no problem.
func (c MetaCheck) status() string {
	if c.Unreachable {
		return db.MetaCheckPending
	}
	return db.MetaCheckPassed
}

// InboxRefusedError is a connection Meta refused: Fields says why, per field. Nothing
// was stored.
type InboxRefusedError struct {
	Fields map[string]string
}

func (e *InboxRefusedError) Error() string {
	return "Meta did not accept this connection: " + describeProblems(e.Fields)
}

// ErrMetaUnreachable is a listing that Meta could not be asked for (network, timeout,
// 5xx, rate limit): nothing is known, and nothing was done.
var ErrMetaUnreachable = errors.New("Meta could not be reached; try again in a few minutes")

// CheckConnection asks Meta about a connection with its own token: it reads the
// phone-number node (the token must see the number), the business account's numbers
// (the token must see the WABA, and the number must be in it; the phone number typed
// must be the one Meta has for the id) and, when a portfolio id was typed, the WABA's
// owner (it must be that portfolio).
func (r *Registrar) CheckConnection(ctx context.Context, c Connection) MetaCheck {
	node, nodeErr := r.graph.PhoneNumber(ctx, c.AccessToken, c.PhoneNumberID)
	if problem := tokenProblem(nodeErr); problem != "" {
		// The token itself was refused: the ids cannot be judged with it.
		return MetaCheck{Problems: map[string]string{FieldAccessToken: problem}}
	}
	numbers, listErr := r.graph.BusinessPhoneNumbers(ctx, c.AccessToken, c.WABAID)
	problems, listed, unreachable := judgeListing(numbers, listErr, c)
	switch {
	case nodeErr == nil || unreachable:
	case unreachableErr(nodeErr):
		unreachable = true
	case problems[FieldPhoneNumberID] == "" && problems[FieldAccessToken] == "":
		problems = withProblem(problems, FieldPhoneNumberID, "This access token cannot see a phone number with this ID: check the ID in WhatsApp Manager (Phone numbers), and that the token's system user has access to the number's WhatsApp Business Account.")
	}
	if len(problems) > 0 {
		return MetaCheck{Problems: problems}
	}
	if unreachable {
		return MetaCheck{Unreachable: true}
	}
	if problem := r.portfolioProblem(ctx, c); problem != "" {
		return MetaCheck{Problems: map[string]string{FieldBusinessID: problem}}
	}
	phone := node
	if phone == nil {
		phone = listed
	}
	return MetaCheck{Phone: phone}
}

// judgeListing says what one business account's phone_numbers list (read with the
// inbox's token) shows about the inbox's number: problems per field, the number as
// listed, or that Meta could not be reached. The check before saving and the sweep's
// settling of unchecked inboxes both decide here.
func judgeListing(numbers []whatsapp.PhoneNumber, listErr error, c Connection) (problems map[string]string, listed *whatsapp.PhoneNumber, unreachable bool) {
	if listErr != nil {
		problems, unreachable = listingError(listErr)
		return problems, nil, unreachable
	}
	for i := range numbers {
		if numbers[i].ID == c.PhoneNumberID {
			listed = &numbers[i]
			break
		}
	}
	if listed == nil {
		return map[string]string{FieldPhoneNumberID: fmt.Sprintf(
			"This is not a phone number of WhatsApp Business Account %s (Meta lists %d there): check the ID, or the business account ID. Import from a WhatsApp Business Account lists its numbers.",
			c.WABAID, len(numbers))}, nil, false
	}
	if metaHas := whatsapp.NormalizePhoneNumber(listed.DisplayPhoneNumber); metaHas != "" && c.PhoneNumber != "" && metaHas != c.PhoneNumber {
		return map[string]string{FieldPhoneNumber: "Meta has " + metaHas + " for this phone number ID: enter that number, or check the ID."}, listed, false
	}
	return nil, listed, false
}

// listingError says what a failed GET /{waba-id}/phone_numbers means for the fields.
func listingError(err error) (problems map[string]string, unreachable bool) {
	if problem := tokenProblem(err); problem != "" {
		return map[string]string{FieldAccessToken: problem}, false
	}
	if unreachableErr(err) {
		return nil, true
	}
	return map[string]string{FieldWABAID: "This access token cannot see a WhatsApp Business Account with this ID: check the ID in WhatsApp Manager (Account tools, Business account info), and that the token's system user has access to it."}, false
}

// tokenProblem words a refusal of the token itself ("" for any other answer).
func tokenProblem(err error) string {
	switch whatsapp.KindOf(err) {
	case whatsapp.KindTokenExpired:
		return "Meta did not accept this access token: it has expired, was revoked or is not a valid token. Paste a current system-user token."
	case whatsapp.KindPermissionMissing:
		return "This access token lacks a permission Meta requires: give its system user whatsapp_business_management and whatsapp_business_messaging, then paste a new token."
	}
	return ""
}

// unreachableErr reports whether err says only that Meta could not be asked now.
func unreachableErr(err error) bool {
	switch whatsapp.KindOf(err) {
	case whatsapp.KindTransient, whatsapp.KindRateLimited:
		return true
	}
	return false
}

// portfolioProblem checks a typed business portfolio id against the WABA's owner
// (owner_business_info). The field is optional and only makes links exact, so an owner
// Meta does not tell, or cannot tell now, is no problem.
func (r *Registrar) portfolioProblem(ctx context.Context, c Connection) string {
	if c.BusinessID == "" {
		return ""
	}
	owner, err := r.graph.BusinessOwner(ctx, c.AccessToken, c.WABAID)
	if err != nil || owner == "" || owner == c.BusinessID {
		return ""
	}
	return "This WhatsApp Business Account belongs to business portfolio " + owner + ": enter that ID, or leave the field empty."
}

func withProblem(problems map[string]string, field, problem string) map[string]string {
	if problems == nil {
		problems = map[string]string{}
	}
	problems[field] = problem
	return problems
}

// fieldLabels names the fields in sentences that list problems.
var fieldLabels = map[string]string{
	"name":             "Inbox name",
	FieldAccessToken:   "Access token",
	FieldPhoneNumber:   "Phone number",
	FieldPhoneNumberID: "Phone number ID",
	FieldWABAID:        "WhatsApp Business Account ID",
	FieldBusinessID:    "Business portfolio ID",
}

// describeProblems joins per-field problems into one text, in the form's field order.
func describeProblems(problems map[string]string) string {
	var parts []string
	for _, f := range []string{"name", FieldAccessToken, FieldPhoneNumber, FieldPhoneNumberID, FieldWABAID, FieldBusinessID} {
		if p := problems[f]; p != "" {
			parts = append(parts, fieldLabels[f]+": "+p)
		}
	}
	return strings.Join(parts, " ")
}

// settleMetaChecks records what a sweep's listing of one business account (read with
// the group's token) says about the group's inboxes that are not checked yet, or whose
// check failed: passed, or failed with the problem. While Meta cannot be reached they
// stay as they are.
func (m *Monitor) settleMetaChecks(ctx context.Context, g sweepGroup, numbers []whatsapp.PhoneNumber, fetchErr error) error {
	var settled []db.MetaCheckResult
	for _, in := range g.inboxes {
		if in.MetaCheck == db.MetaCheckPassed {
			continue
		}
		problems, _, unreachable := judgeListing(numbers, fetchErr, Connection{AccessToken: g.token,
			PhoneNumber: in.PhoneNumber, PhoneNumberID: in.PhoneNumberID, WABAID: in.WABAID})
		if unreachable {
			continue
		}
		r := db.MetaCheckResult{InboxID: in.ID, Check: db.MetaCheckPassed}
		if len(problems) > 0 {
			r.Check, r.Problem = db.MetaCheckFailed, describeProblems(problems)
		}
		if r.Check != in.MetaCheck || r.Problem != in.MetaCheckProblem {
			settled = append(settled, r)
		}
	}
	// One transaction for the business account, as its snapshots are written.
	if err := m.store.SetMetaChecks(ctx, settled); err != nil {
		return fmt.Errorf("health: sweep: %w", err)
	}
	if len(settled) > 0 {
		m.log.Info("inboxes checked with Meta by the sweep", "waba_id", g.wabaID, "inboxes", len(settled))
	}
	return nil
}
