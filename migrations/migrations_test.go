package migrations

import (
	"io/fs"
	"slices"
	"testing"
)

// Both engines must have the same steps: a migration added for SQLite and forgotten
// for PostgreSQL (or the other way round) fails here, not on a server.
func TestBothEnginesHaveTheSameMigrations(t *testing.T) {
	sqlite, err := fs.Glob(FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	postgres, err := fs.Glob(Postgres, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(sqlite) == 0 {
		t.Fatal("no SQLite migrations embedded")
	}
	for _, name := range sqlite {
		if !slices.Contains(postgres, name) {
			t.Errorf("migrations/%s has no PostgreSQL twin: add migrations/postgres/%s", name, name)
		}
	}
	for _, name := range postgres {
		if !slices.Contains(sqlite, name) {
			t.Errorf("migrations/postgres/%s has no SQLite twin migrations/%s", name, name)
		}
	}
}
