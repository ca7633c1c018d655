package health

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Helpers shared by the scenario tests (name change, PIN reset, deregistration,
// coexistence, webhook routing), on top of regEnv.

// simAppSecret is the app secret newRegEnv gives the simulator (graphsim.Config.AppSecret).
const simAppSecret = "test-app-secret"

// refresh asks Meta for the inbox's health now, as a page read or the monitor would.
func (e *regEnv) refresh(in db.Inbox) db.HealthSnapshot {
	e.t.Helper()
	snap, err := e.svc.Refresh(context.Background(), in, db.SourceFetch)
	if err != nil {
		e.t.Fatalf("refresh inbox %d: %v", in.ID, err)
	}
	return snap
}

func (e *regEnv) latest(in db.Inbox) db.HealthSnapshot {
	e.t.Helper()
	snap, err := e.store.LatestSnapshot(context.Background(), in.ID)
	if err != nil {
		e.t.Fatalf("latest snapshot of inbox %d: %v", in.ID, err)
	}
	return snap
}

// monitor is the real monitor on the environment's clock, retrying registrations
// after each sweep as the server wires it.
func (e *regEnv) monitor() *Monitor {
	return NewMonitor(e.svc, e.store, e.client, MonitorOptions{Now: e.clock.Now, Logger: e.reg.log,
		Retention: -1, OnSwept: e.reg.OnSwept})
}

func (e *regEnv) sweep(m *Monitor) {
	e.t.Helper()
	if _, err := m.SweepOnce(context.Background()); err != nil {
		e.t.Fatalf("sweep: %v", err)
	}
	e.reg.Wait()
}

// applyWebhook folds one webhook change into the inbox's health, as the app-level
// callback does, and waits for what it started in the background.
func (e *regEnv) applyWebhook(in db.Inbox, change whatsapp.WebhookChange) {
	e.t.Helper()
	if _, _, err := e.svc.ApplyWebhook(context.Background(), in, change); err != nil {
		e.t.Fatalf("apply webhook %s: %v", change.Field, err)
	}
	e.reg.Wait()
}

// nameUpdate is Meta's phone_number_name_update value for the inbox's number.
func nameUpdate(in db.Inbox, decision, requestedName string) whatsapp.WebhookChange {
	value, _ := json.Marshal(map[string]string{
		"display_phone_number":    strings.TrimPrefix(in.PhoneNumber, "+"),
		"decision":                decision,
		"requested_verified_name": requestedName,
	})
	return whatsapp.WebhookChange{Field: whatsapp.WebhookFieldNameUpdate, Value: value}
}

func (e *regEnv) deregisterCalls(id string) int {
	return e.sim.CountRequests(http.MethodPost, "/"+id+"/deregister")
}

func (e *regEnv) setPINCalls(id string) int {
	return e.sim.CountRequests(http.MethodPost, "/"+id)
}

func (e *regEnv) status(in db.Inbox) Status {
	e.t.Helper()
	st, err := e.reg.Status(context.Background(), e.reload(in))
	if err != nil {
		e.t.Fatalf("status of inbox %d: %v", in.ID, err)
	}
	return st
}

// registrarWith builds another registrar on the environment's store and service, with
// its own Graph (e.g. a wrapper around the real client) and options.
func (e *regEnv) registrarWith(graph Graph, opts RegistrarOptions) *Registrar {
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	if opts.Logger == nil {
		opts.Logger = e.reg.log
	}
	if opts.FrontendURL == "" {
		opts.FrontendURL = regFrontendURL
	}
	r := NewRegistrar(e.store, graph, e.svc, opts)
	e.t.Cleanup(r.Close)
	return r
}

// requestIndex is the position of the first simulator request with this method and
// path at or after from, or -1.
func (e *regEnv) requestIndex(method, path string, from int) int {
	for i, r := range e.sim.Requests() {
		if i >= from && r.Method == method && r.Path == path {
			return i
		}
	}
	return -1
}

func attemptsSummary(as []db.RegistrationAttempt) string {
	var b strings.Builder
	for i, a := range as {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(a.Trigger + "/" + a.Outcome)
		if a.GraphCalled {
			b.WriteString("/called")
		}
		if a.ErrorKind != whatsapp.KindNone {
			b.WriteString("/" + string(a.ErrorKind))
		}
	}
	return "[" + b.String() + "]"
}
