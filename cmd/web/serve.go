package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/alerts"
	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/handlers"
	"github.com/inboxhealth/inboxhealth/internal/metrics"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// shutdownGrace is how long in-flight requests get to finish on SIGINT/SIGTERM.
const shutdownGrace = 10 * time.Second

func runServe(args []string, demo bool) error {
	name := "serve"
	if demo {
		name = "demo"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address (overrides ADDR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if demo {
		if os.Getenv("DATABASE_URL") != "" {
			return errors.New("demo mode keeps its made-up data in its own SQLite file: unset DATABASE_URL to run the demo")
		}
		applyDemoDefaults()
	}
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.Addr = *addr
		if os.Getenv("FRONTEND_URL") == "" {
			cfg.FrontendURL = "http://" + displayHost(cfg.Addr)
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Listen first: a second server on a taken port stops here, before the demo resets
	// its database (which would wipe the running demo's data).
	ln, err := listen(cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()

	var demoEnv *demoEnvironment
	if demo {
		if demoEnv, err = startDemo(ctx, &cfg, logger); err != nil {
			return err
		}
		defer demoEnv.Close()
	}

	store, cipher, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()

	app, err := buildApp(cfg, store, cipher, logger, demo)
	if err != nil {
		return err
	}
	defer app.Close()

	if demo {
		if err := demoEnv.Seed(ctx, store, app.Registrar, logger); err != nil {
			return err
		}
	}

	ln, limiter := limitConnections(ln, cfg.MaxConnections)
	srv := &http.Server{
		Handler:           app.Echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ConnState:         limiter.track,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	app.Start(ctx)
	logger.Info("listening", "addr", ln.Addr().String(), "url", cfg.FrontendURL, "database", cfg.databaseName(), "graph_api", cfg.GraphAPIURL)
	if demo {
		if err := demoEnv.ConnectApp(ctx, cfg.FrontendURL, cfg.WhatsAppVerifyToken, app.Registrar); err != nil {
			return err
		}
		demoEnv.StartAlertStory(ctx, logger)
		demoEnv.PrintWelcome(os.Stdout, cfg.FrontendURL)
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	app.Wait()
	return nil
}

// app is everything the server runs, wired explicitly.
type app struct {
	Echo   http.Handler
	Health *health.Service
	// Monitor refreshes every inbox's health every HEALTH_REFRESH_INTERVAL.
	Monitor *health.Monitor
	// Registrar registers numbers: banner clicks, API, retries, webhooks, setup.
	Registrar *health.Registrar
	// Alerts delivers alerts from the outbox; AlertEngine raises them from health.
	Alerts      *alerts.Dispatcher
	AlertEngine *alerts.Engine
	Metrics     *metrics.Metrics
	// Graph is the Graph API client every part shares (unmeasured; the parts get it
	// wrapped in metrics).
	Graph  *whatsapp.Client
	bg     []func(ctx context.Context) // background loops started by Start
	done   chan struct{}
	closes []func()
}

func buildApp(cfg config, store *db.Store, cipher *db.Cipher, logger *slog.Logger, demo bool) (*app, error) {
	m := metrics.New(metrics.StoreStatusCounts(store), logger)
	store.SetWriteObserver(m.DBWrite)
	graph := whatsapp.NewClient(cfg.GraphAPIURL, nil, whatsapp.WithLogger(logger))
	client := m.Graph(graph)
	// Reads serve the latest snapshot and refresh it from Meta only when it is older
	// than the TTL. The monitor refreshes every inbox every HEALTH_REFRESH_INTERVAL
	// (± 10% jitter, plus the sweep's own duration), so the TTL sits half an interval
	// above it: between two sweeps no read calls Meta, and a read refreshes only an
	// inbox the sweeps stopped reaching (the monitor is failing for it). With the 5 min
	// default TTL under a 15 min interval, every page view of a 6-to-15-minute-old
	// snapshot called Meta: a Graph call per view the monitor exists to avoid.
	healthSvc := health.NewService(store, client, health.Options{Logger: logger, TTL: readTTL(cfg.HealthRefreshInterval),
		OnRateLimitHoldOff: m.RateLimitHoldOff})
	registrar := health.NewRegistrar(store, client, healthSvc, health.RegistrarOptions{FrontendURL: cfg.FrontendURL, Logger: logger,
		AppID: cfg.WhatsAppAppID, AppSecret: cfg.WhatsAppAppSecret})
	// Attempts a previous process left in flight are shown as interrupted (those still
	// under a live lease are another process's, and are marked once it expires).
	if _, err := registrar.MarkInterrupted(context.Background()); err != nil {
		return nil, err
	}
	healthSvc.SetOnNameApproved(registrar.NameApproved)
	// Alerts: the engine watches recorded health, the dispatcher delivers from the
	// outbox; neither makes the monitor or a page wait.
	policy := alerts.URLPolicy{AllowLoopback: demo, AllowPrivate: cfg.AlertAllowPrivateDestinations}
	dispatcher := alerts.NewDispatcher(store, alerts.DispatcherOptions{Logger: logger, FrontendURL: cfg.FrontendURL,
		SMTP: cfg.SMTP, Policy: policy, OnDelivery: m.AlertDelivery, DigestHour: cfg.AlertDigestHour})
	engine := alerts.NewEngine(store, alerts.EngineOptions{Logger: logger, Status: registrar,
		RegistrationOverdueAfter: cfg.AlertRegistrationOverdueAfter, Queued: dispatcher.Wake})
	healthSvc.SetObserver(engine)
	demoAlertSecret := ""
	if demo {
		demoAlertSecret = demoAlertSigningSecret
	}
	h := handlers.New(handlers.Config{
		DemoMode:             demo,
		DemoLogins:           demoLogins(demo),
		DemoCodesURL:         cfg.DemoCodesURL,
		FrontendURL:          cfg.FrontendURL,
		TrustedProxies:       cfg.TrustedProxies,
		WhatsAppAppSecret:    cfg.WhatsAppAppSecret,
		WhatsAppVerifyToken:  cfg.WhatsAppVerifyToken,
		SessionAuthKey:       cipher.DeriveKey("session-auth"),
		SessionEncryptionKey: cipher.DeriveKey("session-encryption"),
		Logger:               logger,
		MetricsToken:         cfg.MetricsToken,
		AlertPolicy:          policy,
		DemoAlertSecret:      demoAlertSecret,
	}, handlers.Deps{Store: store, Health: healthSvc, Registrar: registrar, Alerts: dispatcher, Metrics: m})
	a := &app{Echo: h.Routes(), Health: healthSvc, Registrar: registrar, Alerts: dispatcher, AlertEngine: engine,
		Metrics: m, Graph: graph, done: make(chan struct{})}
	a.closes = append(a.closes, registrar.Close, healthSvc.Close, graph.CloseIdleConnections)
	a.Monitor = health.NewMonitor(healthSvc, store, client, health.MonitorOptions{
		Interval: cfg.HealthRefreshInterval, Logger: logger, OnSweepDone: m.SweepDone,
		// One instance sweeps at a time (always this one on SQLite).
		Leader: store.Leadership("health-monitor"),
		OnSwept: func(ctx context.Context) {
			registrar.OnSwept(ctx)
			if err := engine.CheckWebhookSilence(ctx); err != nil && ctx.Err() == nil {
				logger.Error("alerts: check webhook silence", "error", err)
			}
		}})
	a.bg = append(a.bg, a.Monitor.Run, engine.Run, dispatcher.Run)
	return a, nil
}

// readTTL is the health read TTL for a monitor sweeping every interval (see buildApp).
func readTTL(interval time.Duration) time.Duration {
	if interval <= 0 {
		interval = health.DefaultSweepInterval
	}
	return interval + interval/2
}

// Start runs the background loops until ctx ends.
func (a *app) Start(ctx context.Context) {
	go func() {
		defer close(a.done)
		done := make(chan struct{}, len(a.bg))
		for _, loop := range a.bg {
			go func() { loop(ctx); done <- struct{}{} }()
		}
		for range a.bg {
			<-done
		}
	}()
}

// Wait blocks until the background loops have stopped.
func (a *app) Wait() { <-a.done }

// Close releases what buildApp made.
func (a *app) Close() {
	for _, c := range a.closes {
		c()
	}
}

// listen opens the server's address, saying plainly when it is taken and how to pick
// another (ADDR).
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen on %s: the port is taken (is another Inbox Health, or a demo, already running?); stop it or set ADDR to another address, e.g. ADDR=127.0.0.1:8081", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s (ADDR): %w", addr, err)
	}
	return ln, nil
}

// applyDemoDefaults sets what the demo uses where the environment is silent: its own
// database file, so a demo never touches real data, and a loopback address, since the
// demo is for the person at this machine.
func applyDemoDefaults() {
	if os.Getenv("DATABASE_PATH") == "" {
		os.Setenv("DATABASE_PATH", demoDatabasePath)
	}
	if os.Getenv("ADDR") == "" {
		os.Setenv("ADDR", demoAddr)
	}
}
