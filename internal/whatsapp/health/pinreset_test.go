package health

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/pgtest"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

const resetPIN = "135790"

// setPINSpy is the real client, noting what the store held when the set-PIN call left.
type setPINSpy struct {
	Graph
	store *db.Store
	mu    sync.Mutex
	seen  []db.InboxSecrets
	in    int64
}

func (g *setPINSpy) SetTwoStepPIN(ctx context.Context, token, phoneNumberID, pin string) error {
	s, err := g.store.Secrets(ctx, g.in)
	if err == nil {
		g.mu.Lock()
		g.seen = append(g.seen, s)
		g.mu.Unlock()
	}
	return g.Graph.SetTwoStepPIN(ctx, token, phoneNumberID, pin)
}

// storedPINColumn is the inbox's pin_enc column as it is on disk.
func (e *regEnv) storedPINColumn(in db.Inbox) []byte {
	e.t.Helper()
	driver, query := "sqlite", `SELECT pin_enc FROM inboxes WHERE id = ?`
	if pgtest.OnPostgres() {
		driver, query = "pgx", `SELECT pin_enc FROM inboxes WHERE id = $1`
	}
	raw, err := sql.Open(driver, e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer raw.Close()
	var enc []byte
	if err := raw.QueryRow(query, in.ID).Scan(&enc); err != nil {
		e.t.Fatal(err)
	}
	return enc
}

// mismatchedPIN is the pin_already_set number after a first click: Meta holds 246810,
// the inbox a PIN Meta refused (133005).
func mismatchedPIN(t *testing.T, e *regEnv) (db.Inbox, string) {
	in := e.inbox(pinSetID)
	if res := e.register(in, e.person()); res.Kind != whatsapp.KindPINMismatch {
		t.Fatalf("first click: want pin_mismatch (133005), got %s %s", res.Outcome, res.Kind)
	}
	s := e.secrets(in)
	if s.PINState != db.PINStateMismatch {
		t.Fatalf("after 133005: want PIN state mismatch, got %s", s.PINState)
	}
	return e.reload(in), s.PIN
}

func TestResetPINStoresTheNewPINFirstThenRegisters(t *testing.T) {
	e := newRegEnv(t, "pin_already_set")
	in, _ := mismatchedPIN(t, e)
	spy := &setPINSpy{Graph: e.client, store: e.store, in: in.ID}
	reg := e.registrarWith(spy, RegistrarOptions{})
	requestsBefore := len(e.sim.Requests())

	res, err := reg.ResetPIN(context.Background(), in, resetPIN, e.person())
	if err != nil {
		t.Fatalf("ResetPIN: %v", err)
	}
	if res.Outcome != OutcomeRegistered {
		t.Fatalf("ResetPIN: want registered, got %s %s (%s)", res.Outcome, res.Kind, res.Reason)
	}
	if len(spy.seen) != 1 || spy.seen[0].PIN != resetPIN {
		t.Fatalf("when the set-PIN call left: want the new PIN already stored, got %d calls (stored the new one: %v)",
			len(spy.seen), len(spy.seen) == 1 && spy.seen[0].PIN == resetPIN)
	}
	if n := e.setPINCalls(pinSetID); n != 1 {
		t.Errorf("POST /{id} {pin}: want exactly 1 call, got %d", n)
	}
	setAt := e.requestIndex(http.MethodPost, "/"+pinSetID, requestsBefore)
	registerAt := e.requestIndex(http.MethodPost, "/"+pinSetID+"/register", requestsBefore)
	if setAt < 0 || registerAt < setAt {
		t.Errorf("order at Meta: want the set-PIN call, then register; got set-PIN at %d, register at %d", setAt, registerAt)
	}
	if n, _ := e.sim.Number(pinSetID); n.PIN != resetPIN || e.sim.ReceivedPIN(pinSetID) != resetPIN {
		t.Errorf("at Meta: want the new PIN held and used by the register call")
	}
	if s := e.secrets(in); s.PIN != resetPIN || s.PINState != db.PINStateConfirmed {
		t.Errorf("stored PIN after the reset: want the new one, confirmed; got state %s (new one: %v)", s.PINState, s.PIN == resetPIN)
	}
	if enc := e.storedPINColumn(in); len(enc) == 0 || strings.Contains(string(enc), resetPIN) {
		t.Errorf("pin_enc on disk: want the PIN encrypted, got %d bytes (holds the plain PIN: %v)", len(enc), strings.Contains(string(enc), resetPIN))
	}
	attempts := e.attempts(in)
	if len(attempts) != 3 {
		t.Fatalf("attempts: want 133005, pin_set, registered; got %s", attemptsSummary(attempts))
	}
	if a := attempts[1]; a.Outcome != db.OutcomePINSet || a.GraphCalled || a.Trigger != db.TriggerBanner {
		t.Errorf("the reset's attempt: want pin_set by banner, not counted as a register call; got %s", attemptsSummary(attempts[1:2]))
	}
	if a := attempts[0]; a.Outcome != db.OutcomeRegistered || !a.GraphCalled {
		t.Errorf("the registration after the reset: want registered, counted; got %s", attemptsSummary(attempts[:1]))
	}
	if n := e.registerCalls(pinSetID); n != 2 {
		t.Errorf("register calls: want the first 133005 and one after the reset, got %d", n)
	}
}

func TestResetPINRefusedByMetaRestoresThePreviousPIN(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failure graphsim.Failure
		kind    whatsapp.Kind
	}{
		{"permission missing", graphsim.FailurePermissionDenied("whatsapp_business_management"), whatsapp.KindPermissionMissing},
		{"too many PIN changes", graphsim.Failure{Status: http.StatusBadRequest,
			Error: graphsim.GraphError{Code: 133008, Message: "(#133008) Too many two step verification PIN guesses for this phone number"}},
			whatsapp.KindTooManyPINAttempts},
		{"Meta down", graphsim.Failure{Status: http.StatusInternalServerError,
			Error: graphsim.GraphError{Code: 2, Message: "An unexpected error has occurred. Please retry your request later."}},
			whatsapp.KindTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRegEnv(t, "pin_already_set")
			in, before := mismatchedPIN(t, e)
			e.sim.Inject(http.MethodPost, "/"+pinSetID, tc.failure)

			res, err := e.reg.ResetPIN(context.Background(), in, resetPIN, e.person())
			if err != nil {
				t.Fatalf("ResetPIN: %v", err)
			}
			if res.Outcome != OutcomeFailed || res.Kind != tc.kind || !res.NeedsPIN {
				t.Errorf("refused reset: want failed %s asking for the PIN, got %s %s needsPIN=%v", tc.kind, res.Outcome, res.Kind, res.NeedsPIN)
			}
			if s := e.secrets(in); s.PIN != before || s.PINState != db.PINStateMismatch {
				t.Errorf("after the refused reset: want the previous PIN and state mismatch back, got state %s (previous PIN: %v)", s.PINState, s.PIN == before)
			}
			if n := e.registerCalls(pinSetID); n != 1 {
				t.Errorf("no register call may follow a refused reset: want 1 call in all (the first 133005), got %d", n)
			}
			if n, _ := e.sim.Number(pinSetID); n.PIN != metaHeldPIN {
				t.Errorf("at Meta: want the PIN it held kept")
			}
			if a := e.attempts(in); len(a) != 2 || a[0].Outcome != db.OutcomeFailed || a[0].GraphCalled || a[0].ErrorKind != tc.kind {
				t.Errorf("attempts: want the refused reset recorded as failed %s, not counted; got %s", tc.kind, attemptsSummary(a))
			}
		})
	}
}

func TestResetPINRefusesABadPINAndARegistrationInFlight(t *testing.T) {
	e := newRegEnv(t, "pin_already_set")
	in, _ := mismatchedPIN(t, e)
	for _, pin := range []string{"", "12345", "1234567", "12a456"} {
		if _, err := e.reg.ResetPIN(context.Background(), in, pin, e.person()); err != ErrInvalidPIN {
			t.Errorf("ResetPIN(%q): want ErrInvalidPIN, got %v", pin, err)
		}
	}
	if err := e.store.AcquireLease(context.Background(), in.ID, "another-process", DefaultLeaseTTL); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.ResetPIN(context.Background(), in, resetPIN, e.person()); err != ErrRegistrationInProgress {
		t.Errorf("ResetPIN while a registration holds the lease: want ErrRegistrationInProgress, got %v", err)
	}
	if n := e.setPINCalls(pinSetID); n != 0 {
		t.Errorf("refused resets must not call Meta, got %d set-PIN calls", n)
	}
}

// The PIN never shows in an attempt, a result, a log line or an error, even when
// Meta's error text repeats it.
func TestPINNeverAppearsEvenWhenMetaEchoesIt(t *testing.T) {
	const known = "864209" // the PIN the administrator entered
	echo := func(code int, pins ...string) graphsim.Failure {
		text := strings.Join(pins, " / ")
		return graphsim.Failure{Status: http.StatusBadRequest, Error: graphsim.GraphError{
			Code: code, Message: "(#" + strconv.Itoa(code) + ") PIN " + text + " was not accepted", Type: "OAuthException",
			ErrorUserTitle: "PIN " + text, ErrorUserMsg: "The PIN " + text + " is wrong",
			ErrorData: &graphsim.ErrorData{MessagingProduct: "whatsapp", Details: "pin=" + text}}}
	}
	for _, tc := range []struct {
		name string
		act  func(e *regEnv, in db.Inbox) (Result, error)
	}{
		{"register refused", func(e *regEnv, in db.Inbox) (Result, error) {
			e.sim.Inject(http.MethodPost, "/"+pendingID+"/register", echo(133005, known))
			return e.reg.Register(context.Background(), in, e.person())
		}},
		{"register refused transiently", func(e *regEnv, in db.Inbox) (Result, error) {
			f := echo(1, known)
			f.Status = http.StatusInternalServerError
			e.sim.Inject(http.MethodPost, "/"+pendingID+"/register", f)
			return e.reg.Register(context.Background(), in, Request{Trigger: db.TriggerAutomatic})
		}},
		{"new PIN refused, echoing the old and the new", func(e *regEnv, in db.Inbox) (Result, error) {
			e.sim.Inject(http.MethodPost, "/"+pendingID, echo(131031, known, resetPIN))
			return e.reg.ResetPIN(context.Background(), in, resetPIN, e.person())
		}},
		{"register after a new PIN refused, echoing it", func(e *regEnv, in db.Inbox) (Result, error) {
			e.sim.Inject(http.MethodPost, "/"+pendingID+"/register", echo(133005, resetPIN))
			return e.reg.ResetPIN(context.Background(), in, resetPIN, e.person())
		}},
		{"deregistration refused, echoing the PIN", func(e *regEnv, in db.Inbox) (Result, error) {
			e.sim.Inject(http.MethodPost, "/"+pendingID+"/register", graphsim.FailureIncompleteDeregistration())
			if _, err := e.reg.Register(context.Background(), in, e.person()); err != nil {
				return Result{}, err
			}
			e.sim.Inject(http.MethodPost, "/"+pendingID+"/deregister", echo(100, known))
			return e.reg.DeregisterAndRegister(context.Background(), e.reload(in), e.person())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRegEnv(t, "pending_provisioning")
			in := e.inbox(pendingID)
			if err := e.reg.SetPIN(context.Background(), in, known, e.userID); err != nil {
				t.Fatal(err)
			}
			res, err := tc.act(e, e.reload(in))
			places := map[string]string{"reason": res.Reason, "webhook error": res.WebhookError, "logs": e.logs.String()}
			if err != nil {
				places["error"] = err.Error()
			}
			if res.GraphError != nil {
				places["graph error"] = res.GraphError.Error()
				places["Meta's text"] = res.GraphError.MetaText()
				places["graph error fields"] = res.GraphError.Message + res.GraphError.UserTitle + res.GraphError.UserMessage + res.GraphError.Details
			}
			for i, a := range e.attempts(in) {
				places["attempt "+string(rune('0'+i))+" message"] = a.Message
			}
			st := e.status(in)
			for i, a := range st.Recent {
				places["status attempt "+string(rune('0'+i))] = a.Message
			}
			for where, text := range places {
				for _, pin := range []string{known, resetPIN} {
					if strings.Contains(text, pin) {
						t.Errorf("%s holds a PIN (%s): %q", where, pin, text)
					}
				}
			}
		})
	}
}
