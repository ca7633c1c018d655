// Command web is the one binary: the web app, its maintenance commands, and the Graph
// API simulator.
package main

import (
	"fmt"
	"os"
)

const usage = `Usage: web <command> [flags]

Commands:
  serve      run the web app (configured by environment variables; see README)
  demo       run the web app in demo mode: built-in Graph API simulator, seeded data
  migrate    apply database migrations and exit; with --to postgres://... copy the SQLite
             database into an empty PostgreSQL one (web migrate --to URL)
  backup     copy the database consistently, also while serving: web backup --to FILE
  version    print the version, commit and Go version
  user add   create a user: web user add --email E --account NAME --role administrator|agent [--password P] [--reset-password]
  user passwd  set a user's password (from standard input): web user passwd --email E
  graphsim   run the Graph API simulator alone: web graphsim -addr 127.0.0.1:9090 -scenario demo
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = runServe(args, false)
	case "demo":
		err = runServe(args, true)
	case "migrate":
		err = runMigrate(args, os.Stdout)
	case "backup":
		err = runBackup(args, os.Stdout)
	case "version", "--version":
		fmt.Println(buildVersion())
	case "user":
		err = runUser(args, os.Stdin, os.Stdout)
	case "graphsim":
		err = runGraphsim(args)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "web: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "web:", err)
		os.Exit(1)
	}
}
