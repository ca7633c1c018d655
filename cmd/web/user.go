package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

func runMigrate(args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	store, _, err := openStore(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Println("migrations applied to", cfg.DatabasePath)
	return nil
}

// runUser implements `web user add`; the password comes from --password or the first
// line of standard input, so it need not appear in shell history.
func runUser(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: web user add --email E --account NAME --role administrator|agent [--password P]")
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	email := fs.String("email", "", "the user's email (login)")
	account := fs.String("account", "", "account name; created if it does not exist")
	role := fs.String("role", "administrator", "administrator or agent")
	password := fs.String("password", "", "password (default: read from standard input)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *email == "" || *account == "" {
		return errors.New("user add: --email and --account are required")
	}
	if *password == "" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("user add: read password: %w", err)
		}
		*password = strings.TrimRight(line, "\r\n")
		if *password == "" {
			return errors.New("user add: give the password with --password or on standard input")
		}
	}
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	ctx := context.Background()
	store, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	res, err := store.CreateUser(ctx, *email, *password, *account, *role)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}
