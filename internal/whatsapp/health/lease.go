package health

// lease.go holds the per-inbox registration lease and crash recovery: holder ids,
// detached work, releasing leases and marking attempts a stopped process left in flight.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

func defaultHolderID() string {
	host, _ := os.Hostname()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix) // a collision only weakens a log label; the lease is the row itself
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(suffix))
}

// alreadyInProgress is the answer to a request that found another registration of the
// inbox running; it makes no Graph call at all, so fifty clicks cost one.
func (r *Registrar) alreadyInProgress(ctx context.Context, in db.Inbox) Result {
	res := Result{Outcome: OutcomeDeferred, State: whatsapp.StateUnknown,
		Reason: "A registration for this number is already in progress. Its result will show here in a moment."}
	if snap, err := r.store.LatestSnapshot(ctx, in.ID); err == nil {
		res.State, res.Snapshot = DecisionFor(in, &snap).State, &snap
	}
	return res
}

// detach gives work that must not stop when the caller gives up: it keeps ctx's
// values, ends after d, and ends when the registrar is closed.
func (r *Registrar) detach(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	stopAfter := context.AfterFunc(r.background, cancel)
	return work, func() { stopAfter(); cancel() }
}

// lease takes the inbox's registration lease for one piece of work (purpose names it in
// the lease row), so that work never runs beside a register call of the same inbox, in
// this process or another; a lease held elsewhere is db.ErrLeaseHeld. release gives it
// back (the lease expires by itself if release never runs).
func (r *Registrar) lease(ctx context.Context, inboxID int64, purpose string) (release func(), err error) {
	holder := fmt.Sprintf("%s#%s%d", r.holder, purpose, r.leaseSeq.Add(1))
	if err := r.store.AcquireLease(ctx, inboxID, holder, r.leaseTTL); err != nil {
		return nil, err
	}
	return func() { r.releaseLease(ctx, inboxID, holder) }, nil
}

func (r *Registrar) releaseLease(ctx context.Context, inboxID int64, holder string) {
	releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.store.ReleaseLease(releaseCtx, inboxID, holder); err != nil {
		// The lease expires by itself; until then other attempts are deferred.
		r.log.Warn("release registration lease", "inbox_id", inboxID, "error", err)
	}
}

// MarkInterrupted turns attempts left in flight by a stopped process into interrupted
// ones, once their lease has expired (another process may still be mid-call before).
// It runs at startup and before each automatic retry round.
func (r *Registrar) MarkInterrupted(ctx context.Context) (int64, error) {
	defer r.forgetAllStatuses()
	if err := r.releaseLeasesOfDeadProcesses(ctx); err != nil {
		return 0, err
	}
	n, err := r.store.MarkInterruptedAttempts(ctx, r.now())
	if err != nil {
		return 0, fmt.Errorf("health: mark interrupted registrations: %w", err)
	}
	if n > 0 {
		r.log.Warn("registrations interrupted by a stop; Meta may have received them", "attempts", n)
	}
	return n, nil
}

// releaseLeasesOfDeadProcesses frees leases held by a process of this host that no
// longer runs (after kill -9 or a crash), so its interrupted attempt is shown and the
// inbox unblocked at restart instead of when the lease expires. A holder whose pid is
// ours, or still alive (possibly reused), or on another host keeps its lease until it
// expires: only a process we can prove dead is released.
func (r *Registrar) releaseLeasesOfDeadProcesses(ctx context.Context) error {
	holders, err := r.store.LeaseHolders(ctx)
	if err != nil {
		return fmt.Errorf("health: release dead leases: %w", err)
	}
	host, _ := os.Hostname()
	for inboxID, holder := range holders {
		if !holderIsDeadLocalProcess(holder, host) {
			continue
		}
		if err := r.store.ReleaseLease(ctx, inboxID, holder); err != nil {
			return fmt.Errorf("health: release dead lease: %w", err)
		}
		r.log.Warn("released the registration lease of a stopped process", "inbox_id", inboxID)
	}
	return nil
}

// holderIsDeadLocalProcess reads a holder id made by defaultHolderID ("host/pid/suffix#n").
func holderIsDeadLocalProcess(holder, host string) bool {
	parts := strings.SplitN(holder, "/", 3)
	if len(parts) != 3 || parts[0] != host || host == "" {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
