package handlers

import (
	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// Placeholders until health monitoring and registration land.

func (h *Handler) healthRoutes(g *echo.Group)    {}
func (h *Handler) healthAPIRoutes(g *echo.Group) {}
func (h *Handler) webhookRoutes(e *echo.Echo)    {}

func (h *Handler) afterInboxCreated(c echo.Context, in db.Inbox) {}

func (h *Handler) bannerFor(c echo.Context, in db.Inbox, snap *db.HealthSnapshot) templ.Component {
	return nil
}
