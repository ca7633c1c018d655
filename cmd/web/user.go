package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// runMigrate implements `web migrate` (apply the migrations and exit) and
// `web migrate --to postgres://...` (copy the SQLite database into an empty PostgreSQL
// one, which is migrated first).
func runMigrate(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	to := fs.String("to", "", "copy the SQLite database (DATABASE_PATH) into this empty PostgreSQL database (postgres://...)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	if *to != "" {
		return copyToPostgres(cfg, *to, stdout)
	}
	store, _, err := openStore(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintln(stdout, "migrations applied to", cfg.databaseName())
	return nil
}

// copyToPostgres is `web migrate --to`: the SQLite file at DATABASE_PATH, opened with
// its key, copied row for row (secrets still encrypted) into the PostgreSQL database.
func copyToPostgres(cfg config, to string, stdout io.Writer) error {
	if !db.IsPostgresURL(to) {
		return fmt.Errorf("--to %q: want a PostgreSQL URL, postgres://user:password@host:5432/dbname", db.RedactURL(to))
	}
	if cfg.DatabaseURL != "" {
		return errors.New("web migrate --to copies the SQLite file DATABASE_PATH: unset DATABASE_URL for the copy")
	}
	if _, err := os.Stat(cfg.DatabasePath); err != nil {
		return fmt.Errorf("no SQLite database to copy at %s (DATABASE_PATH): %w", cfg.DatabasePath, err)
	}
	ctx := context.Background()
	src, cipher, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := db.Open(ctx, to, cipher)
	if err != nil {
		return err
	}
	defer dst.Close()
	start := time.Now()
	stats, err := db.CopyToPostgres(ctx, src, dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %d rows in %d tables from %s to %s in %v\n", stats.Rows, len(stats.Tables), cfg.DatabasePath,
		db.RedactURL(to), time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, "tokens and PINs were copied encrypted: every instance needs the same secret key")
	if cfg.SecretKey == "" {
		fmt.Fprintf(stdout, "set SECRET_KEY on every instance to the contents of %s\n", filepath.Join(filepath.Dir(cfg.DatabasePath), db.KeyFileName))
	}
	fmt.Fprintln(stdout, "then start the instances with DATABASE_URL set to that database")
	return nil
}

const userUsage = `usage:
  web user add --email E --account NAME --role administrator|agent [--password P] [--reset-password]
  web user passwd --email E   (the new password is read from standard input)`

// runUser implements `web user add` and `web user passwd`. Passwords come from
// --password (add only) or the first line of standard input, so they need not appear in
// shell history; they are never printed.
func runUser(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(userUsage)
	}
	switch args[0] {
	case "add":
		return runUserAdd(args[1:], stdin, stdout)
	case "passwd":
		return runUserPasswd(args[1:], stdin, stdout)
	}
	return fmt.Errorf("unknown user command %q\n%s", args[0], userUsage)
}

func runUserAdd(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	email := fs.String("email", "", "the user's email (login)")
	account := fs.String("account", "", "account name; created if it does not exist")
	role := fs.String("role", "administrator", "administrator or agent")
	password := fs.String("password", "", "password (default: read from standard input)")
	reset := fs.Bool("reset-password", false, "if the email is already a user, replace their password (and API token) instead of failing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" || *account == "" {
		return errors.New("user add: --email and --account are required")
	}
	if *password == "" {
		line, err := readPasswordLine(stdin)
		if err != nil {
			return fmt.Errorf("user add: %w", err)
		}
		*password = line
	}
	store, done, err := openUserStore()
	if err != nil {
		return err
	}
	defer done()
	existing := db.RefuseExisting
	if *reset {
		existing = db.ResetPassword
	}
	res, err := store.AddUser(context.Background(), *email, *password, *account, *role, existing)
	if errors.Is(err, db.ErrUserExists) {
		return fmt.Errorf("user add: %s is already a user of this server; nothing was changed. "+
			"Give --reset-password to replace their password and API token (and add them to %q as %s), "+
			"or use `web user passwd --email %s` to set a new password only", *email, *account, *role, *email)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// runUserPasswd sets a user's password from standard input; their API token, accounts
// and roles stay.
func runUserPasswd(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("user passwd", flag.ContinueOnError)
	email := fs.String("email", "", "the user's email (login)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("user passwd: --email is required")
	}
	password, err := readPasswordLine(stdin)
	if err != nil {
		return fmt.Errorf("user passwd: %w", err)
	}
	if err := db.CheckPassword(password); err != nil {
		return fmt.Errorf("user passwd: %w; nothing was changed", err)
	}
	store, done, err := openUserStore()
	if err != nil {
		return err
	}
	defer done()
	ctx := context.Background()
	u, err := store.UserByEmail(ctx, *email)
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("user passwd: no user with the email %s; create one with `web user add`", *email)
	}
	if err != nil {
		return err
	}
	if err := store.SetPassword(ctx, u.ID, password); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "password set for %s\n", u.Email)
	return err
}

// readPasswordLine reads the password from the first line of standard input.
func readPasswordLine(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", errors.New("give the password on standard input (or, for add, with --password)")
	}
	return password, nil
}

func openUserStore() (*db.Store, func(), error) {
	cfg, err := configFromEnv()
	if err != nil {
		return nil, nil, err
	}
	store, _, err := openStore(context.Background(), cfg)
	if err != nil {
		return nil, nil, err
	}
	return store, func() { store.Close() }, nil
}
