package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// config is the server's configuration, read from the environment.
type config struct {
	Addr              string
	DatabasePath      string
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
}

const (
	defaultAddr                  = ":8080"
	defaultDatabasePath          = "data/app.db"
	defaultGraphAPIURL           = "https://graph.facebook.com/v24.0"
	defaultHealthRefreshInterval = 15 * time.Minute
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
	}
	cfg.HealthRefreshInterval = defaultHealthRefreshInterval
	if v := os.Getenv("HEALTH_REFRESH_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second {
			return config{}, fmt.Errorf("HEALTH_REFRESH_INTERVAL=%q: want a duration of at least 10s, like 15m", v)
		}
		cfg.HealthRefreshInterval = d
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
	store, err := db.Open(ctx, cfg.DatabasePath, cipher)
	if err != nil {
		return nil, nil, err
	}
	return store, cipher, nil
}
