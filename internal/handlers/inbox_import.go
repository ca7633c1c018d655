package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gorilla/securecookie"
	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// Import from a WhatsApp Business Account: the form asks for the business account and
// a token, lists the account's numbers, and adds one inbox per ticked number; the API
// does it in one call.
//
// Between the two steps of the form the token must stay on the server side: it is
// never rendered, not even in a hidden field. The listing page carries it sealed
// instead: encrypted and authenticated (AES-256-CTR and HMAC-SHA256, gorilla's
// securecookie) with keys derived from the session keys, which come from SECRET_KEY,
// bound to the account and the administrator, and valid for importSealTTL. A sealed
// value cannot be read, changed or used by anyone else, elsewhere or later. Keeping
// it in the session cookie instead would send the token with every request of the
// session.

// importSealTTL is how long the listing page's sealed token stays valid.
const importSealTTL = 15 * time.Minute

// importSealName names sealed import values (it is part of what the MAC covers).
const importSealName = "inbox-import"

// importSeal is what the listing page carries to the post that adds the numbers.
type importSeal struct {
	AccountID   int64  `json:"a"`
	UserID      int64  `json:"u"`
	WABAID      string `json:"w"`
	BusinessID  string `json:"b"`
	AccessToken string `json:"t"`
}

// newImportSealer builds the sealer from keys derived from the session's own.
func newImportSealer(authKey, encryptionKey []byte) *securecookie.SecureCookie {
	derive := func(key []byte, label string) []byte {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte("inbox-health import seal: " + label))
		return mac.Sum(nil)
	}
	sc := securecookie.New(derive(authKey, "auth"), derive(encryptionKey, "encryption"))
	sc.MaxAge(int(importSealTTL.Seconds()))
	sc.MaxLength(16 << 10)
	sc.SetSerializer(securecookie.JSONEncoder{})
	return sc
}

// importInput is the import form and the API's body (phone_number_ids for the API).
type importInput struct {
	WABAID         string    `json:"waba_id"`
	BusinessID     string    `json:"business_id"`
	AccessToken    string    `json:"access_token"`
	PhoneNumberIDs *[]string `json:"phone_number_ids"`
}

// validate trims the input and checks it with creation's rules.
func (in *importInput) validate() map[string]string {
	errs := map[string]string{}
	in.WABAID = strings.TrimSpace(in.WABAID)
	in.BusinessID = strings.TrimSpace(in.BusinessID)
	in.AccessToken = strings.TrimSpace(in.AccessToken)
	checkMetaID(errs, "waba_id", in.WABAID, true, "Enter the WhatsApp Business Account ID (digits only).")
	checkMetaID(errs, "business_id", in.BusinessID, false, "The business portfolio ID is digits only; leave it empty if you do not know it.")
	if problem := accessTokenProblem(in.AccessToken); problem != "" {
		errs["access_token"] = problem
	}
	if in.PhoneNumberIDs != nil {
		ids := *in.PhoneNumberIDs
		switch {
		case len(ids) == 0:
			errs["phone_number_ids"] = "Name at least one phone number ID, or leave phone_number_ids out to import every number."
		case len(ids) > 1000:
			errs["phone_number_ids"] = "Name at most 1000 phone number IDs at once."
		default:
			for _, id := range ids {
				bad := map[string]string{}
				if checkMetaID(bad, "phone_number_ids", strings.TrimSpace(id), true, "Each phone number ID is digits only."); len(bad) > 0 {
					errs["phone_number_ids"] = bad["phone_number_ids"]
					break
				}
			}
		}
	}
	return errs
}

func (h *Handler) showImportForm(c echo.Context) error {
	return h.render(c, http.StatusOK, views.ImportPage(views.ImportForm{AccountID: currentMembership(c).AccountID}))
}

// listImportNumbers takes the import form: it reads the business account's numbers
// with the token and shows them to tick, or the form again with each problem next to
// its field.
func (h *Handler) listImportNumbers(c echo.Context) error {
	if h.registrar == nil {
		return errRegistrationUnavailable
	}
	m := currentMembership(c)
	input := importInput{WABAID: c.FormValue("waba_id"), BusinessID: c.FormValue("business_id"), AccessToken: c.FormValue("access_token")}
	form := func(errs map[string]string, formErr string) views.ImportForm {
		return views.ImportForm{AccountID: m.AccountID, WABAID: input.WABAID, BusinessID: input.BusinessID, Errors: errs, FormError: formErr}
	}
	if errs := input.validate(); len(errs) > 0 {
		return h.render(c, http.StatusUnprocessableEntity, views.ImportPage(form(errs, "Please fix the fields marked below.")))
	}
	candidates, err := h.registrar.ImportCandidates(c.Request().Context(), input.AccessToken, input.WABAID, input.BusinessID)
	if status, page, refused := h.importRefusal(err, form); refused {
		return h.render(c, status, page)
	}
	if err != nil {
		return err
	}
	sealed, err := h.importSealer.Encode(importSealName, importSeal{AccountID: m.AccountID, UserID: currentActorID(c),
		WABAID: input.WABAID, BusinessID: input.BusinessID, AccessToken: input.AccessToken})
	if err != nil {
		return fmt.Errorf("seal the import: %w", err)
	}
	page := importNumbersPage(m.AccountID, input.WABAID, input.BusinessID, sealed, candidates, nil, nil)
	return h.render(c, http.StatusOK, views.ImportNumbersPage(page))
}

// importRefusal answers what refuses a listing (a token or business account Meta
// refused, Meta out of reach) with the first step's form; refused is false otherwise.
func (h *Handler) importRefusal(err error, form func(map[string]string, string) views.ImportForm) (int, templ.Component, bool) {
	var refused *health.InboxRefusedError
	switch {
	case errors.As(err, &refused):
		return http.StatusUnprocessableEntity, views.ImportPage(form(refused.Fields, "Meta did not accept this: fix the fields marked below.")), true
	case errors.Is(err, health.ErrMetaUnreachable):
		return http.StatusServiceUnavailable, views.ImportPage(form(nil, "Meta could not be reached to list the numbers. Nothing was added; try again in a few minutes.")), true
	}
	return 0, nil, false
}

// importNumbersPage lays out the business account's numbers; picked and names are the
// form as it was sent (nil: every number not connected is ticked, names from Meta),
// problems the rows' problems when it comes back.
func importNumbersPage(accountID int64, wabaID, businessID, sealed string, candidates []health.ImportCandidate,
	sent map[string]string, problems map[string]string) views.ImportNumbers {
	p := views.ImportNumbers{AccountID: accountID, WABAID: wabaID, BusinessID: businessID, Sealed: sealed}
	for _, cand := range candidates {
		row := views.ImportRow{PhoneNumberID: cand.Phone.ID, PhoneNumber: cand.Phone.DisplayPhoneNumber,
			VerifiedName: cand.Phone.VerifiedName, Name: health.ImportName(cand), Status: statusBadge(cand.Health),
			Problem: problems[cand.Phone.ID]}
		for _, field := range []string{"status", "quality_rating", "name_status"} {
			row.Badges = append(row.Badges, viewBadge(whatsapp.FieldBadge(field, importBadgeValue(cand.Phone, field))))
		}
		switch {
		case cand.Connected != nil && cand.Connected.AccountID == accountID:
			row.Connected, row.ConnectedURL = "inbox "+cand.Connected.Name, views.InboxURL(accountID, cand.Connected.ID)
		case cand.Connected != nil:
			row.Connected = "to another account on this server"
		default:
			p.Addable++
			row.Checked = true
			if sent != nil {
				name, ticked := sent[cand.Phone.ID]
				row.Checked = ticked
				if ticked {
					row.Name = name
				}
			}
		}
		p.Rows = append(p.Rows, row)
	}
	return p
}

func importBadgeValue(p whatsapp.PhoneNumber, field string) string {
	switch field {
	case "status":
		return p.Status
	case "quality_rating":
		return p.QualityRating
	}
	return p.EffectiveNameStatus()
}

// importNumbers takes the ticked numbers: it unseals the token, checks the names and
// adds one inbox per number (ImportNumbers), then goes to the inbox list saying what
// was added and what was not (post-redirect-get). A name that would be refused sends
// the list back with the problem next to it, before anything is added.
func (h *Handler) importNumbers(c echo.Context) error {
	if h.registrar == nil {
		return errRegistrationUnavailable
	}
	m := currentMembership(c)
	var seal importSeal
	if err := h.importSealer.Decode(importSealName, c.FormValue("sealed"), &seal); err != nil ||
		seal.AccountID != m.AccountID || seal.UserID != currentActorID(c) {
		return h.render(c, http.StatusUnprocessableEntity, views.ImportPage(views.ImportForm{AccountID: m.AccountID,
			FormError: "This list of numbers has expired (it is valid for 15 minutes) or was not made for you: enter the business account and token again."}))
	}
	form := func(errs map[string]string, formErr string) views.ImportForm {
		return views.ImportForm{AccountID: m.AccountID, WABAID: seal.WABAID, BusinessID: seal.BusinessID, Errors: errs, FormError: formErr}
	}
	values, err := c.FormParams()
	if err != nil {
		return h.render(c, http.StatusBadRequest, views.ImportPage(form(nil, "The form could not be read. Please try again.")))
	}
	sent := map[string]string{}
	var picks []health.ImportPick
	problems := map[string]string{}
	for _, id := range values["pick"] {
		if _, dup := sent[id]; dup {
			continue
		}
		name := strings.TrimSpace(values.Get("name_" + id))
		sent[id] = name
		picks = append(picks, health.ImportPick{PhoneNumberID: id, Name: name})
		if name == "" {
			continue // an empty name takes Meta's verified name (health.ImportName)
		}
		if problem := nameProblem(name); problem != "" {
			problems[id] = problem
		}
	}
	if len(picks) == 0 || len(problems) > 0 {
		candidates, err := h.registrar.ImportCandidates(c.Request().Context(), seal.AccessToken, seal.WABAID, seal.BusinessID)
		if status, page, refused := h.importRefusal(err, form); refused {
			return h.render(c, status, page)
		}
		if err != nil {
			return err
		}
		page := importNumbersPage(m.AccountID, seal.WABAID, seal.BusinessID, c.FormValue("sealed"), candidates, sent, problems)
		page.FormError = "Tick at least one number to add."
		if len(problems) > 0 {
			page.FormError = "Fix the names marked below. Nothing was added."
		}
		return h.render(c, http.StatusUnprocessableEntity, views.ImportNumbersPage(page))
	}
	res, err := h.registrar.ImportNumbers(c.Request().Context(), health.ImportRequest{AccountID: m.AccountID, WABAID: seal.WABAID,
		BusinessID: seal.BusinessID, AccessToken: seal.AccessToken, Picks: picks, Validate: validateImported}, currentActor(c))
	if status, page, refused := h.importRefusal(err, form); refused {
		return h.render(c, status, page)
	}
	if err != nil {
		return err
	}
	h.setFlash(c, importedFlash(res), len(res.Created) == 0)
	return c.Redirect(http.StatusSeeOther, views.InboxesURL(m.AccountID))
}

// importedFlash says what an import added and skipped.
func importedFlash(res health.ImportResult) string {
	var b strings.Builder
	switch len(res.Created) {
	case 0:
		b.WriteString("No inbox was added.")
	default:
		names := make([]string, 0, len(res.Created))
		for _, in := range res.Created {
			names = append(names, in.Name)
		}
		fmt.Fprintf(&b, "Added %d %s: %s. Each is checked and set up now.", len(res.Created), plural(len(res.Created), "inbox", "inboxes"), strings.Join(names, ", "))
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(&b, " Not added: %s (%s).", firstNonEmpty(s.PhoneNumber, s.PhoneNumberID), s.Reason)
	}
	for _, s := range res.AlreadyConnected {
		fmt.Fprintf(&b, " Left as it is: %s (%s).", firstNonEmpty(s.PhoneNumber, s.PhoneNumberID), s.Reason)
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// currentActorID is the logged-in user's id (0 when none).
func currentActorID(c echo.Context) int64 {
	u, _ := currentUser(c)
	return u.ID
}

// apiImportSkip is a number an import did not add, as the API answers it.
type apiImportSkip struct {
	PhoneNumberID string `json:"phone_number_id"`
	PhoneNumber   string `json:"phone_number,omitempty"`
	Reason        string `json:"reason"`
}

// apiImportInboxes imports numbers of a business account in one call: 201 with the
// created inboxes and the skipped numbers (200 when none was created), 422 for invalid
// fields or a token or business account Meta refused, 503 when Meta cannot be reached.
func (h *Handler) apiImportInboxes(c echo.Context) error {
	if h.registrar == nil {
		return errAPIRegistrationUnavailable
	}
	m := currentMembership(c)
	var input importInput
	if err := decodeJSON(c, &input); err != nil {
		return err
	}
	if errs := input.validate(); len(errs) > 0 {
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "invalid", Message: "Some fields are invalid.", Fields: errs}
	}
	req := health.ImportRequest{AccountID: m.AccountID, WABAID: input.WABAID, BusinessID: input.BusinessID,
		AccessToken: input.AccessToken, Validate: validateImported}
	if input.PhoneNumberIDs != nil {
		for _, id := range *input.PhoneNumberIDs {
			req.Picks = append(req.Picks, health.ImportPick{PhoneNumberID: strings.TrimSpace(id)})
		}
	}
	res, err := h.registrar.ImportNumbers(c.Request().Context(), req, currentActor(c))
	var refused *health.InboxRefusedError
	switch {
	case errors.As(err, &refused):
		return &APIError{Status: http.StatusUnprocessableEntity, Type: "refused_by_meta",
			Message: "Meta did not accept these fields; nothing was imported.", Fields: refused.Fields}
	case errors.Is(err, health.ErrMetaUnreachable):
		return &APIError{Status: http.StatusServiceUnavailable, Type: "meta_unreachable", Message: health.ErrMetaUnreachable.Error() + "; nothing was imported."}
	case err != nil:
		return err
	}
	out := struct {
		Created []apiInbox      `json:"created"`
		Skipped []apiImportSkip `json:"skipped"`
	}{Created: []apiInbox{}, Skipped: []apiImportSkip{}}
	for _, in := range res.Created {
		out.Created = append(out.Created, h.toAPIInbox(in))
	}
	for _, s := range res.Skipped {
		out.Skipped = append(out.Skipped, apiImportSkip{PhoneNumberID: s.PhoneNumberID, PhoneNumber: s.PhoneNumber, Reason: s.Reason})
	}
	status := http.StatusCreated
	if len(res.Created) == 0 {
		status = http.StatusOK
	}
	return c.JSON(status, out)
}
