package handlers

import (
	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// Registration: banner, attempts and the registration API (placeholders being filled in).

func (h *Handler) registrationRoutes(g *echo.Group)    {}
func (h *Handler) registrationAPIRoutes(g *echo.Group) {}

// afterInboxCreated starts the setup flow of a new inbox in the background.
func (h *Handler) afterInboxCreated(c echo.Context, in db.Inbox) {}

// bannerFor is the "Complete registration" banner (element id "registration-banner"),
// or nil when the number is registered.
func (h *Handler) bannerFor(c echo.Context, in db.Inbox, snap *db.HealthSnapshot) templ.Component {
	return nil
}

// attemptsSection is the registration attempts table on the Account Health tab.
func (h *Handler) attemptsSection(c echo.Context, in db.Inbox) templ.Component {
	return templ.NopComponent
}
