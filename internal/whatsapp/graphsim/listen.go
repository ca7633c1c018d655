package graphsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ListenAndServe runs a standalone simulator (the "web graphsim" subcommand): it loads
// the named scenario, starts the background ticker, serves on addr until ctx is done,
// then shuts down gracefully. It logs the base URL to use as GRAPH_API_URL and the
// loaded numbers, never their tokens or PINs.
func ListenAndServe(ctx context.Context, addr, scenario, appSecret string, logger *slog.Logger) error {
	return Serve(ctx, ServeOptions{Addr: addr, Scenario: scenario, AppSecret: appSecret, Logger: logger})
}

// ServeOptions configures Serve.
type ServeOptions struct {
	Addr      string
	Scenario  string
	AppSecret string
	// AppCallbackURL, when set, becomes the app's callback once the simulator listens,
	// verified with VerifyToken as Meta verifies it (see SetAppCallback); Serve fails
	// when the verification fails.
	AppCallbackURL string
	VerifyToken    string
	Logger         *slog.Logger
}

// Serve is ListenAndServe with every option.
func Serve(ctx context.Context, opts ServeOptions) error {
	addr, scenario, appSecret, logger := opts.Addr, opts.Scenario, opts.AppSecret, opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sc, err := LoadScenario(scenario)
	if err != nil {
		return err
	}
	sim := New(Config{AppSecret: appSecret, Logger: logger})
	defer sim.Close()
	if err := sim.Load(sc); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("graphsim: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	sim.Start(ctx)

	base := "http://" + displayAddr(ln.Addr()) + sim.Prefix()
	logger.Info("graph simulator listening", "graph_api_url", base, "scenario", sc.Name,
		"businesses", len(sc.Businesses), "numbers", len(sc.Numbers))
	for _, n := range sc.Numbers {
		logger.Info("graph simulator number", "inbox_name", n.InboxName, "phone_number", n.PhoneNumber,
			"phone_number_id", n.PhoneNumberID, "waba_id", n.WABAID)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var callbackErr error
	if opts.AppCallbackURL != "" {
		callbackErr = sim.SetAppCallback(ctx, opts.AppCallbackURL, opts.VerifyToken, nil)
		if callbackErr == nil {
			logger.Info("graph simulator app callback verified", "callback", opts.AppCallbackURL)
		}
	}
	if callbackErr == nil {
		select {
		case err := <-served:
			return fmt.Errorf("graphsim: serve: %w", err)
		case <-ctx.Done():
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sim.Close() // ends held and hanging requests so Shutdown can finish
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("graphsim: shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("graphsim: serve: %w", err)
	}
	if callbackErr != nil {
		return callbackErr
	}
	logger.Info("graph simulator stopped")
	return nil
}

// displayAddr makes a listen address usable as a URL host: an unspecified IP becomes
// the loopback address.
func displayAddr(a net.Addr) string {
	tcp, isTCP := a.(*net.TCPAddr)
	if !isTCP {
		return a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}
