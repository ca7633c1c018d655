package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// runGraphsim serves the Graph API simulator alone, for pointing GRAPH_API_URL at it.
func runGraphsim(args []string) error {
	fs := flag.NewFlagSet("graphsim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address")
	scenario := fs.String("scenario", "demo", "scenario to load: "+joinNames(graphsim.ScenarioNames()))
	appSecret := fs.String("app-secret", envOr("WHATSAPP_APP_SECRET", demoAppSecret), "app secret that signs webhooks")
	appCallback := fs.String("app-callback", "", "the Meta app's webhook callback URL, verified with a challenge once listening (e.g. http://127.0.0.1:8080/webhooks/whatsapp)")
	verifyToken := fs.String("verify-token", envOr("WHATSAPP_VERIFY_TOKEN", ""), "verify token the app callback must accept")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *appCallback != "" && *verifyToken == "" {
		return errors.New("graphsim: -app-callback needs -verify-token (or WHATSAPP_VERIFY_TOKEN)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	err := graphsim.Serve(ctx, graphsim.ServeOptions{
		Addr: *addr, Scenario: *scenario, AppSecret: *appSecret,
		AppCallbackURL: *appCallback, VerifyToken: *verifyToken, Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("web graphsim: %w", err)
	}
	return nil
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}
