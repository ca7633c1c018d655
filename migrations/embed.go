// Package migrations holds the numbered SQL migrations, embedded into the binary:
// *.sql for SQLite and postgres/*.sql for PostgreSQL, one file of the same name in each
// for every step (a test holds the two sets to the same names). Released files are
// never edited: add a new file, to both sets.
package migrations

import (
	"embed"
	"io/fs"
)

// FS holds every *.sql migration for SQLite, applied in file-name order.
//
//go:embed *.sql
var FS embed.FS

//go:embed postgres/*.sql
var postgresFS embed.FS

// Postgres holds the PostgreSQL migrations, named as in FS.
var Postgres = mustSub(postgresFS, "postgres")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
