package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

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
	// Each browser log-in checks a password: at bcrypt's lowest cost, the demo users'
	// log-ins do not dominate the browser tests under -race.
	if err := store.SetPasswordCost(bcrypt.MinCost); err != nil {
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
// The test fails if any page it loads breaks the Content-Security-Policy.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	ctx, csp := newWatchedBrowser(t)
	t.Cleanup(func() {
		if seen := csp.violations(); len(seen) > 0 {
			t.Errorf("the pages broke their Content-Security-Policy %d time(s):\n%s", len(seen), strings.Join(seen, "\n"))
		}
	})
	return ctx
}

// cspWatch collects the Content-Security-Policy violations of every page a browser
// loads: each page reports its securitypolicyviolation events through a binding
// (added by the DevTools protocol, so the policy cannot block it), and the browser's
// own console messages about the policy are kept too.
type cspWatch struct {
	mu   sync.Mutex
	seen []string
}

const cspBinding = "__reportCSPViolation"

const cspReporter = `document.addEventListener("securitypolicyviolation", function (e) {
	` + cspBinding + `(e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber + " (" + document.location.pathname + ")");
});`

func (w *cspWatch) add(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, s)
}

func (w *cspWatch) violations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.seen)
}

// newWatchedBrowser is newBrowser without the check at the end: the caller reads the
// violations itself.
func newWatchedBrowser(t *testing.T) (context.Context, *cspWatch) {
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
	w := &cspWatch{}
	err = chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventBindingCalled:
			if e.Name == cspBinding {
				w.add(e.Payload)
			}
		case *log.EventEntryAdded:
			if e.Entry != nil && strings.Contains(e.Entry.Text, "Content Security Policy") {
				w.add("console: " + e.Entry.Text + " (" + e.Entry.URL + ")")
			}
		}
	})
	if err != nil {
		t.Fatalf("watch the browser: %v", err)
	}
	if _, err := chromedp.Call(ctx, runtime.AddBinding, runtime.AddBindingParams{Name: cspBinding}); err != nil {
		t.Fatalf("watch the browser: %v", err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspReporter}); err != nil {
		t.Fatalf("watch the browser: %v", err)
	}
	return ctx, w
}

// css is shorthand for a CSS selector (a plain string would be a DOM search).
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// textOf reads an element's visible text. It finds and reads the element in one script
// run: pages poll and swap their live parts (static/app.js), and a node found in one
// DevTools call can be gone by the next.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.WaitReady(css(sel))); err != nil {
		t.Fatalf("read text of %s: %v", sel, err)
	}
	quoted, _ := json.Marshal(sel)
	for range 10 {
		text, err := chromedp.Run(ctx, chromedp.Evaluate[*string](`(e => e ? e.innerText : null)(document.querySelector(`+string(quoted)+`))`))
		if err != nil {
			t.Fatalf("read text of %s: %v", sel, err)
		}
		if text != nil {
			return *text
		}
		time.Sleep(50 * time.Millisecond) // swapped out between the wait and the read
	}
	t.Fatalf("read text of %s: the element keeps disappearing", sel)
	return ""
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

// waitFor polls cond every 20 ms until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
