package health

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Advice is everything a person is told about an inbox's number, and what they may do:
// the one value the banner, the Account Health panel, the inbox list, the health API
// and alerts render. It is decided in one place, Advise, so two screens never tell two
// stories about the same number.

// Action is something a person may do about the number now.
type Action string

// Actions, as offered to the person the advice is for.
const (
	// ActionRegister is "Complete registration": one register call.
	ActionRegister Action = "register"
	// ActionTryAnyway is the explicit "Try anyway" while Meta reviews the display name:
	// one register call that will very likely fail.
	ActionTryAnyway Action = "try_anyway"
	// ActionEnterPIN asks for the two-step PIN Meta already holds.
	ActionEnterPIN Action = "enter_pin"
	// ActionSetNewPIN sets a new two-step PIN at Meta (after a confirmation).
	ActionSetNewPIN Action = "set_new_pin"
	// ActionDeregisterAndRegister is Meta's way out of 133000 (two calls).
	ActionDeregisterAndRegister Action = "deregister_and_register"
	// ActionReconnect replaces the inbox's access token.
	ActionReconnect Action = "reconnect"
	// ActionRefresh reads the number's health from Meta now.
	ActionRefresh Action = "refresh"
	// ActionRequestCode asks Meta to send a verification code by SMS or voice call.
	ActionRequestCode Action = "request_code"
	// ActionEnterCode sends the verification code the person received.
	ActionEnterCode Action = "enter_code"
)

// Advice is what a person is told about an inbox's number and may do about it.
type Advice struct {
	// Overall is the one status a person reads first (badge on every page and in the list).
	Overall whatsapp.OverallStatus
	// State is the registration state the advice was decided on.
	State whatsapp.RegistrationState
	// Tone is the severity of the registration message (green: nothing to do; amber:
	// in progress or waiting; red: a person must act; grey: not applicable or unknown).
	Tone whatsapp.Tone
	// Title, Reason and Remedy say what is wrong, why, and how to fix it.
	Title, Reason, Remedy string
	// Kind is the failure the advice explains (KindNone when there is none).
	Kind whatsapp.Kind
	// Next says what happens next by itself (an automatic retry and the attempts left, or
	// "no automatic retries until this is fixed"); "" when nothing is planned to say.
	Next string
	// NextRetryAt is the planned automatic attempt (nil: none planned).
	NextRetryAt *time.Time
	// AttemptsLeft is how many of Meta's 10 calls per 72 hours are left (-1: not known).
	AttemptsLeft int
	// FixInWhatsAppManager: the fix is in WhatsApp Manager (link to the number there).
	FixInWhatsAppManager bool
	// Actions are what the person may do now, in the order to offer them.
	Actions []Action
	// AskAdministrator: an administrator could act where this person (an agent) cannot.
	AskAdministrator bool
	// Labels for the offered actions.
	RegisterLabel string
	// ConfirmNote says what "Try anyway" costs.
	ConfirmNote string
	// PINPrompt says why the PIN is asked for ("" for the usual 133005 case); PINNote
	// what each try costs (one of Meta's 10 calls per 72 hours) and how many are left.
	PINPrompt, PINNote string
	// AdminNote tells an agent what to ask an administrator for ("" for
	// administrators, or when there is nothing an administrator could do).
	AdminNote string
	// CodeWait is how long until another verification code may be requested (0: now);
	// CodeNote says what a request does and, while waiting, when the next is possible.
	CodeWait time.Duration
	CodeNote string
	// NeedsConfirmation: registering now needs the explicit "Try anyway" (the name is
	// in review, and a call will very likely fail).
	NeedsConfirmation bool
	// Done: the number is registered; the advice then only answers an action just taken.
	Done bool
	// Outcome is the result of the action just taken ("" when not answering one).
	Outcome Outcome
	// FetchProblem explains a failed health check (nil when the last check worked).
	FetchProblem *whatsapp.Explanation
	// Technical is Meta's own words and codes for the failure the advice explains, for
	// a "Technical details" disclosure under the plain reason ("" when there are none).
	Technical string

	// kindIsCurrent: Kind comes from the latest health check or the action just taken,
	// not from an older attempt (which a person may have fixed since).
	kindIsCurrent bool
}

// KindSendingBlocked is the advice's kind for a number Meta blocks from sending
// (health_status can_send_message BLOCKED on the number or its business account, for a
// reason other than a locked account): no registration helps, the fix is in WhatsApp
// Manager or Business Settings, in Meta's words.
const KindSendingBlocked whatsapp.Kind = "sending_blocked"

// metaCodeAccountLocked is the error_code Meta lists on a locked business account's
// health_status entity (the same 131031 its API errors carry).
const metaCodeAccountLocked = 131031

// displayNameReviewWait is the expected wait a person is told up front while Meta
// reviews a display name. Meta promises no time (Display names,
// https://developers.facebook.com/documentation/business-messaging/whatsapp/display-names/);
// the same words as KindDisplayNameNotReady's explanation.
const displayNameReviewWait = "This usually takes a few hours to a couple of days."

// sendingBlock is what Meta's health_status says blocks sending: the kind (account
// locked or sending blocked), Meta's reason and possible solution. nil: nothing blocks.
type sendingBlock struct {
	kind             whatsapp.Kind
	reason, solution string
	code             int64 // Meta's error_code for the reason (0: none given)
}

// sendingBlockOf reads the number's and its business account's health_status.
func sendingBlockOf(s *db.HealthSnapshot) *sendingBlock {
	if s == nil {
		return nil
	}
	var verdicts []*whatsapp.HealthStatus
	if s.Phone != nil && s.Phone.HealthStatus != nil {
		verdicts = append(verdicts, s.Phone.HealthStatus)
	}
	if s.BusinessHealth != nil {
		verdicts = append(verdicts, s.BusinessHealth)
	}
	var block *sendingBlock
	for _, h := range verdicts {
		if h.CanSendMessage != whatsapp.CanSendBlocked {
			continue
		}
		if block == nil {
			block = &sendingBlock{kind: KindSendingBlocked}
		}
		for _, e := range h.Entities {
			if e.CanSendMessage != whatsapp.CanSendBlocked {
				continue
			}
			for _, he := range e.Errors {
				if he.ErrorCode == metaCodeAccountLocked {
					block.kind = whatsapp.KindAccountLocked
				}
				if block.reason == "" && he.ErrorDescription != "" {
					block.reason, block.solution, block.code = he.ErrorDescription, he.PossibleSolution, he.ErrorCode
				}
			}
			for _, info := range e.AdditionalInfo {
				if block.reason == "" && info != "" {
					block.reason = info
				}
			}
		}
	}
	return block
}

// NotCheckedYet explains a number whose first health check has not finished.
var NotCheckedYet = whatsapp.Explanation{Title: "Not checked yet",
	Message: "Meta has not answered the first health check of this number yet.",
	Remedy:  "Try again in a minute."}

// Offers reports whether the advice offers the action.
func (a Advice) Offers(action Action) bool { return slices.Contains(a.Actions, action) }

// AdviceInput is what the advice is decided from.
type AdviceInput struct {
	Inbox db.Inbox
	// Snapshot is the latest health (nil: never checked).
	Snapshot *db.HealthSnapshot
	// Status is the registration status (attempts, budget, retry plan); HasStatus says
	// whether it could be read.
	Status    Status
	HasStatus bool
	// Result is the action just taken, when the advice answers one.
	Result *Result
	// Administrator: the person may change things (agents only look and refresh).
	Administrator bool
	// Confirming: the person is at the "Try anyway" step.
	Confirming bool
	Now        time.Time
}

// Advise decides what a person is told about an inbox's number and may do now. It is
// pure: the same input always gives the same advice.
func Advise(in AdviceInput) Advice {
	d := DecisionFor(in.Inbox, in.Snapshot)
	a := Advice{Overall: OverallOf(in.Snapshot), State: d.State, AttemptsLeft: -1}
	if in.HasStatus {
		a.AttemptsLeft = in.Status.AttemptsLeft
	}
	if in.Result != nil {
		a.Outcome = in.Result.Outcome
	}
	if s := in.Snapshot; s != nil && !s.OK {
		ex := fetchKind(s).Explain()
		a.FetchProblem = &ex
	}
	block := sendingBlockOf(in.Snapshot)
	if block == nil && describeDone(&a, d, in.Result) {
		a.Actions = []Action{ActionRefresh}
		return a
	}
	describeProblem(&a, d, in, block)
	a.Technical = technicalText(in, a.Kind, block)
	a.Next = nextStep(d, in, a.Kind)
	a.NextRetryAt = in.Status.NextRetryAt
	if a.NextRetryAt == nil {
		// The decision's generic words promise a retry; with none planned, they go.
		a.Reason = strings.TrimSuffix(a.Reason, " Registration is retried automatically.")
	}
	a.FixInWhatsAppManager = fixInManager(d.State, a.Kind)
	offerActions(&a, d, in)
	return a
}

// fetchKind is the kind of a failed fetch (unknown when it was not classified).
func fetchKind(s *db.HealthSnapshot) whatsapp.Kind {
	if s.ErrorKind == whatsapp.KindNone {
		return whatsapp.KindUnknown
	}
	return s.ErrorKind
}

// describeDone fills the advice for a registered number; false when it is not.
func describeDone(a *Advice, d whatsapp.Decision, res *Result) bool {
	switch {
	case res != nil && res.Outcome == OutcomeRegistered:
		a.Tone, a.Title, a.Done, a.State = whatsapp.ToneGreen, "Registered", true, whatsapp.StateRegistered
		a.Reason = "This number is registered with the WhatsApp Cloud API and can send messages now."
		if res.WebhookError != "" {
			a.Remedy = res.WebhookError
		}
	case d.State == whatsapp.StateRegistered || (res != nil && res.State == whatsapp.StateRegistered):
		a.Tone, a.Title, a.Done, a.State = whatsapp.ToneGreen, "Already registered", true, whatsapp.StateRegistered
		a.Reason = d.Reason
		if res != nil && res.Reason != "" {
			a.Reason = res.Reason
		}
	default:
		return false
	}
	return true
}

// describeProblem says what stands in the way, leading with what a person must fix
// first: a health check that failed for a reason no registration gets past (the same
// story the overall status tells), the failure just answered, a PIN Meta refused, the
// spent window, the last failed attempt, and otherwise the registration state.
func describeProblem(a *Advice, d whatsapp.Decision, in AdviceInput, block *sendingBlock) {
	a.Kind, a.kindIsCurrent = problemKind(d, in, block)
	switch {
	case a.Kind == KindSendingBlocked:
		a.Title, a.Tone = "Meta is blocking messages from this number", whatsapp.ToneRed
		a.Reason = "Meta does not let this number send messages."
		if block.reason != "" {
			a.Reason = "Meta does not let this number send messages. Meta's reason: " + block.reason
		}
		a.Remedy = block.solution
		if a.Remedy == "" {
			a.Remedy = "Open the number in WhatsApp Manager to see Meta's notices and what to fix."
		}
	case a.Kind == whatsapp.KindNone && d.State == whatsapp.StateWaitingForDisplayName:
		e := whatsapp.KindDisplayNameNotReady.Explain()
		a.Title, a.Tone = e.Title, whatsapp.ToneAmber
		a.Reason = "Meta is still reviewing the display name. " + displayNameReviewWait + " Registration finishes by itself once Meta approves it."
	case a.Kind != whatsapp.KindNone:
		e := a.Kind.Explain()
		a.Title, a.Reason, a.Remedy = e.Title, e.Message, e.Remedy
		a.Tone = whatsapp.ToneAmber
		if !a.Kind.Retryable() {
			a.Tone = whatsapp.ToneRed
		}
	case needsVerification(in.Snapshot):
		a.Title, a.Tone = "Verify this number first", whatsapp.ToneAmber
		a.Reason = "Meta needs proof that this number is yours before it can be registered. Meta can send a 6-digit code to it by SMS or voice call."
	default:
		a.Title, a.Tone = stateTitle(d.State)
		a.Reason = d.Reason
	}
	if res := in.Result; res != nil && res.Reason != "" && res.Kind == whatsapp.KindNone {
		a.Reason = res.Reason // e.g. "already in progress", "enter the PIN for the new name"
	}
	if last := in.Status.LastAttempt; in.Result == nil && a.Kind == whatsapp.KindNone && last != nil && last.Outcome == db.OutcomeInterrupted {
		a.Title, a.Tone = "The last registration attempt was interrupted", whatsapp.ToneAmber
		a.Reason = last.Message
	}
	if in.Snapshot == nil && in.Result == nil {
		a.Title, a.Tone = "Not checked with Meta yet", whatsapp.ToneGrey
		a.Reason = "The first health check of this number has not finished; its registration status shows here once it has."
	}
}

// problemKind is the failure the advice leads with (KindNone: the state tells it), and
// whether it is current: the latest health check's, the action's just taken, or a fact
// that still holds (a PIN Meta refused, the spent window) rather than an older
// attempt's.
func problemKind(d whatsapp.Decision, in AdviceInput, block *sendingBlock) (whatsapp.Kind, bool) {
	if s := in.Snapshot; s != nil && !s.OK && personMustActFirst(fetchKind(s)) {
		return fetchKind(s), true
	}
	if block != nil {
		return block.kind, true
	}
	switch st := in.Status; {
	case in.Result != nil:
		return in.Result.Kind, true
	case in.Inbox.PINState == db.PINStateMismatch:
		return whatsapp.KindPINMismatch, true
	case st.BlockedUntil != nil:
		return whatsapp.KindRegisterRateLimited, true
	case st.LastAttempt != nil && st.LastAttempt.Outcome == db.OutcomeFailed &&
		(d.State == whatsapp.StatePendingRegistration || d.State == whatsapp.StateUnknown):
		return st.LastAttempt.ErrorKind, false
	}
	return whatsapp.KindNone, false
}

// needsVerification reports whether Meta says the number's ownership is not (or no
// longer) verified.
func needsVerification(s *db.HealthSnapshot) bool {
	if s == nil || s.Phone == nil {
		return false
	}
	switch s.Phone.CodeVerificationStatus {
	case whatsapp.VerificationNotVerified, whatsapp.VerificationExpired:
		return true
	}
	return false
}

// verificationKind reports failures the verification flow answers.
func verificationKind(k whatsapp.Kind) bool {
	return k == whatsapp.KindNeedsVerification || k == whatsapp.KindCodeWrong || k == whatsapp.KindCodeNotSent
}

// personMustActFirst reports whether a failure of this kind needs a person to fix
// something before any register call could succeed.
func personMustActFirst(kind whatsapp.Kind) bool {
	switch kind {
	case whatsapp.KindTokenExpired, whatsapp.KindAccountLocked, whatsapp.KindPermissionMissing,
		whatsapp.KindPolicyBlocked, whatsapp.KindDeregistrationIncomplete, whatsapp.KindNeedsVerification,
		KindSendingBlocked:
		return true
	}
	return false
}

func stateTitle(s whatsapp.RegistrationState) (string, whatsapp.Tone) {
	switch s {
	case whatsapp.StateWaitingForDisplayName:
		return "Meta is still reviewing your display name", whatsapp.ToneAmber
	case whatsapp.StateDisplayNameActionRequired:
		return "The display name needs your attention", whatsapp.ToneRed
	case whatsapp.StateOnPremise:
		return "This number uses the On-Premises API", whatsapp.ToneGrey
	case whatsapp.StatePendingRegistration:
		return "This number is not registered with WhatsApp yet", whatsapp.ToneAmber
	case whatsapp.StateCoexistence:
		return "This number is also used in the WhatsApp Business app", whatsapp.ToneGrey
	case whatsapp.StateNameChangeNeedsRegister:
		return "The new display name needs one more registration", whatsapp.ToneAmber
	}
	return "We could not check this number with Meta just now", whatsapp.ToneGrey
}

// nextStep says what happens next by itself, and only what is planned.
func nextStep(d whatsapp.Decision, in AdviceInput, kind whatsapp.Kind) string {
	st, now := in.Status, in.Now
	switch {
	case st.BlockedUntil != nil:
		return "Registration can be tried again after " + clockTime(now, *st.BlockedUntil) + "."
	case kind == KindSendingBlocked:
		return "Nothing is retried: we keep checking the number, and this page shows it as soon as Meta lifts the block."
	case kind != whatsapp.KindNone && !kind.Retryable():
		return "No automatic retries until this is fixed."
	case d.State == whatsapp.StateCoexistence || d.State == whatsapp.StateOnPremise ||
		d.State == whatsapp.StateDisplayNameActionRequired:
		return ""
	case needsVerification(in.Snapshot):
		return "Nothing is tried automatically until the number is verified; registration follows as soon as the code is entered."
	case !in.HasStatus:
		return ""
	case d.State == whatsapp.StateWaitingForDisplayName:
		// A retry planned while the name is in review makes no call (the registrar
		// defers it), so only the approval is worth announcing.
		return "We register it automatically as soon as Meta approves the name — " + attemptsLeftText(st.AttemptsLeft) + "."
	case st.NextRetryAt != nil && st.NextRetryAt.After(now):
		return "We will retry automatically at " + clockTime(now, *st.NextRetryAt) + " — " + attemptsLeftText(st.AttemptsLeft) + "."
	case st.NextRetryAt != nil:
		return "We will retry automatically within minutes — " + attemptsLeftText(st.AttemptsLeft) + "."
	case d.ManualRegister:
		return fmt.Sprintf("%d of Meta's %d attempts per 72 hours are left.", st.AttemptsLeft, RegisterLimit)
	}
	return ""
}

func attemptsLeftText(n int) string {
	if n == 1 {
		return "1 attempt left this window"
	}
	return fmt.Sprintf("%d attempts left this window", n)
}

// clockTime renders t for a sentence: only the time when it is today (UTC), else the
// date and time.
func clockTime(now, t time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.Format(time.DateOnly) == now.Format(time.DateOnly) {
		return t.Format("15:04") + " UTC"
	}
	return t.Format("2006-01-02 15:04") + " UTC"
}

// fixInManager reports whether the fix is in WhatsApp Manager.
func fixInManager(s whatsapp.RegistrationState, kind whatsapp.Kind) bool {
	switch s {
	case whatsapp.StateWaitingForDisplayName, whatsapp.StateDisplayNameActionRequired, whatsapp.StateOnPremise:
		return true
	}
	switch kind {
	case whatsapp.KindPINMismatch, whatsapp.KindNeedsVerification, whatsapp.KindAccountLocked,
		whatsapp.KindDisplayNameNotReady, whatsapp.KindPolicyBlocked, KindSendingBlocked:
		return true
	}
	return false
}

// offerActions decides what the person may do now: administrators get the actions,
// agents a note that an administrator can act.
func offerActions(a *Advice, d whatsapp.Decision, in AdviceInput) {
	needsPIN := in.Inbox.PINState == db.PINStateMismatch || (in.Result != nil && in.Result.NeedsPIN) ||
		(d.NeedsStoredPIN && !db.PINUsable(in.Inbox.PINState))
	// A failure a person must fix first hides "Complete registration" while it is
	// current; one an older attempt met is shown, but the button stays for whoever fixed
	// it since — except an unfinished deregistration, which only deregistering ends.
	blocked := (personMustActFirst(a.Kind) && a.kindIsCurrent) || a.Kind == whatsapp.KindDeregistrationIncomplete ||
		in.Status.BlockedUntil != nil
	var admin []Action
	if needsPIN {
		admin = append(admin, ActionEnterPIN, ActionSetNewPIN)
		if d.NeedsStoredPIN {
			a.PINPrompt = "Meta approved the new display name. Enter the number's two-step verification PIN (or set a new one) so it can be registered again; the new name shows only after that."
		}
		a.PINNote = pinNote(in)
	}
	verify := needsVerification(in.Snapshot) || verificationKind(a.Kind)
	if verify {
		offerVerification(a, &admin, in)
	}
	if d.ManualRegister && !needsPIN && !blocked && !verify {
		// While Meta reviews the name, the one button is the explicit "Try anyway",
		// with its cost said beside it: a first click that only asks for
		// confirmation would make no call and say what the banner already says.
		a.NeedsConfirmation = d.NeedsConfirmation
		if d.NeedsConfirmation {
			admin = append(admin, ActionTryAnyway)
			a.RegisterLabel = "Try anyway"
			a.ConfirmNote = "This will very likely fail while Meta reviews the name, and it uses one of the 10 attempts Meta allows per 72 hours."
		} else {
			admin = append(admin, ActionRegister)
			a.RegisterLabel = "Complete registration"
		}
	}
	if a.Kind == whatsapp.KindDeregistrationIncomplete && in.Status.BlockedUntil == nil && in.Status.AttemptsLeft >= 2 {
		admin = append(admin, ActionDeregisterAndRegister)
	}
	if a.Kind == whatsapp.KindTokenExpired || a.Kind == whatsapp.KindPermissionMissing {
		admin = append(admin, ActionReconnect)
	}
	if in.Administrator {
		a.Actions = admin
	} else if verify {
		a.AskAdministrator = true
		a.CodeNote = ""
	} else {
		a.AskAdministrator = len(admin) > 0
	}
	if a.AskAdministrator {
		a.AdminNote = adminNote(a.Kind, needsPIN, verify)
		a.PINNote = ""
	}
	a.Actions = append(a.Actions, ActionRefresh) // reading health is for everyone
}

// offerVerification offers a code request (spaced a minute apart, five an hour) and,
// after a recent request, the field for the code.
func offerVerification(a *Advice, admin *[]Action, in AdviceInput) {
	reqs := codeRequests{times: in.Status.CodeRequests}
	wait, hourly := reqs.wait(in.Now)
	a.CodeWait = wait
	switch {
	case wait > 0:
		a.CodeNote = (&CodeRequestWaitError{Wait: wait, Hourly: hourly}).Error() + "."
	default:
		a.CodeNote = "Each request sends a real SMS or voice call to the number."
	}
	*admin = append(*admin, ActionRequestCode)
	if last := reqs.last(); !last.IsZero() && in.Now.Sub(last) < codeRecentFor {
		*admin = append(*admin, ActionEnterCode)
	}
}

// pinNote says what a PIN try costs: each one is a register call.
func pinNote(in AdviceInput) string {
	const each = "Each try makes a register call, which spends one of Meta's 10 registration attempts per 72 hours"
	if !in.HasStatus {
		return each + "."
	}
	return each + "; " + fmt.Sprintf("%d of 10 are left.", in.Status.AttemptsLeft)
}

// adminNote is what an agent is asked to get an administrator to do.
func adminNote(kind whatsapp.Kind, needsPIN, verify bool) string {
	switch {
	case kind == whatsapp.KindTokenExpired || kind == whatsapp.KindPermissionMissing:
		return "Ask an administrator of this account to reconnect the inbox with a new access token."
	case needsPIN:
		return "Ask an administrator of this account to enter the number's two-step verification PIN."
	case verify:
		return "Ask an administrator of this account to verify the number with a code from Meta."
	case kind == whatsapp.KindDeregistrationIncomplete:
		return "Ask an administrator of this account to deregister and register the number again."
	}
	return "Only an administrator of this account can complete registration; ask one to do it."
}

// technicalText is Meta's own words and codes for the failure the advice leads with:
// the answer just given, the failed health check, Meta's health_status, or the last
// failed attempt; "" when the advice explains no failure of Meta's.
func technicalText(in AdviceInput, kind whatsapp.Kind, block *sendingBlock) string {
	if kind == whatsapp.KindNone {
		return ""
	}
	if res := in.Result; res != nil {
		if ge := res.GraphError; ge != nil && res.Kind == kind {
			return metaWords(ge.Code, ge.Subcode, ge.MetaText(), ge.FBTraceID)
		}
		return ""
	}
	if s := in.Snapshot; s != nil && !s.OK && fetchKind(s) == kind {
		return metaWords(s.ErrorCode, s.ErrorSubcode, s.ErrorMessage, "")
	}
	if block != nil && block.kind == kind && block.code != 0 {
		return metaWords(block.code, 0, block.reason, "")
	}
	if last := in.Status.LastAttempt; last != nil && last.GraphCalled && last.ErrorKind == kind {
		return metaWords(last.GraphCode, last.GraphSubcode, last.Message, "")
	}
	return ""
}

// metaWords formats Meta's code, subcode, message and trace id on one line.
func metaWords(code, subcode int64, message, trace string) string {
	var out string
	if code != 0 {
		out = fmt.Sprintf("Meta error %d", code)
		if subcode != 0 {
			out += fmt.Sprintf("/%d", subcode)
		}
	}
	if message != "" {
		if out != "" {
			out += ": "
		}
		out += message
	}
	if trace != "" {
		out += " (fbtrace_id " + trace + ")"
	}
	return out
}
