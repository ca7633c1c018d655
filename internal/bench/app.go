package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/handlers"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// AppServer is the app's real handlers, store and Graph client, wired as cmd/web wires
// them (without the background monitor, so only the load under test runs), served on a
// loopback port.
type AppServer struct {
	URL       string
	Store     *db.Store
	Health    *health.Service
	Registrar *health.Registrar
	Client    *whatsapp.Client
	srv       *http.Server
}

// StartApp opens the database at dbPath and serves the app on 127.0.0.1.
func StartApp(ctx context.Context, dbPath, secret, graphURL, appSecret string, logger *slog.Logger) (*AppServer, error) {
	cipher, err := db.NewCipher(secret)
	if err != nil {
		return nil, err
	}
	store, err := db.Open(ctx, dbPath, cipher)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		return nil, err
	}
	frontend := "http://" + ln.Addr().String()
	client := whatsapp.NewClient(graphURL, nil, whatsapp.WithLogger(logger))
	// The read TTL the server uses (cmd/web buildApp): 1.5× the sweep interval.
	svc := health.NewService(store, client, health.Options{Logger: logger, TTL: health.DefaultSweepInterval * 3 / 2})
	registrar := health.NewRegistrar(store, client, svc, health.RegistrarOptions{FrontendURL: frontend, Logger: logger})
	h := handlers.New(handlers.Config{
		FrontendURL:          frontend,
		WhatsAppAppSecret:    appSecret,
		SessionAuthKey:       cipher.DeriveKey("session-auth"),
		SessionEncryptionKey: cipher.DeriveKey("session-encryption"),
		Logger:               logger,
	}, handlers.Deps{Store: store, Health: svc, Registrar: registrar})
	a := &AppServer{URL: frontend, Store: store, Health: svc, Registrar: registrar, Client: client,
		srv: &http.Server{Handler: h.Routes(), ReadHeaderTimeout: 10 * time.Second}}
	go a.srv.Serve(ln)
	return a, nil
}

// Close stops the server and releases the store.
func (a *AppServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.srv.Shutdown(ctx)
	a.Registrar.Close()
	a.Health.Close()
	a.Store.Close()
}

// Login logs a user in through the real login form and returns the session cookie
// header value.
func Login(baseURL, email, password string) (string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPost, baseURL+"/login", strings.NewReader(url.Values{"email": {email}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("bench: log in as %s: want 303, got %d", email, resp.StatusCode)
	}
	// Follow the redirect as a browser does: the page it lands on remembers the
	// account in the cookie, which a browser then sends with every request (a cookie
	// from before it would make every page view write the cookie again).
	u, _ := url.Parse(baseURL)
	next, err := u.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", fmt.Errorf("bench: log in as %s: %w", email, err)
	}
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second} // follows the redirects on
	if resp, err = browser.Get(next.String()); err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("bench: log in as %s: landing page %s: want 200, got %d", email, resp.Request.URL.Path, resp.StatusCode)
	}
	var parts []string
	for _, ck := range jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; "), nil
}

// Served is an extra Echo server (a baseline or a bench-only handler) on loopback.
type Served struct {
	URL string
	srv *http.Server
}

// Serve serves e on 127.0.0.1.
func Serve(e *echo.Echo) (*Served, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Served{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *Served) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// BareEcho is the baseline: Echo with no middleware, answering payload as JSON at
// GET /bare (encoded on every request, like any JSON handler).
func BareEcho(payload any) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/bare", func(c echo.Context) error { return c.JSON(http.StatusOK, payload) })
	return e
}

// BareEchoSink is webhook ingest's baseline: Echo with no middleware taking the same
// POSTs the app's per-number callback takes (POST /webhooks/whatsapp/:number, body read
// to the end) and answering answer as JSON, so the app is charged only for its own work
// (signature, decoding, storing, applying) and not for the bigger requests themselves.
func BareEchoSink(answer any) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/webhooks/whatsapp/:number", func(c echo.Context) error {
		if _, err := io.Copy(io.Discard, c.Request().Body); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, answer)
	})
	return e
}

// LiveHealth is the approach this product replaces: every view asks Meta. It serves
// GET /api/v1/accounts/:account_id/inboxes/:id/health with the same authentication and
// store reads as the real endpoint (token, membership, inbox, its decrypted token) and
// then calls the Graph API for the number on every request. It lives here, not in the
// product.
func LiveHealth(store *db.Store, graph *whatsapp.Client) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/api/v1/accounts/:account_id/inboxes/:id/health", func(c echo.Context) error {
		ctx := c.Request().Context()
		u, err := store.UserByAPIToken(ctx, c.Request().Header.Get("api_access_token"))
		if err != nil {
			return echo.ErrUnauthorized
		}
		accountID, err1 := strconv.ParseInt(c.Param("account_id"), 10, 64)
		inboxID, err2 := strconv.ParseInt(c.Param("id"), 10, 64)
		if err1 != nil || err2 != nil {
			return echo.ErrNotFound
		}
		if _, err := store.Membership(ctx, u.ID, accountID); err != nil {
			return echo.ErrNotFound
		}
		in, err := store.Inbox(ctx, accountID, inboxID)
		if errors.Is(err, db.ErrNotFound) {
			return echo.ErrNotFound
		}
		if err != nil {
			return err
		}
		secrets, err := store.Secrets(ctx, in.ID)
		if err != nil {
			return err
		}
		p, err := graph.PhoneNumber(ctx, secrets.AccessToken, in.PhoneNumberID)
		if err != nil {
			return c.JSON(http.StatusBadGateway, map[string]any{"error": map[string]string{"message": err.Error()}})
		}
		status := whatsapp.DeriveOverallStatus(p, nil, whatsapp.KindNone)
		return c.JSON(http.StatusOK, map[string]any{
			"display_phone_number": p.DisplayPhoneNumber, "verified_name": p.VerifiedName, "name_status": p.NameStatus,
			"quality_rating": p.QualityRating, "messaging_limit_tier": p.LimitTier(), "account_mode": p.AccountMode,
			"code_verification_status": p.CodeVerificationStatus, "throughput": p.Throughput,
			"last_onboarded_time": p.LastOnboardedTime, "platform_type": p.PlatformType, "business_id": in.BusinessID,
			"status": status.Code, "health_status": p.HealthStatus, "registration": whatsapp.Decide(p),
			"checked_at": time.Now().UTC(), "stale": false,
		})
	})
	return e
}

// NewProductionGraphClient is the Graph client exactly as cmd/web builds it.
func NewProductionGraphClient(graphURL string, logger *slog.Logger) *whatsapp.Client {
	return whatsapp.NewClient(graphURL, nil, whatsapp.WithLogger(logger))
}

// NewGraphClient is a Graph client whose HTTP client keeps conns connections to Meta
// open, for the live-per-view handler under load.
func NewGraphClient(graphURL string, conns int) *whatsapp.Client {
	return whatsapp.NewClient(graphURL, NewLoopbackClient(conns))
}
