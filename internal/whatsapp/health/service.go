// Package health keeps each inbox's WhatsApp health current: it fetches it from the
// Graph API, stores every fetch as a snapshot, serves reads from the latest snapshot,
// and runs the background monitor, the registrar and webhook updates on top of that.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Graph is the part of the Graph API client the product uses; *whatsapp.Client
// implements it, and tests may wrap it.
type Graph interface {
	PhoneNumber(ctx context.Context, token, phoneNumberID string) (*whatsapp.PhoneNumber, error)
	BusinessPhoneNumbers(ctx context.Context, token, wabaID string) ([]whatsapp.PhoneNumber, error)
	Register(ctx context.Context, token, phoneNumberID, pin string) error
	SubscribeApp(ctx context.Context, token, wabaID, callbackURL, verifyToken string) error
}

// Defaults for reading health.
const (
	// DefaultTTL is how old the latest snapshot may be before a read triggers a refresh.
	DefaultTTL = 5 * time.Minute
	// firstFetchWait bounds how long a read waits for an inbox's very first fetch.
	firstFetchWait = 8 * time.Second
	// refreshTimeout bounds one refresh, whoever asked for it.
	refreshTimeout = 20 * time.Second
)

// Service reads and refreshes inbox health.
type Service struct {
	store  *db.Store
	graph  Graph
	log    *slog.Logger
	now    func() time.Time
	ttl    time.Duration
	flight singleflight.Group
	// background bounds refreshes started on behalf of reads; Close cancels them.
	background       context.Context
	cancelBackground context.CancelFunc
	// nameApproved is the hook SetOnNameApproved installs (webhooks.go).
	nameApproved nameApprovedHook
}

// Options tune a Service; zero values take defaults.
type Options struct {
	TTL    time.Duration
	Logger *slog.Logger
	Now    func() time.Time
}

// NewService builds the health service.
func NewService(store *db.Store, graph Graph, opts Options) *Service {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{store: store, graph: graph, log: opts.Logger, now: opts.Now, ttl: opts.TTL,
		background: ctx, cancelBackground: cancel}
}

// Close stops refreshes started in the background.
func (s *Service) Close() { s.cancelBackground() }

// Current returns the inbox's latest snapshot without waiting on Meta when one exists:
// if it is older than the TTL a refresh starts in the background and the next read
// sees it. An inbox never checked waits (bounded) for its first fetch. ok is false when
// there is still nothing to show.
func (s *Service) Current(ctx context.Context, in db.Inbox) (snap db.HealthSnapshot, ok bool, err error) {
	snap, err = s.store.LatestSnapshot(ctx, in.ID)
	switch {
	case err == nil:
		if s.now().Sub(snap.CheckedAt) > s.ttl {
			s.refreshInBackground(in)
		}
		return snap, true, nil
	case !errors.Is(err, db.ErrNotFound):
		return db.HealthSnapshot{}, false, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, firstFetchWait)
	defer cancel()
	snap, err = s.Refresh(waitCtx, in, db.SourceFetch)
	if err != nil {
		if latest, lerr := s.store.LatestSnapshot(ctx, in.ID); lerr == nil {
			return latest, true, nil
		}
		return db.HealthSnapshot{}, false, nil
	}
	return snap, true, nil
}

func (s *Service) refreshInBackground(in db.Inbox) {
	go func() {
		if _, err := s.Refresh(s.background, in, db.SourceFetch); err != nil && s.background.Err() == nil {
			s.log.Warn("background health refresh", "inbox_id", in.ID, "error", err)
		}
	}()
}

// Refresh fetches the number's health from Meta now and stores it. Concurrent refreshes
// of one inbox share one Graph call. A failed fetch is stored too (keeping the last good
// data, marked stale) and returned as the snapshot, with a nil error: the failure is
// data to show, not a reason to fail the page. err is only for storage failures.
func (s *Service) Refresh(ctx context.Context, in db.Inbox, source string) (db.HealthSnapshot, error) {
	ch := s.flight.DoChan(strconv.FormatInt(in.ID, 10), func() (any, error) {
		// Detached from the first caller: a caller giving up must not cancel the
		// fetch the others are waiting on.
		fetchCtx, cancel := context.WithTimeout(s.background, refreshTimeout)
		defer cancel()
		return s.fetchAndStore(fetchCtx, in, source)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return db.HealthSnapshot{}, res.Err
		}
		return res.Val.(db.HealthSnapshot), nil
	case <-ctx.Done():
		return db.HealthSnapshot{}, fmt.Errorf("health: refresh inbox %d: %w", in.ID, ctx.Err())
	}
}

func (s *Service) fetchAndStore(ctx context.Context, in db.Inbox, source string) (db.HealthSnapshot, error) {
	secrets, err := s.store.Secrets(ctx, in.ID)
	if err != nil {
		return db.HealthSnapshot{}, fmt.Errorf("health: refresh inbox %d: %w", in.ID, err)
	}
	phone, fetchErr := s.graph.PhoneNumber(ctx, secrets.AccessToken, in.PhoneNumberID)
	return s.Record(ctx, in, phone, fetchErr, source)
}

// Record stores the outcome of one fetch of an inbox's health. With fetchErr set, the
// snapshot keeps the last good data and records why the fetch failed.
func (s *Service) Record(ctx context.Context, in db.Inbox, phone *whatsapp.PhoneNumber, fetchErr error, source string) (db.HealthSnapshot, error) {
	snap := db.HealthSnapshot{InboxID: in.ID, CheckedAt: s.now().UTC(), OK: fetchErr == nil, Phone: phone, Source: source}
	kind := whatsapp.KindNone
	if fetchErr != nil {
		kind = whatsapp.KindOf(fetchErr)
		if kind == whatsapp.KindNone {
			kind = whatsapp.KindUnknown
		}
		snap.ErrorKind = kind
		snap.ErrorMessage = fetchErr.Error()
		var ge *whatsapp.GraphError
		if errors.As(fetchErr, &ge) {
			snap.ErrorCode, snap.ErrorSubcode = ge.Code, ge.Subcode
		}
		snap.Phone = nil
		if last, err := s.store.LatestSnapshot(ctx, in.ID); err == nil {
			snap.Phone, snap.BusinessHealth = last.Phone, last.BusinessHealth
		} else if !errors.Is(err, db.ErrNotFound) {
			return db.HealthSnapshot{}, fmt.Errorf("health: record inbox %d: %w", in.ID, err)
		}
		s.log.Warn("health fetch failed", "inbox_id", in.ID, "kind", kind, "code", snap.ErrorCode, "subcode", snap.ErrorSubcode)
	}
	snap.OverallStatus = whatsapp.DeriveOverallStatus(snap.Phone, snap.BusinessHealth, kind).Code
	if snap.OK {
		snap.RegistrationState = string(whatsapp.Decide(snap.Phone).State)
	} else {
		snap.RegistrationState = string(whatsapp.Decide(nil).State)
	}
	stored, err := s.store.AddSnapshot(ctx, snap)
	if err != nil {
		return db.HealthSnapshot{}, fmt.Errorf("health: record inbox %d: %w", in.ID, err)
	}
	return stored, nil
}
