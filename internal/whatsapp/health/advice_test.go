package health

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// This file is the one place to read what a customer is told about a number and may do,
// for every demo scenario (before a click, after a click, and as an agent sees it) and
// for every error kind.

// adviceNow reads what an administrator (or an agent) is told about the inbox now,
// optionally answering the result of an action just taken.
func (e *regEnv) adviceNow(in db.Inbox, res *Result, administrator bool) Advice {
	e.t.Helper()
	in = e.reload(in)
	var snap *db.HealthSnapshot
	if s, err := e.store.LatestSnapshot(context.Background(), in.ID); err == nil {
		snap = &s
	}
	st, err := e.reg.Status(context.Background(), in)
	if err != nil {
		e.t.Fatal(err)
	}
	return Advise(AdviceInput{Inbox: in, Snapshot: snap, Status: st, HasStatus: true, Result: res,
		Administrator: administrator, Now: e.clock.Now()})
}

// adviceWant is what a row expects; empty strings are not checked.
type adviceWant struct {
	state   whatsapp.RegistrationState
	title   string
	tone    whatsapp.Tone
	actions []Action // an administrator's
	manager bool     // the fix is in WhatsApp Manager
	next    string   // a part of Next
	outcome Outcome  // after the click
}

func checkAdvice(t *testing.T, what string, got Advice, want adviceWant) {
	t.Helper()
	if want.state != "" && got.State != want.state {
		t.Errorf("%s: state %q, want %q", what, got.State, want.state)
	}
	if want.title != "" && got.Title != want.title {
		t.Errorf("%s: title %q, want %q", what, got.Title, want.title)
	}
	if want.tone != "" && got.Tone != want.tone {
		t.Errorf("%s: tone %q, want %q", what, got.Tone, want.tone)
	}
	if !slices.Equal(got.Actions, want.actions) {
		t.Errorf("%s: actions %v, want %v", what, got.Actions, want.actions)
	}
	if got.FixInWhatsAppManager != want.manager {
		t.Errorf("%s: fix in WhatsApp Manager %v, want %v", what, got.FixInWhatsAppManager, want.manager)
	}
	if !strings.Contains(got.Next, want.next) {
		t.Errorf("%s: next %q, want it to say %q", what, got.Next, want.next)
	}
	if want.outcome != "" && got.Outcome != want.outcome {
		t.Errorf("%s: outcome %q, want %q", what, got.Outcome, want.outcome)
	}
	// One story on one screen: the advice never contradicts its own overall status.
	if got.Overall.Code == whatsapp.OverallTokenExpired && got.Kind != whatsapp.KindTokenExpired {
		t.Errorf("%s: overall says the token expired but the advice explains %q (%q)", what, got.Kind, got.Title)
	}
	if (strings.Contains(got.Next, "retry automatically") || strings.Contains(got.Reason, "retried automatically")) && got.NextRetryAt == nil {
		t.Errorf("%s: says %q / %q with no retry planned", what, got.Reason, got.Next)
	}
}

var (
	registerRefresh  = []Action{ActionRegister, ActionRefresh}
	refreshOnly      = []Action{ActionRefresh}
	tryAnywayRefresh = []Action{ActionTryAnyway, ActionRefresh}
)

func TestAdviceForEveryDemoNumber(t *testing.T) {
	cases := []struct {
		name, id string
		before   adviceWant
		after    adviceWant // after an administrator's "Complete registration"
		agentAsk bool       // an agent is told an administrator can act
		setup    bool       // the demo's setup made one register call first (see demo Seed)
	}{
		{"Padaria Central — Support", "109876543210003",
			adviceWant{state: whatsapp.StateRegistered, title: "Already registered", tone: whatsapp.ToneGreen, actions: refreshOnly},
			adviceWant{outcome: OutcomeSkipped, title: "Already registered", actions: refreshOnly}, false, false},
		{"Padaria Central — Orders", "109876543210013",
			adviceWant{state: whatsapp.StateRegistered, title: "Already registered", tone: whatsapp.ToneGreen, actions: refreshOnly},
			adviceWant{outcome: OutcomeSkipped, title: "Already registered", actions: refreshOnly}, false, false},
		{"Northwind Dental Kids", "109876543210011",
			adviceWant{state: whatsapp.StateWaitingForDisplayName, title: "Meta is still reviewing your display name",
				tone: whatsapp.ToneAmber, actions: tryAnywayRefresh, manager: true, next: "as soon as Meta approves the name"},
			adviceWant{outcome: OutcomeDeferred, title: "Meta is still reviewing your display name", actions: tryAnywayRefresh, manager: true}, true, false},
		{"Acme Support", "109876543210001",
			adviceWant{state: whatsapp.StatePendingRegistration, title: "This number is not registered with WhatsApp yet",
				tone: whatsapp.ToneAmber, actions: registerRefresh, next: "10 of Meta's 10 attempts"},
			adviceWant{outcome: OutcomeRegistered, title: "Registered", tone: whatsapp.ToneGreen, actions: refreshOnly}, true, false},
		{"Blue Harbor Travel", "109876543210002",
			adviceWant{state: whatsapp.StateWaitingForDisplayName, title: "Meta is still reviewing your display name",
				tone: whatsapp.ToneAmber, actions: tryAnywayRefresh, manager: true, next: "as soon as Meta approves the name"},
			adviceWant{outcome: OutcomeDeferred, title: "Meta is still reviewing your display name", actions: tryAnywayRefresh, manager: true}, true, false},
		{"Northwind Dental", "109876543210005",
			adviceWant{state: whatsapp.StateDisplayNameActionRequired, title: "The display name needs your attention",
				tone: whatsapp.ToneRed, actions: refreshOnly, manager: true},
			adviceWant{outcome: OutcomeSkipped, title: "The display name needs your attention", actions: refreshOnly, manager: true}, false, false},
		{"Quick Loans Desk", "109876543210004",
			adviceWant{state: whatsapp.StateRegistered, title: "Meta is blocking messages from this number", tone: whatsapp.ToneRed,
				actions: refreshOnly, manager: true, next: "as soon as Meta lifts the block"},
			adviceWant{outcome: OutcomeSkipped, title: "Meta is blocking messages from this number", actions: refreshOnly, manager: true}, false, false},
		{"Lumen Optics", "109876543210006",
			adviceWant{title: "The connection to Meta has expired", tone: whatsapp.ToneRed,
				actions: []Action{ActionReconnect, ActionRefresh}, next: "No automatic retries"},
			adviceWant{outcome: OutcomeFailed, title: "The connection to Meta has expired",
				actions: []Action{ActionReconnect, ActionRefresh}, next: "No automatic retries"}, true, false},
		{"Harbor Pharmacy", "109876543210007",
			adviceWant{state: whatsapp.StatePendingRegistration, actions: registerRefresh},
			adviceWant{outcome: OutcomeFailed, title: "The two-step verification PIN does not match", tone: whatsapp.ToneRed,
				actions: []Action{ActionEnterPIN, ActionSetNewPIN, ActionRefresh}, manager: true, next: "No automatic retries"}, true, false},
		{"Cedar Legal", "109876543210008",
			adviceWant{state: whatsapp.StatePendingRegistration, title: "Registration limit reached", actions: refreshOnly,
				next: "Registration can be tried again after"},
			adviceWant{outcome: OutcomeDeferred, title: "Registration limit reached", actions: refreshOnly,
				next: "Registration can be tried again after"}, false, true},
		{"Summit Fitness", "109876543210009",
			adviceWant{state: whatsapp.StatePendingRegistration, title: "The WhatsApp Business Account is locked", tone: whatsapp.ToneRed,
				actions: refreshOnly, manager: true, next: "No automatic retries"},
			adviceWant{outcome: OutcomeFailed, title: "The WhatsApp Business Account is locked", tone: whatsapp.ToneRed,
				actions: refreshOnly, manager: true, next: "No automatic retries"}, false, false},
		{"Acme Legacy Line", "109876543210010",
			adviceWant{state: whatsapp.StateOnPremise, title: "This number uses the On-Premises API", tone: whatsapp.ToneGrey,
				actions: refreshOnly, manager: true},
			adviceWant{outcome: OutcomeSkipped, actions: refreshOnly, manager: true}, false, false},
		{"Acme Sales", "109876543210012",
			adviceWant{state: whatsapp.StatePendingRegistration, title: "Verify this number first", tone: whatsapp.ToneAmber,
				actions: []Action{ActionRequestCode, ActionRefresh}},
			adviceWant{outcome: OutcomeFailed, title: "The phone number must be verified again", tone: whatsapp.ToneRed,
				actions: []Action{ActionRequestCode, ActionRefresh}, manager: true, next: "No automatic retries"}, true, false},
		{"Corner Bakery (Business app)", "109876543210014",
			adviceWant{state: whatsapp.StateCoexistence, title: "This number is also used in the WhatsApp Business app",
				tone: whatsapp.ToneGrey, actions: refreshOnly},
			adviceWant{outcome: OutcomeSkipped, title: "This number is also used in the WhatsApp Business app", actions: refreshOnly}, false, false},
		{"Northwind Outfitters (name change)", "109876543210015",
			adviceWant{state: whatsapp.StateRegistered, title: "Already registered", actions: refreshOnly},
			adviceWant{outcome: OutcomeSkipped, actions: refreshOnly}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newRegEnv(t, "demo")
			in := e.inbox(tc.id)
			e.refresh(in)
			if tc.setup {
				e.register(in, Request{Trigger: db.TriggerSetup})
			}
			checkAdvice(t, "before any click", e.adviceNow(in, nil, true), tc.before)

			agent := e.adviceNow(in, nil, false)
			if !slices.Equal(agent.Actions, refreshOnly) || agent.AskAdministrator != tc.agentAsk {
				t.Errorf("as an agent: actions %v, ask an administrator %v; want only refresh, ask %v", agent.Actions, agent.AskAdministrator, tc.agentAsk)
			}

			res := e.register(in, e.person())
			checkAdvice(t, "after a click", e.adviceNow(in, &res, true), tc.after)
			if agent := e.adviceNow(in, &res, false); !slices.Equal(agent.Actions, refreshOnly) {
				t.Errorf("as an agent after the click: actions %v, want only refresh", agent.Actions)
			}
		})
	}
}

// allKinds is every failure kind the product knows.
var allKinds = []whatsapp.Kind{
	whatsapp.KindDisplayNameNotReady, whatsapp.KindPINMismatch, whatsapp.KindNeedsVerification,
	whatsapp.KindTooManyPINAttempts, whatsapp.KindRecentlyDeleted, whatsapp.KindRegisterRateLimited,
	whatsapp.KindDeregistrationIncomplete, whatsapp.KindNotRegistered, whatsapp.KindAccountLocked,
	whatsapp.KindTokenExpired, whatsapp.KindPermissionMissing, whatsapp.KindPolicyBlocked,
	whatsapp.KindRateLimited, whatsapp.KindTransient, whatsapp.KindInvalidRequest, whatsapp.KindUnknown,
	whatsapp.KindCodeNotSent, whatsapp.KindCodeWrong,
}

func TestAdviceForEveryErrorKind(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	pending := &whatsapp.PhoneNumber{ID: "1", CodeVerificationStatus: whatsapp.VerificationVerified,
		NameStatus: whatsapp.NameApproved, PlatformType: whatsapp.PlatformNotApplicable,
		Throughput: whatsapp.Throughput{Level: whatsapp.ThroughputNotApplicable}, Status: "PENDING"}
	good := &db.HealthSnapshot{OK: true, CheckedAt: now, Phone: pending}
	inbox := db.Inbox{ID: 1, PINState: db.PINStateGenerated}
	status := Status{AttemptsLeft: 9}

	for _, k := range allKinds {
		t.Run(string(k), func(t *testing.T) {
			e := k.Explain()
			// After a click that Meta refused with this kind.
			res := &Result{Outcome: OutcomeFailed, Kind: k, NeedsPIN: k == whatsapp.KindPINMismatch,
				GraphError: &whatsapp.GraphError{Code: 131000, Message: "(#131000) zebra words", FBTraceID: "Atrace"}}
			for _, admin := range []bool{true, false} {
				a := Advise(AdviceInput{Inbox: inbox, Snapshot: good, Status: status, HasStatus: true, Result: res,
					Administrator: admin, Now: now})
				who := map[bool]string{true: "administrator", false: "agent"}[admin]
				if a.Technical != "Meta error 131000: (#131000) zebra words (fbtrace_id Atrace)" || strings.Contains(a.Reason, "zebra") {
					t.Errorf("%s: want Meta's own words only in Technical, got technical %q, reason %q", who, a.Technical, a.Reason)
				}
				if a.Title != e.Title || a.Reason != e.Message || a.Remedy != e.Remedy || a.Kind != k {
					t.Errorf("%s after the click: want Meta's failure explained (%q), got %q / %q", who, e.Title, a.Title, a.Reason)
				}
				wantTone := whatsapp.ToneAmber
				if !k.Retryable() {
					wantTone = whatsapp.ToneRed
				}
				if a.Tone != wantTone {
					t.Errorf("%s: tone %q, want %q", who, a.Tone, wantTone)
				}
				if !k.Retryable() && a.Next != "No automatic retries until this is fixed." {
					t.Errorf("%s: a failure no retry helps must say so, got next %q", who, a.Next)
				}
				mustFixFirst := personMustActFirst(k) || k == whatsapp.KindPINMismatch || verificationKind(k)
				if admin && a.Offers(ActionRegister) == mustFixFirst {
					t.Errorf("%s: offers Complete registration %v, want %v (a person must fix it first: %v)", who, a.Offers(ActionRegister), !mustFixFirst, mustFixFirst)
				}
				if !admin && len(a.Actions) != 1 {
					t.Errorf("agent: actions %v, want only refresh", a.Actions)
				}
				switch k {
				case whatsapp.KindPINMismatch:
					if admin && (!a.Offers(ActionEnterPIN) || !a.Offers(ActionSetNewPIN)) {
						t.Errorf("PIN mismatch: want the PIN form with both choices, got %v", a.Actions)
					}
					if admin && !strings.Contains(a.PINNote, "9 of 10 are left") {
						t.Errorf("PIN form: want it to say each try spends an attempt and 9 are left, got %q", a.PINNote)
					}
					if !admin && !strings.Contains(a.AdminNote, "PIN") {
						t.Errorf("agent: want to be told to ask an administrator for the PIN, got %q", a.AdminNote)
					}
				case whatsapp.KindTokenExpired, whatsapp.KindPermissionMissing:
					if admin && !a.Offers(ActionReconnect) {
						t.Errorf("%s: want reconnect offered, got %v", k, a.Actions)
					}
					if !admin && !strings.Contains(a.AdminNote, "reconnect the inbox") {
						t.Errorf("%s, agent: want to be told to ask an administrator to reconnect, got %q", k, a.AdminNote)
					}
				case whatsapp.KindDeregistrationIncomplete:
					if admin && !a.Offers(ActionDeregisterAndRegister) {
						t.Errorf("133000: want deregister-and-register offered, got %v", a.Actions)
					}
				case whatsapp.KindNeedsVerification, whatsapp.KindCodeWrong, whatsapp.KindCodeNotSent:
					if admin && !a.Offers(ActionRequestCode) {
						t.Errorf("%s: want a verification code offered, got %v", k, a.Actions)
					}
				}
			}

			// A health check that failed with this kind: the advice tells the overall
			// status's story when a person must act, else it keeps the last good data's.
			failed := &db.HealthSnapshot{OK: false, CheckedAt: now, Phone: pending, ErrorKind: k}
			a := Advise(AdviceInput{Inbox: inbox, Snapshot: failed, Status: status, HasStatus: true, Administrator: true, Now: now})
			if a.FetchProblem == nil || a.FetchProblem.Title != e.Title {
				t.Errorf("failed check: want its explanation for the panel, got %+v", a.FetchProblem)
			}
			if personMustActFirst(k) {
				if a.Kind != k || a.Offers(ActionRegister) {
					t.Errorf("failed check a person must fix: want it explained and no register, got %q, %v", a.Kind, a.Actions)
				}
			} else if a.State != whatsapp.StateUnknown || !a.Offers(ActionRegister) {
				t.Errorf("failed check (%s): want unknown health with a manual try allowed, got %q, %v", k, a.State, a.Actions)
			}
			checkAdvice(t, fmt.Sprintf("failed check %s", k), a, adviceWant{actions: a.Actions, manager: a.FixInWhatsAppManager})
		})
	}
}
