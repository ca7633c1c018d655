// Command benchreport runs every benchmark scenario of package bench side by side with
// its baseline, prints the table and writes it as Markdown (docs/BENCHMARKS.md).
//
//	go run ./internal/bench/cmd/benchreport -out docs/BENCHMARKS.md
//	go run ./internal/bench/cmd/benchreport -quick        # a small smoke run, nothing written
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "", "write the Markdown report here (e.g. docs/BENCHMARKS.md)")
	quick := flag.Bool("quick", false, "small fleet and short runs: a smoke test of the harness, not a measurement")
	duration := flag.Duration("duration", bench.DefaultConfig.Duration, "measured time of each side of each round")
	rounds := flag.Int("rounds", bench.DefaultConfig.Rounds, "alternating rounds per comparison")
	keep := flag.Bool("keep", false, "keep the scratch folder (databases, server log)")
	postgres := flag.String("postgres", os.Getenv("TEST_DATABASE_URL"), "PostgreSQL server for the engine comparison (default $TEST_DATABASE_URL; a fresh schema is made and dropped)")
	only := flag.String("only", "", "comma-separated steps to run (sweeps,startup,http,engines,storage); nothing is written")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (the in-process app included) here")
	child := flag.String("child", "", "internal: run one sweep as a child process")
	mode := flag.String("mode", "", "internal: sweep mode (grouped|naive)")
	dbPath := flag.String("db", "", "internal: database of the child sweep")
	secret := flag.String("secret", "", "internal: SECRET_KEY of that database")
	graph := flag.String("graph", "", "internal: Graph API base URL of the child sweep")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *child == "sweep" {
		return bench.RunSweepChild(ctx, *mode, *dbPath, *secret, *graph, os.Stdout)
	}

	cfg := bench.DefaultConfig
	cfg.Duration, cfg.Rounds = *duration, *rounds
	if *quick {
		cfg.Fleet = bench.Fleet{Businesses: 20, NumbersPerBusiness: 20, Accounts: 4, HistoryDays: 30, SnapshotEvery: 24 * time.Hour}
		cfg.Duration, cfg.Warmup, cfg.Rounds, cfg.StartupRuns = time.Second, 200*time.Millisecond, 1, 1
		cfg.ScaleFleet = bench.Fleet{Businesses: 100, NumbersPerBusiness: 20, Accounts: 2}
		cfg.StorageFleet, cfg.StorageSpan = bench.Fleet{Businesses: 20, NumbersPerBusiness: 20, Accounts: 1}, 6*time.Hour
	}
	dir, err := bench.TempDir()
	if err != nil {
		return err
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "scratch folder:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	cfg.Dir = dir
	cfg.PostgresURL = *postgres
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cfg.Progress = os.Stderr
	if cfg.Self, err = os.Executable(); err != nil {
		return err
	}
	if cfg.Binary, err = buildWeb(dir); err != nil {
		return err
	}

	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	rep.WriteText(os.Stdout)
	if *out == "" || *quick || *only != "" {
		return nil
	}
	var buf bytes.Buffer
	rep.WriteMarkdown(&buf)
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "wrote", *out)
	return nil
}

// buildWeb compiles the real binary from this module's cmd/web.
func buildWeb(dir string) (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(dir, "web")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/web")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/web: %v\n%s", err, msg)
	}
	return bin, nil
}
