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
	Addr                  string
	DatabasePath          string
	GraphAPIURL           string
	FrontendURL           string
	SecretKey             string
	WhatsAppAppSecret     string
	HealthRefreshInterval time.Duration
}

const (
	defaultAddr                  = ":8080"
	defaultDatabasePath          = "data/app.db"
	defaultGraphAPIURL           = "https://graph.facebook.com/v24.0"
	defaultHealthRefreshInterval = 15 * time.Minute
)

func configFromEnv() (config, error) {
	cfg := config{
		Addr:              envOr("ADDR", defaultAddr),
		DatabasePath:      envOr("DATABASE_PATH", defaultDatabasePath),
		GraphAPIURL:       strings.TrimRight(envOr("GRAPH_API_URL", defaultGraphAPIURL), "/"),
		FrontendURL:       strings.TrimRight(os.Getenv("FRONTEND_URL"), "/"),
		SecretKey:         os.Getenv("SECRET_KEY"),
		WhatsAppAppSecret: os.Getenv("WHATSAPP_APP_SECRET"),
	}
	cfg.HealthRefreshInterval = defaultHealthRefreshInterval
	if v := os.Getenv("HEALTH_REFRESH_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second {
			return config{}, fmt.Errorf("HEALTH_REFRESH_INTERVAL=%q: want a duration of at least 10s, like 15m", v)
		}
		cfg.HealthRefreshInterval = d
	}
	if cfg.FrontendURL == "" {
		cfg.FrontendURL = "http://" + displayHost(cfg.Addr)
	}
	if !strings.HasPrefix(cfg.FrontendURL, "http://") && !strings.HasPrefix(cfg.FrontendURL, "https://") {
		return config{}, fmt.Errorf("FRONTEND_URL=%q: want an http:// or https:// URL", cfg.FrontendURL)
	}
	return cfg, nil
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
