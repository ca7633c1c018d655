package bench

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// StorageGrowth is what sweeps added to a database.
type StorageGrowth struct {
	Sweeps         int
	Looks          int   // health checks stored in all (inboxes × sweeps)
	Rows           int   // snapshot rows at the end
	Changes        int   // health-change rows at the end
	BytesAfterInit int64 // after the first sweep (each inbox's first snapshot)
	BytesAtEnd     int64
	Took           time.Duration
}

// Added is the growth after the first sweep.
func (g StorageGrowth) Added() int64 { return g.BytesAtEnd - g.BytesAfterInit }

// MeasureStorage stores sweeps of every inbox of the fixture at path (built without
// history), one every health.DefaultSweepInterval of a simulated clock for the given
// duration, the way the monitor's writer stores them: Service.RecordAll for each
// business account's page, one transaction each. changeShare of the inboxes change
// quality rating at each sweep (a different slice each time, GREEN and YELLOW in turn);
// the rest answer what they answered before. Sizes are of the checkpointed file.
func (f Fleet) MeasureStorage(ctx context.Context, fx *Fixture, span time.Duration, changeShare float64, start time.Time) (StorageGrowth, error) {
	var g StorageGrowth
	began := time.Now()
	cipher, err := db.NewCipher(fx.Secret)
	if err != nil {
		return g, err
	}
	store, err := db.Open(ctx, fx.Path, cipher)
	if err != nil {
		return g, err
	}
	defer store.Close()
	now := start
	clock := func() time.Time { return now }
	store.SetClock(clock)
	svc := health.NewService(store, nil, health.Options{Logger: slog.New(slog.DiscardHandler), Now: clock})
	defer svc.Close()

	inboxes, err := store.AllInboxes(ctx)
	if err != nil {
		return g, err
	}
	byID := make(map[int64]db.Inbox, len(inboxes))
	for _, in := range inboxes {
		byID[in.ID] = in
	}
	n := f.Inboxes()
	quality := make([]string, n)
	for i := range quality {
		quality[i] = "GREEN"
	}
	phones := make([]whatsapp.PhoneNumber, n)
	changing := int(float64(n)*changeShare + 0.5)
	sweep := func(k int) error {
		for c := range changing * min(k+1, 1) { // k = -1: nobody changes in the first sweep
			i := (k*changing + c) % n
			if quality[i] == "GREEN" {
				quality[i] = "YELLOW"
			} else {
				quality[i] = "GREEN"
			}
		}
		for w := range f.Businesses {
			fetched := make([]health.Fetched, 0, f.NumbersPerBusiness)
			for nn := range f.NumbersPerBusiness {
				i := f.index(w, nn)
				phones[i] = phone(w, nn, quality[i])
				phones[i].IsOnBizApp = ptr(false) // Meta answers the field (the simulator does too)
				fetched = append(fetched, health.Fetched{Inbox: byID[fx.InboxIDs[i]], Phone: &phones[i], Asked: now})
			}
			if err := svc.RecordAll(ctx, fetched, db.SourceSweep); err != nil {
				return err
			}
		}
		g.Looks += n
		return nil
	}
	if err := sweep(-1); err != nil {
		return g, err
	}
	conn, err := sql.Open("sqlite", "file:"+fx.Path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return g, err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	if g.BytesAfterInit, err = checkpointedSize(ctx, conn, fx.Path); err != nil {
		return g, err
	}
	sweeps := int(span / health.DefaultSweepInterval)
	for k := range sweeps {
		now = now.Add(health.DefaultSweepInterval)
		if err := sweep(k); err != nil {
			return g, err
		}
		if err := ctx.Err(); err != nil {
			return g, err
		}
	}
	g.Sweeps = sweeps + 1
	if g.BytesAtEnd, err = checkpointedSize(ctx, conn, fx.Path); err != nil {
		return g, err
	}
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM health_snapshots`).Scan(&g.Rows); err != nil {
		return g, err
	}
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM health_changes`).Scan(&g.Changes); err != nil {
		return g, err
	}
	g.Took = time.Since(began)
	if want := changing * sweeps; changeShare > 0 && g.Rows != n+want {
		return g, fmt.Errorf("bench: storage: want %d snapshot rows (one per inbox and one per change), got %d", n+want, g.Rows)
	}
	return g, nil
}
