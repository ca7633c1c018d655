package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// testApp is the whole app in demo mode, in process, on loopback ports: the real
// handlers, store, client and simulator, with real HTTP between them.
type testApp struct {
	URL   string
	Store *db.Store
	Sim   *graphsim.Server
	App   *app
	Cfg   config
}

// startTestApp runs demo mode against a fresh database in a temporary folder.
func startTestApp(t *testing.T) *testApp {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{
		Addr:                  ln.Addr().String(),
		DatabasePath:          filepath.Join(t.TempDir(), "app.db"),
		FrontendURL:           "http://" + ln.Addr().String(),
		SecretKey:             "test-secret-key-at-least-32-bytes-long",
		HealthRefreshInterval: time.Hour,
	}
	demo, err := startDemo(ctx, &cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	store, cipher, err := openStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := buildApp(cfg, store, cipher, logger, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Seed(ctx, store, a.Registrar, logger); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Echo, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	a.Start(ctx)
	if err := demo.ConnectApp(ctx, cfg.FrontendURL, cfg.WhatsAppVerifyToken, a.Registrar); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		srv.Shutdown(shutdownCtx)
		a.Wait()
		a.Close()
		demo.Close()
		store.Close()
	})
	return &testApp{URL: cfg.FrontendURL, Store: store, Sim: demo.sim, App: a, Cfg: cfg}
}

// newBrowser starts Debian's headless chromium with a fresh profile. Without chromium
// the test is skipped, unless REQUIRE_BROWSER=1 (as in CI), where that is a failure.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("REQUIRE_BROWSER") == "1" {
			t.Fatal("chromium not found: install Debian's chromium package (apt-get install chromium)")
		}
		t.Skip("chromium not found; install Debian's chromium package to run browser tests")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// css is shorthand for a CSS selector (a plain string would be a DOM search).
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// textOf reads an element's visible text.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	text, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
	if err != nil {
		t.Fatalf("read text of %s: %v", sel, err)
	}
	return text
}

// demoInbox finds a seeded demo inbox by name.
func demoInbox(t *testing.T, app *testApp, name string) db.Inbox {
	t.Helper()
	inboxes, err := app.Store.AllInboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inboxes {
		if in.Name == name {
			return in
		}
	}
	t.Fatalf("no demo inbox named %q", name)
	return db.Inbox{}
}

// attributeOf reads an attribute of an element.
func attributeOf(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	res, err := chromedp.Run(ctx, chromedp.AttributeValue(css(sel), name))
	if err != nil {
		t.Fatalf("read %s of %s: %v", name, sel, err)
	}
	return res.Value
}

// browserLogin logs in through the real login form.
func browserLogin(t *testing.T, ctx context.Context, baseURL, email, password string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(baseURL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`form[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		chromedp.Submit(chromedp.CSS(`form[data-testid="login-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="current-user"]`)),
	)
	if err != nil {
		t.Fatalf("log in as %s: %v", email, err)
	}
}
