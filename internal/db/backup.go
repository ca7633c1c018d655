package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
)

// Backup writes a consistent copy of the SQLite database at path into dest with
// SQLite's VACUUM INTO, which reads one snapshot of the database (WAL readers do not
// block the server's writer, nor it them), so it is safe while `web serve` runs.
//
// dest must not exist yet: a backup never overwrites anything. It is created first with
// mode 0600 (VACUUM INTO accepts an empty file), because it holds the same encrypted
// tokens and PINs as the database — and is useless without the same SECRET_KEY.
// The source is opened read-only, so a backup can neither migrate nor change it.
func Backup(ctx context.Context, path, dest string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("db: backup: no database at %s: %w", path, err)
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("db: backup: %s already exists; a backup never overwrites a file", dest)
		}
		return fmt.Errorf("db: backup: %w", err)
	}
	f.Close()
	src, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		os.Remove(dest)
		return fmt.Errorf("db: backup: open %s: %w", path, err)
	}
	defer src.Close()
	if _, err := src.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		os.Remove(dest)
		return fmt.Errorf("db: backup: %w", err)
	}
	return nil
}
