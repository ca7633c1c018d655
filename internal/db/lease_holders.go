package db

import (
	"context"
	"fmt"
)

// LeaseHolders lists the registration leases currently recorded (expired or not), by
// inbox id, so a restarting process can release those of processes that have died.
func (s *Store) LeaseHolders(ctx context.Context) (map[int64]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT inbox_id, holder FROM registration_leases`)
	if err != nil {
		return nil, fmt.Errorf("db: lease holders: %w", err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var holder string
		if err := rows.Scan(&id, &holder); err != nil {
			return nil, fmt.Errorf("db: lease holders: %w", err)
		}
		out[id] = holder
	}
	return out, rows.Err()
}
