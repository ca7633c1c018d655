package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/alerts"
	"github.com/inboxhealth/inboxhealth/internal/db"
)

// config is the server's configuration, read from the environment.
type config struct {
	Addr         string
	DatabasePath string
	// DatabaseURL, when set (DATABASE_URL=postgres://...), is the PostgreSQL database
	// the app runs on instead of the SQLite file at DatabasePath.
	DatabaseURL       string
	GraphAPIURL       string
	FrontendURL       string
	SecretKey         string
	WhatsAppAppSecret string
	// WhatsAppVerifyToken is what the operator enters as "Verify token" beside the
	// callback URL in the Meta App Dashboard.
	WhatsAppVerifyToken string
	// WhatsAppAppID, with the app secret, lets the app read which webhook fields the
	// Meta app subscribes (GET /{app-id}/subscriptions); optional.
	WhatsAppAppID         string
	HealthRefreshInterval time.Duration
	// DemoCodesURL is set in demo mode only: the simulator's page of the verification
	// codes it "sent", which stands in for the SMS.
	DemoCodesURL string
	// TrustedProxies are the networks whose X-Forwarded-For is believed (the reverse
	// proxies in front of the app); none by default.
	TrustedProxies []*net.IPNet
	// MaxConnections caps the connections served at once.
	MaxConnections int
	// SMTP is the mail server of email alerts (SMTP_URL, SMTP_FROM); nil when unset.
	SMTP *alerts.SMTPConfig
	// MetricsToken guards GET /metrics; "" leaves the route out.
	MetricsToken string
	// AlertRegistrationOverdueAfter is how long registration may take after a number
	// was added before that is an alert (ALERT_REGISTRATION_OVERDUE_AFTER).
	AlertRegistrationOverdueAfter time.Duration
	// AlertAllowPrivateDestinations lets alert destinations be on private networks.
	AlertAllowPrivateDestinations bool
	// AlertDigestHour is the hour (UTC) daily digests go out (ALERT_DIGEST_HOUR).
	AlertDigestHour int
}

const (
	defaultAddr                  = ":8080"
	defaultDatabasePath          = "data/app.db"
	defaultGraphAPIURL           = "https://graph.facebook.com/v24.0"
	defaultHealthRefreshInterval = 15 * time.Minute
	// defaultMaxConnections suits the 2-core machine the app is sized for: far above
	// what it serves at once, and below the open-file limit Go gives the process on
	// Linux (it raises the soft limit to the hard one, 4,096 or more on common
	// systems), leaving file descriptors for the database and the Graph API calls.
	defaultMaxConnections = 1024
)

func configFromEnv() (config, error) {
	cfg := config{
		Addr:                envOr("ADDR", defaultAddr),
		DatabasePath:        envOr("DATABASE_PATH", defaultDatabasePath),
		GraphAPIURL:         strings.TrimRight(envOr("GRAPH_API_URL", defaultGraphAPIURL), "/"),
		FrontendURL:         strings.TrimRight(os.Getenv("FRONTEND_URL"), "/"),
		SecretKey:           os.Getenv("SECRET_KEY"),
		WhatsAppAppSecret:   os.Getenv("WHATSAPP_APP_SECRET"),
		WhatsAppVerifyToken: os.Getenv("WHATSAPP_VERIFY_TOKEN"),
		WhatsAppAppID:       strings.TrimSpace(os.Getenv("WHATSAPP_APP_ID")),
		DatabaseURL:         strings.TrimSpace(os.Getenv("DATABASE_URL")),
	}
	if cfg.DatabaseURL != "" {
		if !db.IsPostgresURL(cfg.DatabaseURL) {
			return config{}, fmt.Errorf("DATABASE_URL=%q: want a PostgreSQL URL, postgres://user:password@host:5432/dbname (unset it to use the SQLite file DATABASE_PATH)", db.RedactURL(cfg.DatabaseURL))
		}
		// Each instance would otherwise make a key file of its own, and all but the
		// first would be refused: the instances of one database share SECRET_KEY.
		if strings.TrimSpace(cfg.SecretKey) == "" {
			return config{}, errors.New("DATABASE_URL is set: set SECRET_KEY too, the same on every instance (e.g. openssl rand -hex 32), since there is no data folder to keep a key file in")
		}
	}
	cfg.HealthRefreshInterval = defaultHealthRefreshInterval
	if v := os.Getenv("HEALTH_REFRESH_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second {
			return config{}, fmt.Errorf("HEALTH_REFRESH_INTERVAL=%q: want a duration of at least 10s, like 15m", v)
		}
		cfg.HealthRefreshInterval = d
	}
	var err error
	if cfg.TrustedProxies, err = parseTrustedProxies(os.Getenv("TRUSTED_PROXIES")); err != nil {
		return config{}, err
	}
	cfg.MaxConnections = defaultMaxConnections
	if v := os.Getenv("MAX_CONNECTIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minMaxConnections {
			return config{}, fmt.Errorf("MAX_CONNECTIONS=%q: want a number of at least %d, like %d", v, minMaxConnections, defaultMaxConnections)
		}
		cfg.MaxConnections = n
	}
	if v := os.Getenv("SMTP_URL"); v != "" {
		smtp, err := alerts.ParseSMTPURL(v, os.Getenv("SMTP_FROM"))
		if err != nil {
			return config{}, err
		}
		cfg.SMTP = smtp
	}
	cfg.MetricsToken = strings.TrimSpace(os.Getenv("METRICS_TOKEN"))
	if cfg.MetricsToken != "" && len(cfg.MetricsToken) < 16 {
		return config{}, fmt.Errorf("METRICS_TOKEN: use at least 16 characters (e.g. openssl rand -hex 32)")
	}
	cfg.AlertRegistrationOverdueAfter = alerts.DefaultRegistrationOverdueAfter
	if v := os.Getenv("ALERT_REGISTRATION_OVERDUE_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Hour {
			return config{}, fmt.Errorf("ALERT_REGISTRATION_OVERDUE_AFTER=%q: want a duration of at least 1h, like 24h", v)
		}
		cfg.AlertRegistrationOverdueAfter = d
	}
	cfg.AlertDigestHour = alerts.DefaultDigestHour
	if v := os.Getenv("ALERT_DIGEST_HOUR"); v != "" {
		h, err := strconv.Atoi(v)
		if err != nil || h < 0 || h > 23 {
			return config{}, fmt.Errorf("ALERT_DIGEST_HOUR=%q: want an hour of the day (UTC), 0 to 23", v)
		}
		cfg.AlertDigestHour = h
	}
	switch v := os.Getenv("ALERT_ALLOW_PRIVATE_DESTINATIONS"); v {
	case "", "0", "false":
	case "1", "true":
		cfg.AlertAllowPrivateDestinations = true
	default:
		return config{}, fmt.Errorf("ALERT_ALLOW_PRIVATE_DESTINATIONS=%q: want 1 or 0", v)
	}
	if cfg.WhatsAppAppID != "" && !isDigits(cfg.WhatsAppAppID) {
		return config{}, fmt.Errorf("WHATSAPP_APP_ID=%q: want the Meta app's numeric id", cfg.WhatsAppAppID)
	}
	if cfg.FrontendURL == "" {
		cfg.FrontendURL = "http://" + displayHost(cfg.Addr)
	}
	if !strings.HasPrefix(cfg.FrontendURL, "http://") && !strings.HasPrefix(cfg.FrontendURL, "https://") {
		return config{}, fmt.Errorf("FRONTEND_URL=%q: want an http:// or https:// URL", cfg.FrontendURL)
	}
	return cfg, nil
}

// minMaxConnections leaves room for a few requests beside the ones being shed.
const minMaxConnections = 8

// parseTrustedProxies reads TRUSTED_PROXIES: comma-separated CIDRs or single addresses.
func parseTrustedProxies(v string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			ip := net.ParseIP(part)
			if ip == nil {
				return nil, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP address or CIDR (like 10.0.0.0/8 or 192.0.2.7)", part)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(part)
		if err != nil {
			return nil, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP address or CIDR (like 10.0.0.0/8 or 192.0.2.7)", part)
		}
		out = append(out, n)
	}
	return out, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// displayHost turns a listen address into something a browser can open.
func displayHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// database is what db.Open is given: the PostgreSQL URL, or else the SQLite file.
func (c config) database() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return c.DatabasePath
}

// databaseName names the database for messages and logs (never a password).
func (c config) databaseName() string {
	if c.DatabaseURL != "" {
		return db.RedactURL(c.DatabaseURL)
	}
	return c.DatabasePath
}

// openStore opens the database with the at-rest key from SECRET_KEY or the data folder.
func openStore(ctx context.Context, cfg config) (*db.Store, *db.Cipher, error) {
	secret, err := db.LoadOrCreateSecret(cfg.SecretKey, filepath.Dir(cfg.DatabasePath))
	if err != nil {
		return nil, nil, err
	}
	cipher, err := db.NewCipher(secret)
	if err != nil {
		return nil, nil, err
	}
	store, err := db.Open(ctx, cfg.database(), cipher)
	if errors.Is(err, db.ErrWrongSecretKey) {
		source := "SECRET_KEY"
		if cfg.SecretKey == "" {
			source = filepath.Join(filepath.Dir(cfg.DatabasePath), db.KeyFileName)
		}
		return nil, nil, fmt.Errorf("the secret key (from %s) is not the one %s was created with, so its stored access tokens and PINs cannot be read: start with the original key", source, cfg.databaseName())
	}
	if err != nil {
		return nil, nil, err
	}
	return store, cipher, nil
}
