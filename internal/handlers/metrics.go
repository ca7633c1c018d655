package handlers

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// metricsEndpoint serves the Prometheus metrics to a scraper that presents
// METRICS_TOKEN as a bearer token; the route exists only when the token is set.
func (h *Handler) metricsEndpoint(c echo.Context) error {
	got, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(h.cfg.MetricsToken)) != 1 {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
		return c.String(http.StatusUnauthorized, "401 Unauthorized: send Authorization: Bearer <METRICS_TOKEN>\n")
	}
	h.metrics.Handler().ServeHTTP(c.Response(), c.Request())
	return nil
}

// countWebhookChange counts one webhook change by field and outcome (no metrics: nothing).
func (h *Handler) countWebhookChange(field, outcome string) {
	if h.metrics != nil {
		h.metrics.WebhookEvent(field, outcome)
	}
}
