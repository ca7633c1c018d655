package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/views"
)

// htmx request and response headers.
const (
	headerHXRequest  = "HX-Request"
	headerHXRedirect = "HX-Redirect"
	headerHXRetarget = "HX-Retarget"
	headerHXReswap   = "HX-Reswap"
)

func isHTMX(c echo.Context) bool { return c.Request().Header.Get(headerHXRequest) == "true" }

// render buffers the component so a rendering failure still becomes a clean 500
// instead of half a page. The buffer is templ's pooled one: a page is written into
// memory that already has room for it, not grown from nothing each time.
func (h *Handler) render(c echo.Context, status int, cmp templ.Component) error {
	buf := templ.GetBuffer()
	defer templ.ReleaseBuffer(buf)
	ctx := views.WithRequestInfo(c.Request().Context(), h.requestInfo(c))
	if err := cmp.Render(ctx, buf); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	c.Response().Header().Add(echo.HeaderVary, headerHXRequest)
	return c.HTMLBlob(status, buf.Bytes())
}

// redirectAfterPost sends htmx to the URL with HX-Redirect, everyone else with 303.
func redirectAfterPost(c echo.Context, to string) error {
	if isHTMX(c) {
		c.Response().Header().Set(headerHXRedirect, to)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// APIError is an error of the JSON API: {"error":{"type","message","code","subcode"}}.
type APIError struct {
	Status  int    `json:"-"`
	Type    string `json:"type"`
	Message string `json:"message"`
	Code    int64  `json:"code,omitempty"`
	Subcode int64  `json:"subcode,omitempty"`
	// Fields names each invalid input field with its problem (validation errors).
	Fields map[string]string `json:"fields,omitempty"`
}

func (e *APIError) Error() string { return e.Type + ": " + e.Message }

func apiNotFound(what string) *APIError {
	return &APIError{Status: http.StatusNotFound, Type: "not_found", Message: what + " not found"}
}

// errorHandler is Echo's one HTTPErrorHandler: logs ≥500 as errors and ≥400 as
// warnings, answers JSON under /api/ and /webhooks/, a page or fragment elsewhere.
func (h *Handler) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	apiErr := &APIError{Status: status, Type: "internal_error", Message: "Something went wrong on our side. It has been logged."}
	var ae *APIError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		apiErr, status = ae, ae.Status
	case errors.As(err, &he):
		status = he.Code
		apiErr = &APIError{Status: status, Type: errorType(status), Message: fmt.Sprint(he.Message)}
	}
	attrs := []any{"status", status, "method", c.Request().Method, "path", c.Path(), "request_id", requestID(c), "error", err.Error()}
	switch {
	case status >= 500:
		h.log.Error("request failed", attrs...)
	case status >= 400:
		h.log.Warn("request refused", attrs...)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	path := c.Request().URL.Path
	if strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/webhooks/") {
		_ = c.JSON(status, map[string]any{"error": apiErr})
		return
	}
	title, message := pageErrorText(status, apiErr.Message)
	cmp := views.ErrorPage(status, title, message)
	if isHTMX(c) {
		cmp = views.ErrorFragment(title, message)
	}
	if rerr := h.render(c, status, cmp); rerr != nil {
		h.log.Error("render error page", "error", rerr)
		_ = c.String(status, title)
	}
}

func errorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnprocessableEntity:
		return "invalid"
	case http.StatusConflict:
		return "conflict"
	case http.StatusTooManyRequests:
		return "rate_limited"
	}
	if status >= 500 {
		return "internal_error"
	}
	return "error"
}

func pageErrorText(status int, message string) (string, string) {
	switch status {
	case http.StatusNotFound:
		return "Page not found", "There is nothing here, or you do not have access to it."
	case http.StatusForbidden:
		return "Not allowed", message
	case http.StatusMethodNotAllowed:
		return "Not allowed", "This address does not accept that kind of request."
	}
	if status >= 500 {
		return "Something went wrong", "The request failed on our side and has been logged. Try again in a moment."
	}
	return "Request refused", message
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}
