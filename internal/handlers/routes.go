package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/inboxhealth/inboxhealth/static"
)

// Routes builds the Echo instance with every route in one readable block.
func (h *Handler) Routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.errorHandler
	e.IPExtractor = clientIPExtractor(h.cfg.TrustedProxies)
	e.Use(middleware.RequestID())
	e.Use(h.requestLogger())
	e.Use(middleware.Recover())
	e.Use(h.securityHeaders)
	e.Use(middleware.BodyLimit("1M"))
	e.Use(h.bodyOnlyInput)
	e.Use(h.loadSession)
	e.Use(middleware.CSRFWithConfig(middleware.CSRFConfig{
		// The form lookup reads the body only (bodyOnlyInput), never the query string.
		TokenLookup:    "header:X-CSRF-Token,form:_csrf",
		CookieName:     csrfCookieName,
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteLaxMode,
		CookieSecure:   strings.HasPrefix(h.cfg.FrontendURL, "https://"),
		Skipper:        skipCSRF,
		ErrorHandler: func(err error, c echo.Context) error {
			return forbidden(c, "The form expired or did not come from this site. Reload the page and try again.")
		},
	}))

	e.GET("/healthz", h.healthz)
	if h.cfg.MetricsToken != "" && h.metrics != nil {
		e.GET("/metrics", h.metricsEndpoint)
	} else {
		// Not served at all: a plain 404, not the log-in redirect of unknown pages.
		e.GET("/metrics", func(echo.Context) error { return echo.ErrNotFound })
	}
	e.StaticFS("/static", static.FS)
	// Browsers ask for /favicon.ico on their own (a JSON or CSV tab has no <link rel=icon>).
	e.GET("/favicon.ico", func(c echo.Context) error {
		return c.Redirect(http.StatusMovedPermanently, "/static/favicon.svg")
	})

	e.GET("/login", h.showLogin)
	e.POST("/login", h.login)
	e.POST("/logout", h.logout)

	web := e.Group("", h.requireLogin)
	web.GET("/choose-password", h.showChoosePassword)
	web.POST("/choose-password", h.choosePassword)
	app := web.Group("", requireChosenPassword)
	app.GET("/", h.home)
	app.GET("/account", h.showAccount)
	app.POST("/account/password", h.changePassword)
	app.POST("/account/api_token", h.rotateAPIToken)
	app.POST("/account/sign_out_everywhere", h.signOutEverywhere)
	acct := app.Group("/accounts/:account_id", h.requireAccount)
	acct.GET("/inboxes", h.listInboxes)
	acct.GET("/inboxes/export.csv", h.exportInboxes)
	acct.GET("/inboxes/new", h.newInboxForm, requireAdministrator)
	acct.POST("/inboxes", h.createInbox, requireAdministrator)
	acct.GET("/inboxes/import", h.showImportForm, requireAdministrator)
	acct.POST("/inboxes/import/numbers", h.listImportNumbers, requireAdministrator)
	acct.POST("/inboxes/import", h.importNumbers, requireAdministrator)
	acct.GET("/inboxes/:id", h.showInbox)
	acct.POST("/inboxes/:id/edit", h.editInbox, requireAdministrator)
	acct.POST("/inboxes/:id/reconnect", h.reconnectInbox, requireAdministrator)
	acct.POST("/inboxes/:id/remove", h.removeInbox, requireAdministrator)
	acct.GET("/inboxes/:id/health", h.showHealth)
	acct.POST("/inboxes/:id/health/refresh", h.refreshHealth)
	acct.GET("/inboxes/:id/live", h.showLive)
	acct.POST("/inboxes/:id/registration", h.completeRegistration, requireAdministrator)
	acct.POST("/inboxes/:id/pin", h.provideRegistrationPIN, requireAdministrator)
	acct.POST("/inboxes/:id/verification", h.requestVerificationCode, requireAdministrator)
	acct.POST("/inboxes/:id/verification/code", h.submitVerificationCode, requireAdministrator)
	people := acct.Group("/people", requireAdministrator)
	people.GET("", h.listPeople)
	people.GET("/new", h.newPersonForm)
	people.POST("", h.addPerson)
	people.GET("/:user_id", h.showPerson)
	people.POST("/:user_id", h.changePerson)
	people.POST("/:user_id/remove", h.removePerson)
	people.POST("/:user_id/password", h.newPersonPassword)
	acct.GET("/alerts", h.showAlerts, requireAdministrator)
	acct.POST("/alerts/destinations", h.createAlertDestination, requireAdministrator)
	acct.GET("/alerts/destinations/:dest_id/log", h.showDeliveryLog, requireAdministrator)
	acct.POST("/alerts/destinations/:dest_id/test", h.sendTestAlert, requireAdministrator)
	acct.POST("/alerts/destinations/:dest_id/delete", h.deleteAlertDestination, requireAdministrator)
	if h.cfg.DemoMode {
		acct.GET("/alerts/demo-inbox", h.showDemoAlertInbox)
	}

	profile := e.Group("/api/v1/profile", h.apiAuth, requireChosenPassword)
	profile.GET("", h.apiProfile)
	profile.POST("/password", h.apiChangePassword)
	profile.POST("/api_token", h.apiRotateAPIToken)
	profile.DELETE("/sessions", h.apiSignOutEverywhere)

	api := e.Group("/api/v1/accounts/:account_id", h.apiAuth, requireChosenPassword, h.requireAccount)
	api.GET("/inboxes", h.apiListInboxes)
	api.POST("/inboxes", h.apiCreateInbox, requireAdministrator)
	api.POST("/inboxes/import", h.apiImportInboxes, requireAdministrator)
	api.PATCH("/inboxes/:id", h.apiPatchInbox, requireAdministrator)
	api.DELETE("/inboxes/:id", h.apiDeleteInbox, requireAdministrator)
	api.GET("/inboxes/:id/health", h.apiHealth)
	api.POST("/inboxes/:id/health/refresh", h.apiRefreshHealth)
	api.POST("/inboxes/:id/registration", h.apiRegister, requireAdministrator)
	api.POST("/inboxes/:id/pin", h.apiPIN, requireAdministrator)
	api.POST("/inboxes/:id/verification", h.apiRequestVerificationCode, requireAdministrator)
	api.POST("/inboxes/:id/verification/code", h.apiSubmitVerificationCode, requireAdministrator)
	api.GET("/members", h.apiListMembers, requireAdministrator)
	api.POST("/members", h.apiAddMember, requireAdministrator)
	api.PATCH("/members/:user_id", h.apiPatchMember, requireAdministrator)
	api.DELETE("/members/:user_id", h.apiDeleteMember, requireAdministrator)
	api.GET("/alert_destinations", h.apiListAlertDestinations, requireAdministrator)
	api.POST("/alert_destinations", h.apiCreateAlertDestination, requireAdministrator)
	api.DELETE("/alert_destinations/:dest_id", h.apiDeleteAlertDestination, requireAdministrator)
	api.POST("/alert_destinations/:dest_id/test", h.apiSendTestAlert, requireAdministrator)
	api.GET("/alerts", h.apiListAlerts, requireAdministrator)

	// Meta's webhooks: the app-level callback, and per-number callbacks set up before it.
	e.GET("/webhooks/whatsapp", h.verifyAppWebhook)
	e.POST("/webhooks/whatsapp", h.receiveWebhook)
	e.GET("/webhooks/whatsapp/:phone_number", h.verifyNumberWebhook)
	e.POST("/webhooks/whatsapp/:phone_number", h.receiveWebhook)
	if h.cfg.DemoMode {
		// The demo's built-in receiver of alerts (demo_alerts.go); signed, so no CSRF.
		e.POST(DemoAlertInboxPath, h.catchDemoAlert)
	}
	return e
}

// skipCSRF exempts requests that carry no ambient credentials: API calls with a token
// header, and Meta's webhooks (signed instead).
func skipCSRF(c echo.Context) bool {
	if c.Request().Header.Get(headerAPIAccessToken) != "" && strings.HasPrefix(c.Request().URL.Path, "/api/") {
		return true
	}
	return strings.HasPrefix(c.Request().URL.Path, "/webhooks/") || c.Request().URL.Path == "/healthz" ||
		c.Request().URL.Path == DemoAlertInboxPath
}

func (h *Handler) healthz(c echo.Context) error {
	if err := h.store.Ping(c.Request().Context()); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "unreachable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Handler) requestLogger() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogMethod: true, LogURIPath: true, LogLatency: true, LogRequestID: true,
		// The error handler answers first, so the line carries the status sent, also for
		// an APIError (401, 404, 422...) that Echo alone would log as 200.
		HandleError: true,
		Skipper:     func(c echo.Context) bool { return strings.HasPrefix(c.Path(), "/static") },
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			// The path only: query strings could carry hub.verify_token.
			h.log.Info("request", "method", v.Method, "path", v.URIPath, "status", v.Status,
				"latency_ms", v.Latency.Milliseconds(), "request_id", v.RequestID)
			return nil
		},
	})
}
