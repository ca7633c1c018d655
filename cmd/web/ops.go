package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// version and commit are stamped in by `make release` (-ldflags -X); a plain `go build`
// falls back to what the Go toolchain recorded from git (debug.ReadBuildInfo).
var (
	version = ""
	commit  = ""
)

// buildVersion is what `web version` prints: version, commit (with "-dirty" when the
// tree had uncommitted changes) and the Go version and platform.
func buildVersion() string {
	v, c, dirty := version, commit, false
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if c == "" {
					c = s.Value
				}
			case "vcs.modified":
				dirty = s.Value == "true" && commit == ""
			}
		}
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if dirty {
		c += "-dirty"
	}
	return fmt.Sprintf("web %s (commit %s, %s, %s/%s)", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// runBackup implements `web backup --to FILE`: a consistent copy of the SQLite database,
// safe while the server runs.
func runBackup(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	to := fs.String("to", "", "file to write the backup to (must not exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("usage: web backup --to FILE")
	}
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" {
		// A copy of a live PostgreSQL database is the server's tool's job: pg_dump
		// reads one consistent snapshot while the instances keep writing.
		return fmt.Errorf("DATABASE_URL is set: back PostgreSQL up with its own tools, e.g.\n  pg_dump --format=custom --file=%s \"$DATABASE_URL\"\n(restore with pg_restore; the tokens and PINs in it stay encrypted: keep SECRET_KEY)", *to)
	}
	if err := db.Backup(context.Background(), cfg.DatabasePath, *to); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", cfg.DatabasePath, *to)
	fmt.Fprintln(stdout, "the tokens and PINs in it are encrypted: keep SECRET_KEY (or secret.key beside the database) to restore it")
	return nil
}
