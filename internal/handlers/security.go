package handlers

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/labstack/echo/v4"
)

// contentSecurityPolicy lets pages load only this site's own files: no inline script
// or style, no eval (htmx's is turned off in the layout), no framing, and forms post
// only here.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// hstsPolicy is sent when FRONTEND_URL is https: a year, as browsers' preload lists ask.
const hstsPolicy = "max-age=31536000; includeSubDomains"

// securityHeaders sets the headers every answer carries. Everything but the embedded
// static files is `Cache-Control: no-store`: pages and API answers hold a person's
// data (and a CSRF token), and must not stay in a shared or browser cache after
// logout.
func (h *Handler) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	https := strings.HasPrefix(strings.ToLower(h.cfg.FrontendURL), "https://")
	return func(c echo.Context) error {
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set(echo.HeaderXContentTypeOptions, "nosniff")
		hd.Set(echo.HeaderXFrameOptions, "DENY")
		hd.Set(echo.HeaderReferrerPolicy, "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if https {
			hd.Set(echo.HeaderStrictTransportSecurity, hstsPolicy)
		}
		if !strings.HasPrefix(c.Request().URL.Path, "/static/") {
			hd.Set(echo.HeaderCacheControl, "no-store")
		}
		return next(c)
	}
}

// secretQueryParams are the names under which a secret might be put in a URL. URLs
// end up in access logs, browser history and Referer headers, so a request carrying
// one there is refused, never served.
var secretQueryParams = []string{headerAPIAccessToken, "access_token", "_csrf", "password", "pin"}

// bodyOnlyInput makes form values come from the request body alone: a POST's query
// string is not read by c.FormValue, by binding, or by the CSRF check (which reads the
// token from the X-CSRF-Token header or the form body). A secret in the query string
// of any request is refused with a 400 that says where it belongs. Meta's webhooks,
// whose handshake puts hub.verify_token in the query by design, are left alone.
func (h *Handler) bodyOnlyInput(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if strings.HasPrefix(r.URL.Path, "/webhooks/") {
			return next(c)
		}
		query := r.URL.Query()
		for _, name := range secretQueryParams {
			if query.Has(name) {
				return badRequest(c, "Send "+name+" in the request body or a header, never in the URL: URLs are kept in logs and browser history.")
			}
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		if err := r.ParseForm(); err != nil {
			return badRequest(c, "The form could not be read.")
		}
		r.Form = r.PostForm
		return next(c)
	}
}

func badRequest(c echo.Context, message string) error {
	if strings.HasPrefix(c.Request().URL.Path, "/api/") {
		return &APIError{Status: http.StatusBadRequest, Type: "bad_request", Message: message}
	}
	return echo.NewHTTPError(http.StatusBadRequest, message)
}

// clientIPExtractor decides the client address (c.RealIP, which the log-in throttle
// counts): the connection's own, unless it comes from one of the trusted proxies,
// whose X-Forwarded-For is then read from the right, skipping trusted hops. Loopback
// and private networks are not trusted by default: anyone on them could otherwise pick
// any address to dodge the throttle.
func clientIPExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// maxNextLength bounds the path kept across a log-in.
const maxNextLength = 2048

// safeNext keeps post-login redirects on this site: next must be a path starting with
// one "/", with no backslash, no control or space characters and no scheme or host,
// also once percent-decoding is undone (browsers drop tabs and newlines and read "\" as
// "/", so "/\t/evil", "/\evil" and "/%09/evil" would all lead to another site).
// Anything else goes to "/".
func safeNext(next string) string {
	if next == "" || len(next) > maxNextLength {
		return "/"
	}
	decoded := next
	for range 3 {
		if !sameSitePath(decoded) {
			return "/"
		}
		unescaped, err := url.PathUnescape(decoded)
		if err != nil {
			return "/"
		}
		if unescaped == decoded {
			return next
		}
		decoded = unescaped
	}
	return "/" // still encoded after three rounds: nobody needs that
}

func sameSitePath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') {
		return false
	}
	if strings.IndexFunc(p, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && u.Opaque == ""
}
