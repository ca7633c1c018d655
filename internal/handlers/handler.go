// Package handlers is the HTTP layer: Echo routes, sessions, CSRF, auth, the JSON API,
// htmx fragments and the webhook receiver. It never calls the Graph API directly.
package handlers

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/inboxhealth/inboxhealth/internal/alerts"
	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/metrics"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// Config is what the handlers need to know about the deployment.
type Config struct {
	// DemoMode marks every page as running against the simulated Graph API.
	DemoMode bool
	// DemoLogins are shown on the login page in demo mode ("email / password").
	DemoLogins []string
	// DemoCodesURL (demo mode) is the simulator's page showing the verification codes it
	// "sent", linked from the code form.
	DemoCodesURL string
	// FrontendURL is the public base URL (webhook callbacks, Secure cookies on https).
	FrontendURL string
	// WhatsAppAppSecret verifies X-Hub-Signature-256 on webhooks.
	WhatsAppAppSecret string
	// WhatsAppVerifyToken answers Meta's handshake for the app-level callback
	// (/webhooks/whatsapp); without it the handshake is refused.
	WhatsAppVerifyToken string
	// SessionAuthKey and SessionEncryptionKey sign and encrypt the session cookie (32 bytes each).
	SessionAuthKey, SessionEncryptionKey []byte
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client
	// (TRUSTED_PROXIES); with none, the connection's address is the client's.
	TrustedProxies []*net.IPNet
	// LoginThrottle slows password guessing; nil means one in this process's memory,
	// or on PostgreSQL (which several instances may share) one in the database.
	LoginThrottle LoginThrottle
	Logger        *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits before a log-in the throttle slows down; nil means a timer that
	// ends with the request.
	Sleep func(ctx context.Context, d time.Duration) error
	// MetricsToken guards GET /metrics (Authorization: Bearer); "" leaves the route out.
	MetricsToken string
	// AlertPolicy decides which alert destination URLs administrators may save.
	AlertPolicy alerts.URLPolicy
	// DemoAlertSecret (demo mode) is the signing secret of the demo's webhook
	// destination, which its built-in catcher checks.
	DemoAlertSecret string
}

// Deps are the services the routes use.
type Deps struct {
	Store     *db.Store
	Health    *health.Service
	Registrar *health.Registrar
	// Alerts delivers alerts (test alerts from the Alerts page); nil: no alerts.
	Alerts *alerts.Dispatcher
	// Metrics is served at /metrics; nil: none.
	Metrics *metrics.Metrics
}

// Handler holds every dependency of the routes; one constructor builds it.
type Handler struct {
	cfg       Config
	store     *db.Store
	health    *health.Service
	registrar *health.Registrar
	alerts    *alerts.Dispatcher
	metrics   *metrics.Metrics
	// demoAlerts is the demo's catcher of alerts (demo mode).
	demoAlerts *demoCatcher
	sessions   *sessions.CookieStore
	// importSealer seals the import's token between its two steps (inbox_import.go).
	importSealer *securecookie.SecureCookie
	logins       LoginThrottle
	log          *slog.Logger
	now          func() time.Time
	sleep        func(ctx context.Context, d time.Duration) error
}

// New builds the handler.
func New(cfg Config, deps Deps) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepContext
	}
	if cfg.LoginThrottle == nil {
		cfg.LoginThrottle = NewMemoryLoginThrottle(cfg.Now, 0)
		if deps.Store != nil && deps.Store.Engine() == db.EnginePostgres {
			cfg.LoginThrottle = NewStoreLoginThrottle(deps.Store, cfg.Now)
		}
	}
	return &Handler{
		cfg:          cfg,
		store:        deps.Store,
		health:       deps.Health,
		registrar:    deps.Registrar,
		alerts:       deps.Alerts,
		metrics:      deps.Metrics,
		demoAlerts:   &demoCatcher{},
		sessions:     newCookieStore(cfg),
		logins:       cfg.LoginThrottle,
		importSealer: newImportSealer(cfg.SessionAuthKey, cfg.SessionEncryptionKey),
		log:          cfg.Logger,
		now:          cfg.Now,
		sleep:        cfg.Sleep,
	}
}
