package views

// View models of the pages that change inboxes: the Settings tab's edit form and
// change log, the check with Meta, and the import from a business account.

// MetaCheckView is how the inbox fared in the check of its token and ids with Meta.
type MetaCheckView struct {
	Status string // passed | pending | failed (db.MetaCheck*)
	Label  string // "Checked", "Not checked yet", "Check failed"
	Tone   string
	Note   string // what it means and what happens next
}

// Shown reports whether the header calls the check out: only when it did not pass.
func (m MetaCheckView) Shown() bool { return m.Status != "" && m.Status != "passed" }

// ChangeRow is one entry of an inbox's change log, as the Settings tab lists it.
type ChangeRow struct {
	Ago     string
	Exact   string
	ISO     string // for <time datetime>
	Who     string
	Action  string
	Details []string
}

// EditURL is where the Settings tab's edit form posts.
func EditURL(accountID, inboxID int64) string { return InboxURL(accountID, inboxID) + "/edit" }

// ImportURL is the import from a WhatsApp Business Account: the form (GET), and where
// the chosen numbers are posted.
func ImportURL(accountID int64) string { return InboxesURL(accountID) + "/import" }

// ImportNumbersURL is where the import form posts to list the business account's numbers.
func ImportNumbersURL(accountID int64) string { return ImportURL(accountID) + "/numbers" }

// ImportForm is the first step of the import: which business account, with which token.
type ImportForm struct {
	AccountID  int64
	WABAID     string
	BusinessID string
	Errors     map[string]string
	FormError  string
}

// ImportNumbers is the second step of the import: the business account's numbers to
// tick. Sealed carries the token (encrypted, short-lived) to the next post; the token
// itself is never in the page.
type ImportNumbers struct {
	AccountID  int64
	WABAID     string
	BusinessID string
	Sealed     string
	Rows       []ImportRow
	// Addable counts the numbers that can be ticked.
	Addable   int
	FormError string
}

// ImportRow is one number of the business account.
type ImportRow struct {
	PhoneNumberID string
	PhoneNumber   string // as Meta displays it
	VerifiedName  string
	// Name is the inbox name the number gets (editable), prefilled from the verified name.
	Name    string
	Status  StatusBadge
	Badges  []HealthBadge
	Checked bool
	// Connected says the number is connected already ("" when it is not); ConnectedURL
	// links to its inbox when it is one of this account's.
	Connected    string
	ConnectedURL string
	// Problem is why the number was not added when the form comes back.
	Problem string
}

// NameField is the form name of a row's inbox-name input.
func (r ImportRow) NameField() string { return "name_" + r.PhoneNumberID }
