package main

import (
	"context"
	"flag"
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	return graphsim.ListenAndServe(ctx, *addr, *scenario, *appSecret, logger)
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
