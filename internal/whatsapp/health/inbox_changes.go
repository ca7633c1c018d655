package health

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Changes an administrator makes to an inbox: adding it (by hand or by importing a
// business account's numbers), editing it, reconnecting it (replacing its access
// token, the most common fix of a WhatsApp connection: a system-user token expired or
// was revoked) and removing it. Each is recorded in the inbox's change log with who
// made it, except the removal, which takes the log with it.

// TokenRefusedError is a new access token Meta refused, or one that cannot see the
// inbox's number: the old token stays. Kind says why, in the error table's terms.
type TokenRefusedError struct {
	Kind whatsapp.Kind
	// Err is Meta's (or the transport's) error, for support; never shown as the reason.
	Err error
}

func (e *TokenRefusedError) Error() string {
	x := e.Kind.Explain()
	if e.Kind == whatsapp.KindInvalidRequest || e.Kind == whatsapp.KindUnknown {
		return "Meta did not accept this token for this number: check that it belongs to a system user with access to the number's WhatsApp Business Account. The old token is kept."
	}
	return "Meta did not accept this token: " + x.Title + ". " + x.Remedy + " The old token is kept."
}

func (e *TokenRefusedError) Unwrap() error { return e.Err }

// Reconnect replaces the inbox's access token after checking it with Meta: the token
// must read the inbox's phone number (GET /{phone-number-id}), else it is refused with
// a *TokenRefusedError and the old token stays. On success the health that read
// returned is stored at once, the webhook subscription is made again if it had failed,
// and a pending registration is retried if the decision allows it; the result says
// what came of that.
func (r *Registrar) Reconnect(ctx context.Context, in db.Inbox, token string, req Request) (Result, error) {
	defer r.forgetStatus(in.ID)
	phone, err := r.graph.PhoneNumber(ctx, token, in.PhoneNumberID)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		return Result{}, &TokenRefusedError{Kind: whatsapp.KindOf(err), Err: err}
	}
	if err := r.store.SetAccessToken(ctx, in.ID, token); err != nil {
		return Result{}, fmt.Errorf("health: reconnect inbox %d: %w", in.ID, err)
	}
	r.log.Info("inbox reconnected with a new access token", "inbox_id", in.ID, "user_id", req.UserID)
	r.recordChange(ctx, in.ID, db.ChangeReconnected, req.Actor, []db.FieldChange{{Field: FieldAccessToken, Secret: true}})
	if _, err := r.health.Record(ctx, in, phone, nil, db.SourceFetch); err != nil {
		return Result{}, fmt.Errorf("health: reconnect inbox %d: %w", in.ID, err)
	}
	current, err := r.store.InboxByID(ctx, in.ID)
	if err != nil {
		return Result{}, fmt.Errorf("health: reconnect inbox %d: %w", in.ID, err)
	}
	if current.MetaCheck != db.MetaCheckPassed {
		// The old token may be why the check failed, or why it never ran.
		current = r.recheck(ctx, current, token)
	}
	if current.WebhookSubscribedAt == nil {
		r.subscribeWebhook(ctx, current)
	}
	return r.Register(ctx, current, req)
}

// RemoveInbox deletes the inbox and everything recorded about it (its secrets erased at
// once). It never calls Meta: the number stays registered there, as it is. A
// registration in flight is not cut off: the removal is refused until it ends.
func (r *Registrar) RemoveInbox(ctx context.Context, in db.Inbox, userID *int64) error {
	release, err := r.lease(ctx, in.ID, "remove")
	if errors.Is(err, db.ErrLeaseHeld) {
		return ErrRegistrationInProgress
	}
	if err != nil {
		return fmt.Errorf("health: remove inbox %d: %w", in.ID, err)
	}
	// The lease row goes with the inbox; nothing is left to release.
	if err := r.store.DeleteInbox(ctx, in.ID); err != nil {
		release()
		return fmt.Errorf("health: remove inbox %d: %w", in.ID, err)
	}
	r.forgetStatus(in.ID)
	r.log.Info("inbox removed", "inbox_id", in.ID, "account_id", in.AccountID, "user_id", userID)
	return nil
}

// recordChange writes one entry of the inbox's change log. The change itself is made
// already, so a failure to log it is reported in the server log, not to the person.
func (r *Registrar) recordChange(ctx context.Context, inboxID int64, action string, actor db.Actor, details []db.FieldChange) {
	if err := r.store.AddInboxChange(ctx, inboxID, db.InboxChange{Action: action, Actor: actor, Details: details}); err != nil {
		r.log.Error("record inbox change", "inbox_id", inboxID, "action", action, "error", err)
	}
}

// InboxFields are the fields of an inbox an administrator sets: creating, importing
// and editing take them, validated by the caller (the handlers' form rules).
type InboxFields struct {
	Name          string
	PhoneNumber   string // E.164
	PhoneNumberID string
	WABAID        string
	BusinessID    string // optional
	// AccessToken is the token to read Meta with; on an edit "" keeps the stored one.
	AccessToken string
}

func (f InboxFields) connection(token string) Connection {
	return Connection{AccessToken: token, PhoneNumber: f.PhoneNumber, PhoneNumberID: f.PhoneNumberID, WABAID: f.WABAID, BusinessID: f.BusinessID}
}

// setFields lists the fields a new inbox was given, for its first change-log entry.
func (f InboxFields) setFields() []db.FieldChange {
	out := []db.FieldChange{{Field: "name", To: f.Name}, {Field: FieldPhoneNumber, To: f.PhoneNumber},
		{Field: FieldPhoneNumberID, To: f.PhoneNumberID}, {Field: FieldWABAID, To: f.WABAID}}
	if f.BusinessID != "" {
		out = append(out, db.FieldChange{Field: FieldBusinessID, To: f.BusinessID})
	}
	return append(out, db.FieldChange{Field: FieldAccessToken, Secret: true})
}

// AddInbox creates an inbox after checking its connection with Meta (CheckConnection):
// a connection Meta refuses is an *InboxRefusedError naming each bad field, and nothing
// is stored. When Meta cannot be reached the inbox is stored as not checked yet
// (db.MetaCheckPending) and the monitor's next sweep checks it: Meta's outage must not
// block people. A phone number or id already connected is a *db.ConflictError.
func (r *Registrar) AddInbox(ctx context.Context, accountID int64, f InboxFields, actor db.Actor) (db.Inbox, error) {
	check := r.CheckConnection(ctx, f.connection(f.AccessToken))
	if len(check.Problems) > 0 {
		return db.Inbox{}, &InboxRefusedError{Fields: check.Problems}
	}
	return r.createInbox(ctx, accountID, f, check, db.InboxChange{Action: db.ChangeCreated, Actor: actor, Details: f.setFields()})
}

// createInbox is the one way an inbox comes to be, whether added by hand or imported:
// stored with what the check with Meta found and its first change-log entry, the
// health that check read stored at once, and set up in the background (registration
// when it can succeed, the app subscribed to the business account).
func (r *Registrar) createInbox(ctx context.Context, accountID int64, f InboxFields, check MetaCheck, change db.InboxChange) (db.Inbox, error) {
	in, err := r.store.CreateInbox(ctx, db.NewInbox{AccountID: accountID, Name: f.Name, PhoneNumber: f.PhoneNumber,
		PhoneNumberID: f.PhoneNumberID, WABAID: f.WABAID, BusinessID: f.BusinessID, AccessToken: f.AccessToken,
		MetaCheck: check.status(), Change: &change})
	if err != nil {
		return db.Inbox{}, fmt.Errorf("health: add inbox: %w", err)
	}
	r.log.Info("inbox created", "inbox_id", in.ID, "account_id", in.AccountID, "how", change.Action,
		"meta_check", in.MetaCheck, "user_id", change.Actor.UserID)
	if check.Phone != nil {
		if _, err := r.health.Record(ctx, in, check.Phone, nil, db.SourceFetch); err != nil {
			r.log.Error("store the health read when the inbox was checked", "inbox_id", in.ID, "error", err)
		}
	}
	r.StartSetup(ctx, in)
	return in, nil
}

// EditInbox saves an administrator's edit of the inbox's fields (to holds every field as
// it is to be; an empty AccessToken keeps the stored token). Nothing changed is nothing
// done. A change of anything Meta knows (phone number, ids, token) is checked with Meta
// first, as at creation: refused, it is an *InboxRefusedError and nothing changes;
// unreachable, the edit is saved as not checked yet. A new phone-number id or business
// account is another number: the inbox starts afresh (see db.InboxEdit.StartAfresh),
// the health the check read is its first, and it is set up as a new inbox is. That is
// refused with ErrRegistrationInProgress while a registration of the inbox is in
// flight. A phone number or id connected to another inbox is a *db.ConflictError.
func (r *Registrar) EditInbox(ctx context.Context, in db.Inbox, to InboxFields, actor db.Actor) (EditResult, error) {
	defer r.forgetStatus(in.ID)
	secrets, err := r.store.Secrets(ctx, in.ID)
	if err != nil {
		return EditResult{}, fmt.Errorf("health: edit inbox %d: %w", in.ID, err)
	}
	changes := fieldChanges(in, to, secrets.AccessToken)
	if len(changes) == 0 {
		return EditResult{Inbox: in}, nil
	}
	token := secrets.AccessToken
	if to.AccessToken != "" {
		token = to.AccessToken
	}
	edit := db.InboxEdit{Name: to.Name, PhoneNumber: to.PhoneNumber, PhoneNumberID: to.PhoneNumberID, WABAID: to.WABAID,
		BusinessID: to.BusinessID, AccessToken: to.AccessToken, MetaCheck: in.MetaCheck, MetaCheckProblem: in.MetaCheckProblem,
		StartAfresh: in.PhoneNumberID != to.PhoneNumberID || in.WABAID != to.WABAID,
		Change:      db.InboxChange{Action: db.ChangeEdited, Actor: actor, Details: changes}}
	var check MetaCheck
	if slices.ContainsFunc(changes, func(c db.FieldChange) bool { return c.Field != "name" }) {
		check = r.CheckConnection(ctx, to.connection(token))
		if len(check.Problems) > 0 {
			return EditResult{}, &InboxRefusedError{Fields: check.Problems}
		}
		edit.MetaCheck, edit.MetaCheckProblem = check.status(), ""
	}
	release := func() {}
	if edit.StartAfresh {
		release, err = r.lease(ctx, in.ID, "edit")
		if errors.Is(err, db.ErrLeaseHeld) {
			return EditResult{}, ErrRegistrationInProgress
		}
		if err != nil {
			return EditResult{}, fmt.Errorf("health: edit inbox %d: %w", in.ID, err)
		}
	}
	updated, err := r.store.UpdateInbox(ctx, in.ID, edit)
	if err != nil {
		release()
		return EditResult{}, fmt.Errorf("health: edit inbox %d: %w", in.ID, err)
	}
	if edit.StartAfresh {
		r.health.renumbered(updated)
	}
	release()
	r.log.Info("inbox edited", "inbox_id", in.ID, "fields", len(changes), "afresh", edit.StartAfresh,
		"meta_check", updated.MetaCheck, "user_id", actor.UserID)
	if check.Phone != nil {
		if _, err := r.health.Record(ctx, updated, check.Phone, nil, db.SourceFetch); err != nil {
			r.log.Error("store the health read when the edit was checked", "inbox_id", in.ID, "error", err)
		}
	}
	if edit.StartAfresh {
		r.StartSetup(ctx, updated)
	}
	return EditResult{Inbox: updated, Changed: true, Afresh: edit.StartAfresh}, nil
}

// EditResult is what an edit did.
type EditResult struct {
	Inbox db.Inbox // as it is now
	// Changed: something was saved; Afresh: the inbox now shows another number and
	// started afresh.
	Changed, Afresh bool
}

// fieldChanges lists what an edit changes, values included except the token's.
func fieldChanges(in db.Inbox, to InboxFields, storedToken string) []db.FieldChange {
	var out []db.FieldChange
	for _, f := range []struct{ field, from, to string }{
		{"name", in.Name, to.Name},
		{FieldPhoneNumber, in.PhoneNumber, to.PhoneNumber},
		{FieldPhoneNumberID, in.PhoneNumberID, to.PhoneNumberID},
		{FieldWABAID, in.WABAID, to.WABAID},
		{FieldBusinessID, in.BusinessID, to.BusinessID},
	} {
		if f.from != f.to {
			out = append(out, db.FieldChange{Field: f.field, From: f.from, To: f.to})
		}
	}
	if to.AccessToken != "" && to.AccessToken != storedToken {
		out = append(out, db.FieldChange{Field: FieldAccessToken, Secret: true})
	}
	return out
}

// ImportCandidate is one number of a business account, as the import lists it.
type ImportCandidate struct {
	Phone whatsapp.PhoneNumber
	// PhoneNumber is the number in E.164 ("" when Meta gave none it could be read from).
	PhoneNumber string
	// Connected is the inbox, in any account, the number is connected to already.
	Connected *db.Inbox
	// Health is the number's overall status from this listing.
	Health whatsapp.OverallStatus
}

// ImportCandidates lists every number of a business account (GET
// /{waba-id}/phone_numbers, all pages) with the token, and which are connected already.
// A token or WABA Meta refuses is an *InboxRefusedError on access_token or waba_id, a
// portfolio id (optional) that does not own the WABA one on business_id; Meta out of
// reach is ErrMetaUnreachable.
func (r *Registrar) ImportCandidates(ctx context.Context, token, wabaID, businessID string) ([]ImportCandidate, error) {
	numbers, err := r.graph.BusinessPhoneNumbers(ctx, token, wabaID)
	if err != nil {
		problems, unreachable := listingError(err)
		if unreachable {
			return nil, ErrMetaUnreachable
		}
		return nil, &InboxRefusedError{Fields: problems}
	}
	if problem := r.portfolioProblem(ctx, Connection{AccessToken: token, WABAID: wabaID, BusinessID: businessID}); problem != "" {
		return nil, &InboxRefusedError{Fields: map[string]string{FieldBusinessID: problem}}
	}
	ids := make([]string, 0, len(numbers))
	for _, n := range numbers {
		ids = append(ids, n.ID)
	}
	connected, err := r.store.InboxesByPhoneNumberID(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("health: import candidates: %w", err)
	}
	out := make([]ImportCandidate, 0, len(numbers))
	for _, n := range numbers {
		c := ImportCandidate{Phone: n, PhoneNumber: whatsapp.NormalizePhoneNumber(n.DisplayPhoneNumber),
			Health: whatsapp.DeriveOverallStatus(&n, nil, whatsapp.KindNone)}
		if in, ok := connected[n.ID]; ok {
			c.Connected = &in
		}
		out = append(out, c)
	}
	return out, nil
}

// ImportName is the inbox name an imported number gets unless the administrator gives
// one: Meta's verified (display) name, else the number.
func ImportName(c ImportCandidate) string {
	if name := strings.TrimSpace(c.Phone.VerifiedName); name != "" {
		return name
	}
	return c.PhoneNumber
}

// ImportPick is a number an administrator chose to import, with the inbox name they
// gave it ("" takes ImportName).
type ImportPick struct {
	PhoneNumberID string
	Name          string
}

// ImportRequest is an import of a business account's numbers.
type ImportRequest struct {
	AccountID   int64
	WABAID      string
	BusinessID  string // optional
	AccessToken string
	// Picks are the numbers to import, in order; nil picks every number of the
	// business account (those connected already are skipped).
	Picks []ImportPick
	// Validate applies creation's rules to each inbox (the caller's form validation):
	// it may normalise the fields, and returns a problem per invalid field.
	Validate func(*InboxFields) map[string]string
}

// ImportSkip is a number an import did not add, and why.
type ImportSkip struct {
	PhoneNumberID string
	PhoneNumber   string
	Reason        string
}

// ImportResult is what an import did.
type ImportResult struct {
	Created []db.Inbox
	// Skipped are the chosen numbers not added, with why.
	Skipped []ImportSkip
	// AlreadyConnected are the business account's numbers connected before the import
	// that were not chosen (the form does not offer them), left as they are.
	AlreadyConnected []ImportSkip
}

// ImportNumbers adds one inbox per chosen number of a business account. The listing it
// reads first (ImportCandidates: every page) is each number's check with Meta: the
// token sees the business account and the number is in it. Each inbox is then created
// as a new inbox is (createInbox: checked, stored with its health, set up). Numbers
// already connected, not in the business account, or whose inbox would be invalid are
// skipped with the reason. The errors of ImportCandidates refuse the whole import;
// err is otherwise only for storage failures, with what was done so far.
func (r *Registrar) ImportNumbers(ctx context.Context, req ImportRequest, actor db.Actor) (ImportResult, error) {
	candidates, err := r.ImportCandidates(ctx, req.AccessToken, req.WABAID, req.BusinessID)
	if err != nil {
		return ImportResult{}, err
	}
	byID := make(map[string]ImportCandidate, len(candidates))
	for _, c := range candidates {
		byID[c.Phone.ID] = c
	}
	picks := req.Picks
	if picks == nil {
		for _, c := range candidates {
			picks = append(picks, ImportPick{PhoneNumberID: c.Phone.ID})
		}
	}
	var res ImportResult
	seen := map[string]bool{}
	for _, p := range picks {
		if seen[p.PhoneNumberID] {
			continue
		}
		seen[p.PhoneNumberID] = true
		c, listed := byID[p.PhoneNumberID]
		skip := func(reason string) {
			res.Skipped = append(res.Skipped, ImportSkip{PhoneNumberID: p.PhoneNumberID, PhoneNumber: c.PhoneNumber, Reason: reason})
		}
		switch {
		case !listed:
			skip("not a phone number of WhatsApp Business Account " + req.WABAID)
			continue
		case c.Connected != nil:
			skip(connectedReason(c, req.AccountID))
			continue
		}
		f := InboxFields{Name: strings.TrimSpace(p.Name), PhoneNumber: c.PhoneNumber, PhoneNumberID: c.Phone.ID,
			WABAID: req.WABAID, BusinessID: req.BusinessID, AccessToken: req.AccessToken}
		if f.Name == "" {
			f.Name = ImportName(c)
		}
		if req.Validate != nil {
			if problems := req.Validate(&f); len(problems) > 0 {
				skip("cannot be added as it is: " + describeProblems(problems))
				continue
			}
		}
		details := append(f.setFields(), db.FieldChange{Field: "imported_from", To: "WhatsApp Business Account " + req.WABAID})
		in, err := r.createInbox(ctx, req.AccountID, f, MetaCheck{Phone: &c.Phone},
			db.InboxChange{Action: db.ChangeImported, Actor: actor, Details: details})
		var conflict *db.ConflictError
		if errors.As(err, &conflict) {
			skip("already connected to an inbox")
			continue
		}
		if err != nil {
			return res, err
		}
		res.Created = append(res.Created, in)
	}
	for _, c := range candidates {
		if c.Connected != nil && !seen[c.Phone.ID] {
			res.AlreadyConnected = append(res.AlreadyConnected, ImportSkip{PhoneNumberID: c.Phone.ID, PhoneNumber: c.PhoneNumber,
				Reason: connectedReason(c, req.AccountID)})
		}
	}
	return res, nil
}

// connectedReason says where a number is connected already: only an inbox of the
// importing account is named.
func connectedReason(c ImportCandidate, accountID int64) string {
	if c.Connected.AccountID == accountID {
		return "already connected to inbox " + c.Connected.Name
	}
	return "already connected to an inbox of another account on this server"
}

// recheck runs the check with Meta again for an inbox saved unchecked or whose check
// failed, and records what it found; Meta out of reach leaves it as it is.
func (r *Registrar) recheck(ctx context.Context, in db.Inbox, token string) db.Inbox {
	check := r.CheckConnection(ctx, Connection{AccessToken: token, PhoneNumber: in.PhoneNumber,
		PhoneNumberID: in.PhoneNumberID, WABAID: in.WABAID, BusinessID: in.BusinessID})
	if check.Unreachable {
		return in
	}
	status, problem := db.MetaCheckPassed, ""
	if !check.Passed() {
		status, problem = db.MetaCheckFailed, describeProblems(check.Problems)
	}
	if err := r.store.SetMetaCheck(ctx, in.ID, status, problem); err != nil {
		r.log.Error("record the check with Meta", "inbox_id", in.ID, "error", err)
		return in
	}
	in.MetaCheck, in.MetaCheckProblem = status, problem
	return in
}
