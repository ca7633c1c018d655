package handlers

import (
	"log/slog"
	"net"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// badinputDeps wires the services the routes use, as cmd/web does.
func badinputDeps(t *testing.T, store *db.Store, healthSvc *health.Service, client *whatsapp.Client, frontendURL string, logger *slog.Logger) Deps {
	t.Helper()
	registrar := health.NewRegistrar(store, client, healthSvc, health.RegistrarOptions{FrontendURL: frontendURL, Logger: logger})
	t.Cleanup(func() { registrar.Close(); registrar.Wait() })
	return Deps{Store: store, Health: healthSvc, Registrar: registrar}
}

// unreachableMetaDeps wires the services over a Graph API address where nothing
// listens: every call fails at once, as when Meta cannot be reached.
func unreachableMetaDeps(t *testing.T, store *db.Store) Deps {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	client := whatsapp.NewClient("http://"+addr+"/v24.0", nil, whatsapp.WithRetry(1, 0, 0))
	healthSvc := health.NewService(store, client, health.Options{Logger: discardLogger()})
	t.Cleanup(healthSvc.Close)
	return badinputDeps(t, store, healthSvc, client, "http://app.test", discardLogger())
}
