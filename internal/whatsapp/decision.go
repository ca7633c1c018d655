package whatsapp

// RegistrationState is where a number stands on the way to being able to send
// messages through the Cloud API. It is derived from health alone (see Decide), so it
// can be recomputed at any time and never drifts from what Meta reports.
type RegistrationState string

// Registration states, one per row of the registration decision table in DESIGN.md.
const (
	StateCoexistence               RegistrationState = "coexistence"
	StateNameChangeNeedsRegister   RegistrationState = "name_change_needs_register"
	StateRegistered                RegistrationState = "registered"
	StateWaitingForDisplayName     RegistrationState = "waiting_for_display_name"
	StateDisplayNameActionRequired RegistrationState = "display_name_action_required"
	StateOnPremise                 RegistrationState = "on_premise"
	StatePendingRegistration       RegistrationState = "pending_registration"
	StateUnknown                   RegistrationState = "unknown"
)

// Decision says what registration state a number is in and who may call
// POST /{phone-number-id}/register about it.
type Decision struct {
	State RegistrationState
	// AutoRegister: the monitor may call register without anyone asking.
	AutoRegister bool
	// ManualRegister: an administrator's click may call register. When
	// NeedsConfirmation is also set, the click must be an explicit "Try anyway".
	ManualRegister bool
	// NeedsConfirmation is set while Meta reviews the display name: a register call
	// then almost surely fails (100/2388001) and burns one of the 10 calls Meta allows
	// per 72 hours, so an administrator must confirm before forcing ONE attempt.
	NeedsConfirmation bool
	// NeedsStoredPIN: the register call must use the PIN Meta already holds for the
	// number (the one stored for the inbox); a new PIN must never be generated for it.
	NeedsStoredPIN bool
	// Reason explains the state to a customer in plain words.
	Reason string
}

// RegistrationFacts are what the decision needs beyond the latest health: things only
// the product's own records know.
type RegistrationFacts struct {
	// NameChangeApproved: Meta approved a display-name change after the last
	// successful register call (see NameChangeApproved).
	NameChangeApproved bool
}

// AllowsManual reports whether an administrator's click may call register now;
// confirmed says the administrator explicitly chose "Try anyway".
func (d Decision) AllowsManual(confirmed bool) bool {
	return d.ManualRegister && (!d.NeedsConfirmation || confirmed)
}

// Decide applies the registration decision table of DESIGN.md to the latest health,
// knowing nothing beyond it: DecideWith with zero RegistrationFacts.
func Decide(p *PhoneNumber) Decision {
	return DecideWith(p, RegistrationFacts{})
}

// DecideWith applies the registration decision table of DESIGN.md to the latest health
// and the product's own facts. p == nil means the health could not be fetched. The
// rules are evaluated in the table's order, so a coexistence number is never
// registered, and a number that Meta already reports as provisioned on the Cloud API
// is registered again only to apply an approved display-name change.
func DecideWith(p *PhoneNumber, f RegistrationFacts) Decision {
	if p == nil {
		// Without health we cannot know that a call would be wasted, so the monitor
		// stays quiet; a person who clicks accepts that risk.
		return Decision{
			State:          StateUnknown,
			ManualRegister: true,
			Reason:         "We could not check this number with Meta just now. You can still try to complete registration.",
		}
	}
	if p.OnBizApp() {
		// A coexistence number is registered through the WhatsApp Business app's own
		// onboarding; a register call would move it off the app.
		return Decision{
			State:  StateCoexistence,
			Reason: "This number is also used in the WhatsApp Business app, so it is never registered from here: that would move it off the app.",
		}
	}
	if isRegisteredOnCloudAPI(*p) && f.NameChangeApproved {
		// Meta shows a new display name only after a fresh register call made after
		// the approval; one made before has no effect. See "Register a business phone
		// number", https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/registration/
		return Decision{
			State:          StateNameChangeNeedsRegister,
			AutoRegister:   true,
			ManualRegister: true,
			NeedsStoredPIN: true,
			Reason:         "Meta approved the new display name. The number is registered once more with its existing PIN so customers see the new name.",
		}
	}
	if isRegisteredOnCloudAPI(*p) {
		return Decision{
			State:  StateRegistered,
			Reason: "This number is registered with the WhatsApp Cloud API and ready to send messages.",
		}
	}
	switch p.EffectiveNameStatus() {
	case NamePendingReview:
		return Decision{
			State:             StateWaitingForDisplayName,
			ManualRegister:    true,
			NeedsConfirmation: true,
			Reason:            "Meta is still reviewing the display name. Registration will finish automatically once Meta approves it.",
		}
	case NameDeclined, NameExpired, NameNone, NameNonExists:
		return Decision{
			State:  StateDisplayNameActionRequired,
			Reason: "The display name needs your attention in WhatsApp Manager before this number can be registered.",
		}
	}
	if p.PlatformType == PlatformOnPremise {
		return Decision{
			State:  StateOnPremise,
			Reason: "This number is registered with the On-Premises API, so it cannot be registered with the Cloud API from here.",
		}
	}
	if p.CodeVerificationStatus == VerificationNotVerified || p.CodeVerificationStatus == VerificationExpired {
		// Meta refuses to register a number whose ownership is not verified (133006), so
		// the monitor waits for the verification instead of spending one of the ten calls.
		return Decision{
			State:          StatePendingRegistration,
			ManualRegister: true,
			Reason:         "This number is not registered with the WhatsApp Cloud API yet, and Meta first needs proof that it is yours.",
		}
	}
	return Decision{
		State:          StatePendingRegistration,
		AutoRegister:   true,
		ManualRegister: true,
		Reason:         "This number is not registered with the WhatsApp Cloud API yet; until it is, Meta limits what it can send. Registration is retried automatically.",
	}
}

// NameChangeApproved reports whether a registered number's display-name change was
// approved between two health reads: next is registered and its new_name_status is
// APPROVED, and prev's was not. With no earlier read (prev nil: a number just added, or
// a webhook before the first check) an APPROVED new_name_status counts too: Meta
// reports it while the approved name waits for the register call that makes it show,
// and missing that call would leave the old name for good. An unregistered number is
// never a name change: its first register call picks up the approved name anyway.
func NameChangeApproved(prev, next *PhoneNumber) bool {
	if next == nil || !isRegisteredOnCloudAPI(*next) || next.NewNameStatus != NameApproved {
		return false
	}
	return prev == nil || prev.NewNameStatus != NameApproved
}

// isRegisteredOnCloudAPI is the registered row of the decision table: Meta only assigns a
// throughput level once a number is registered, so CLOUD_API plus a real level means
// a register call has already succeeded.
func isRegisteredOnCloudAPI(p PhoneNumber) bool {
	return p.PlatformType == PlatformCloudAPI &&
		p.Throughput.Level != "" &&
		p.Throughput.Level != ThroughputNotApplicable
}
