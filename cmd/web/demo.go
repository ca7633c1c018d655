package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/alerts"
	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/handlers"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// Demo-mode fixed values. They only ever reach the built-in simulator.
const (
	demoDatabasePath = "data/demo.db"
	// demoAddr is where the demo listens when ADDR is not set: this machine only.
	demoAddr          = "127.0.0.1:8080"
	demoAppSecret     = "demo-app-secret"
	demoVerifyToken   = "demo-verify-token"
	demoAccountName   = "Demo Company"
	demoAdminEmail    = "admin@demo.test"
	demoAdminPassword = "demo-admin-pass"
	demoAgentEmail    = "agent@demo.test"
	demoAgentPassword = "demo-agent-pass"
	demoScenario      = "demo"
	// demoAlertSigningSecret signs the demo's alert webhook to its built-in catcher.
	demoAlertSigningSecret = "demo-alert-signing-secret"
	// demoFlaggedNumberID is the connected demo number the alert story flags
	// (Padaria Central — Support), demoFlagAfter how long after start.
	demoFlaggedNumberID = "109876543210003"
	demoFlagAfter       = 60 * time.Second
)

// demoEnvironment is the built-in Graph API simulator serving on a loopback port, so
// the real client talks real HTTP to it.
type demoEnvironment struct {
	sim         *graphsim.Server
	srv         *http.Server
	scenario    *graphsim.Scenario
	frontendURL string
}

// startDemo starts the simulator and points the configuration at it. The demo database
// is recreated on each start so it always matches the simulator's fresh state.
func startDemo(ctx context.Context, cfg *config, logger *slog.Logger) (*demoEnvironment, error) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(cfg.DatabasePath + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("demo: reset database: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(cfg.DatabasePath), 0o750); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if cfg.WhatsAppAppSecret == "" {
		cfg.WhatsAppAppSecret = demoAppSecret
	}
	if cfg.WhatsAppVerifyToken == "" {
		cfg.WhatsAppVerifyToken = demoVerifyToken
	}
	if cfg.WhatsAppAppID == "" {
		cfg.WhatsAppAppID = graphsim.AppID // the app the simulator pretends to be
	}
	sc, err := graphsim.LoadScenario(demoScenario)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	sim := graphsim.New(graphsim.Config{AppSecret: cfg.WhatsAppAppSecret, Logger: logger})
	if err := sim.Load(sc); err != nil {
		return nil, fmt.Errorf("demo: load scenario: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: simulator listen: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	sim.Start(ctx)
	cfg.GraphAPIURL = "http://" + ln.Addr().String() + sim.Prefix()
	cfg.DemoCodesURL = "http://" + ln.Addr().String() + graphsim.CodesPath
	logger.Info("demo: Graph API simulator started", "url", cfg.GraphAPIURL, "scenario", demoScenario)
	return &demoEnvironment{sim: sim, srv: srv, scenario: sc, frontendURL: cfg.FrontendURL}, nil
}

// Seed creates the demo account, its administrator and agent, and one inbox per
// simulated number with an inbox name (the others are there to import), from the same
// scenario data the simulator loaded. Each inbox's
// business account gets the app subscribed as a real setup would, so once ConnectApp
// has set the app's callback the simulator's name approvals reach the app and register
// the number at once; nothing is registered up front, so the
// stuck numbers wait for the banner (or the monitor's retry).
func (d *demoEnvironment) Seed(ctx context.Context, store *db.Store, registrar *health.Registrar, logger *slog.Logger) error {
	admin, err := store.CreateUser(ctx, demoAdminEmail, demoAdminPassword, demoAccountName, db.RoleAdministrator)
	if err != nil {
		return fmt.Errorf("demo: seed administrator: %w", err)
	}
	agent, err := store.CreateUser(ctx, demoAgentEmail, demoAgentPassword, demoAccountName, db.RoleAgent)
	if err != nil {
		return fmt.Errorf("demo: seed agent: %w", err)
	}
	businesses := map[string]graphsim.Business{}
	for _, b := range d.scenario.Businesses {
		businesses[b.WABAID] = b
	}
	seeded := 0
	for i, n := range d.scenario.Numbers {
		if n.InboxName == "" {
			continue // at Meta only, for the import from a business account
		}
		seeded++
		b := businesses[n.WABAID]
		in, err := store.CreateInbox(ctx, db.NewInbox{AccountID: admin.AccountID, Name: n.InboxName, PhoneNumber: n.PhoneNumber,
			PhoneNumberID: n.PhoneNumberID, WABAID: n.WABAID, BusinessID: b.BusinessID, AccessToken: b.AccessToken})
		if err != nil {
			return fmt.Errorf("demo: seed inbox %q: %w", n.InboxName, err)
		}
		if n.PlatformType == "CLOUD_API" && n.PIN != "" {
			// A number the demo shows as registered was registered by this app earlier,
			// so the app knows its PIN (a name change needs it for the new register call).
			if err := store.SetPIN(ctx, in.ID, n.PIN, db.PINStateConfirmed); err != nil {
				return fmt.Errorf("demo: seed PIN of %q: %w", n.InboxName, err)
			}
		}
		if err := seedDemoHistory(ctx, store, in, n, time.Now()); err != nil {
			return err
		}
		if ok, problem := registrar.SubscribeWebhook(ctx, in); !ok {
			logger.Info("demo: webhook not subscribed (shown on the inbox)", "inbox", n.InboxName, "problem", problem)
		}
		if n.RegisterCallsInWindow >= health.RegisterLimit {
			// The demo's story for this number: another tool spent Meta's 10 calls, and
			// the setup's one register call met Meta's 133016, so the banner says when
			// the window frees before anyone clicks (Meta counts refused calls in no
			// window, so this spends nothing).
			if _, err := registrar.Register(ctx, in, health.Request{Trigger: db.TriggerSetup}); err != nil {
				return fmt.Errorf("demo: set up %q: %w", n.InboxName, err)
			}
		}
		if i%2 == 0 { // the agent sees every other inbox, to show agent scoping
			if err := store.AddInboxMember(ctx, in.ID, agent.UserID); err != nil {
				return fmt.Errorf("demo: seed inbox member: %w", err)
			}
		}
	}
	// The "Demo inbox for alerts": a signed webhook destination pointing at the app's
	// built-in catcher, so a visitor sees alerts without a mail server.
	if _, err := store.CreateAlertDestination(ctx, db.NewAlertDestination{AccountID: admin.AccountID,
		Channel: alerts.ChannelWebhook, Label: "Demo inbox for alerts (built in)",
		URL: strings.TrimRight(d.frontendURL, "/") + handlers.DemoAlertInboxPath, Secret: demoAlertSigningSecret,
		Kinds: kindNames(alerts.AllKinds)}); err != nil {
		return fmt.Errorf("demo: seed alert destination: %w", err)
	}
	logger.Info("demo: seeded", "account", demoAccountName, "inboxes", seeded)
	return nil
}

func kindNames(kinds []alerts.Kind) []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return out
}

// StartAlertStory makes something worth an alert happen in the demo: about a minute
// after start Meta flags a connected number (phone_number_quality_update FLAGGED, sent
// to the app's callback like any quality event), so the Demo inbox for alerts shows
// the status and quality alerts. The display name Meta declines after three minutes
// (Northwind Dental Kids) makes a registration alert of its own.
func (d *demoEnvironment) StartAlertStory(ctx context.Context, logger *slog.Logger) {
	go func() {
		timer := time.NewTimer(demoFlagAfter)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if err := d.sim.QualityEvent(demoFlaggedNumberID, "FLAGGED", ""); err != nil {
			logger.Warn("demo: flag a number for the alert story", "error", err)
		}
	}()
}

// ConnectApp does what an operator does in the Meta App Dashboard: it sets the
// simulated app's callback to the app-level webhook endpoint, where Meta sends
// account-level events (name approvals among them). The simulator verifies it with a
// challenge, as Meta does, so the app must already be listening.
// The app's field check is then read again, so the Settings tabs agree at once.
func (d *demoEnvironment) ConnectApp(ctx context.Context, frontendURL, verifyToken string, registrar *health.Registrar) error {
	if err := d.sim.SetAppCallback(ctx, health.AppWebhookURL(frontendURL), verifyToken, nil); err != nil {
		return fmt.Errorf("demo: connect the simulated Meta app's webhook: %w", err)
	}
	registrar.CheckAppSubscriptions(ctx)
	return nil
}

// demoLogins is what the login page shows in demo mode.
func demoLogins(demo bool) []string {
	if !demo {
		return nil
	}
	return []string{
		demoAdminEmail + " / " + demoAdminPassword + " (administrator)",
		demoAgentEmail + " / " + demoAgentPassword + " (agent)",
	}
}

// PrintWelcome tells the person who ran `make run` where to go and how to log in.
func (d *demoEnvironment) PrintWelcome(w io.Writer, url string) {
	fmt.Fprintf(w, `
  Inbox Health — demo mode (simulated WhatsApp Cloud API; nothing reaches Meta)

  Open:           %s
  Administrator:  %s / %s
  Agent:          %s / %s   (sees some inboxes, cannot change anything)

  Demo data is recreated at every start. Press Ctrl+C to stop.

`, url, demoAdminEmail, demoAdminPassword, demoAgentEmail, demoAgentPassword)
}

// Close stops the simulator.
func (d *demoEnvironment) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d.srv.Shutdown(ctx)
	d.sim.Close()
}
