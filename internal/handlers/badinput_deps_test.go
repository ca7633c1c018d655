package handlers

import (
	"log/slog"
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
