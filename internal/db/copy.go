package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// CopyStats says what CopyToPostgres copied: rows per table.
type CopyStats struct {
	Tables map[string]int64
	Rows   int64
}

// ErrTargetNotEmpty is CopyToPostgres's answer for a PostgreSQL database that holds
// data already: it copies into an empty one only, never merges.
var ErrTargetNotEmpty = errors.New("db: the PostgreSQL database is not empty")

// copyBatch is the rows one INSERT carries (PostgreSQL takes up to 65,535 parameters
// per statement; the widest table has about thirty columns).
const copyBatch = 500

// CopyToPostgres copies every row of an SQLite store (src) into an empty PostgreSQL
// one (dst), both opened (so migrated to the same version) with the same secret key:
// tokens, PINs and alert URLs are copied as the ciphertext they are, never decrypted;
// ids are kept, and each table's id sequence continues after the largest. It runs in
// one transaction: on any error nothing is left in dst. Stop every server writing to
// src first: rows they write during the copy are not copied.
func CopyToPostgres(ctx context.Context, src, dst *Store) (CopyStats, error) {
	stats := CopyStats{Tables: map[string]int64{}}
	if src.engine != EngineSQLite || dst.engine != EnginePostgres {
		return stats, errors.New("db: copy: want an SQLite source and a PostgreSQL target")
	}
	tables, err := src.copyOrder(ctx)
	if err != nil {
		return stats, err
	}
	// A new store's own first-start rows (settings: the secret check) are replaced by
	// the source's; anything else means someone uses the database.
	for _, table := range tables {
		if table == "settings" {
			continue
		}
		var n int64
		if err := dst.read.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			return stats, fmt.Errorf("db: copy: target table %s: %w", table, err)
		}
		if n > 0 {
			return stats, fmt.Errorf("%w: table %s has %d rows (web migrate copies into an empty database only)", ErrTargetNotEmpty, table, n)
		}
	}
	tx, err := dst.write.BeginTx(ctx, nil)
	if err != nil {
		return stats, fmt.Errorf("db: copy: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM settings`); err != nil {
		return stats, fmt.Errorf("db: copy: %w", err)
	}
	for _, table := range tables {
		n, err := copyTable(ctx, src, tx, table)
		if err != nil {
			return stats, fmt.Errorf("db: copy %s: %w", table, err)
		}
		stats.Tables[table] = n
		stats.Rows += n
		// Identity columns continue after the largest id copied.
		var seq *string
		err = tx.QueryRowContext(ctx, `SELECT pg_get_serial_sequence(table_name, 'id') FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? AND column_name = 'id'`, table).Scan(&seq)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return stats, fmt.Errorf("db: copy %s: its id sequence: %w", table, err)
		}
		if seq != nil {
			if _, err := tx.ExecContext(ctx, `SELECT setval(?, coalesce((SELECT max(id) FROM `+table+`), 0) + 1, false)`, *seq); err != nil {
				return stats, fmt.Errorf("db: copy %s: bump its id sequence: %w", table, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return stats, fmt.Errorf("db: copy: %w", err)
	}
	dst.c = newCaches(CacheTTL) // what it cached before the copy (nothing) is gone
	return stats, nil
}

// copyOrder lists the source's tables (schema_migrations and SQLite's own left out) so
// that each comes after the tables its foreign keys point to.
func (s *Store) copyOrder(ctx context.Context) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table'
		AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("db: copy: list tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, name)
	}
	rows.Close()
	deps := map[string][]string{}
	for _, name := range names {
		fk, err := s.read.QueryContext(ctx, `SELECT "table" FROM pragma_foreign_key_list(?)`, name)
		if err != nil {
			return nil, fmt.Errorf("db: copy: foreign keys of %s: %w", name, err)
		}
		for fk.Next() {
			var parent string
			fk.Scan(&parent)
			if parent != name {
				deps[name] = append(deps[name], parent)
			}
		}
		fk.Close()
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("db: copy: foreign keys form a cycle through %s", n)
		case 2:
			return nil
		}
		state[n] = 1
		for _, p := range deps[n] {
			if slices.Contains(names, p) {
				if err := visit(p); err != nil {
					return err
				}
			}
		}
		state[n] = 2
		order = append(order, n)
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// copyTable copies one table's rows from src into tx, in batches, in rowid order (the
// order they were written in), with the source's column names.
func copyTable(ctx context.Context, src *Store, tx *sql.Tx, table string) (int64, error) {
	rows, err := src.read.QueryContext(ctx, `SELECT * FROM `+table+` ORDER BY rowid`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
	}
	head := `INSERT INTO ` + table + ` (` + strings.Join(quoted, ", ") + `) VALUES `
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	var (
		args  []any
		batch int
		total int64
	)
	flush := func() error {
		if batch == 0 {
			return nil
		}
		q := head + strings.TrimSuffix(strings.Repeat(one+", ", batch), ", ")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		total += int64(batch)
		args, batch = args[:0], 0
		return nil
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return total, err
		}
		args = append(args, vals...)
		if batch++; batch == copyBatch {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return total, err
	}
	return total, flush()
}
