package handlers

import (
	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// Account Health tab, health API and webhooks (placeholders being filled in).

func (h *Handler) healthRoutes(g *echo.Group)    {}
func (h *Handler) healthAPIRoutes(g *echo.Group) {}
func (h *Handler) webhookRoutes(e *echo.Echo)    {}

// healthPanel renders the badges panel (element id "health-panel") for an inbox.
func (h *Handler) healthPanel(c echo.Context, in db.Inbox, snap *db.HealthSnapshot) templ.Component {
	return templ.NopComponent
}
