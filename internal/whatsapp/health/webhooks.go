package health

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// NameApprovedFunc is called when Meta approves a number's display name: the moment a
// stuck registration can succeed.
type NameApprovedFunc func(ctx context.Context, in db.Inbox)

// nameApprovedHook holds the installed NameApprovedFunc; the lock lets it be installed
// after the server started answering webhooks.
type nameApprovedHook struct {
	mu sync.RWMutex
	fn NameApprovedFunc
}

func (h *nameApprovedHook) set(fn NameApprovedFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fn = fn
}

func (h *nameApprovedHook) get() NameApprovedFunc {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.fn
}

// SetOnNameApproved installs the hook ApplyWebhook calls for a
// phone_number_name_update with decision APPROVED that changed the inbox's health
// (nil removes it); a replayed approval that changes nothing does not call it. The
// registration feature uses it to register the number at once.
//
// The hook runs synchronously, on the webhook request's goroutine, after the new
// health is stored, and with the request's context: it ends when the response is
// sent. Meta expects an answer within seconds, so a hook that calls Meta must start
// that work in the background (with context.WithoutCancel or its own context) and
// return. It may run concurrently for different inboxes.
func (s *Service) SetOnNameApproved(fn NameApprovedFunc) { s.nameApproved.set(fn) }

// ApplyWebhook folds one webhook change into the inbox's health at once, so the page
// and API are right before the next fetch from Meta. It reports whether a snapshot
// was recorded.
//
// The change is applied to the latest snapshot's phone data (whatsapp.ApplyWebhookChange)
// and, when that changes anything, stored as a new snapshot with source "webhook". An
// inbox without phone data yet is refreshed from Meta instead (bounded by ctx; the
// fetch itself carries on if ctx ends first). A change that alters nothing, such as a
// change about another number, returns the latest snapshot and false.
//
// A failed fetch stays visible: a webhook snapshot keeps the latest snapshot's error,
// because news about one field does not make the others fresh.
func (s *Service) ApplyWebhook(ctx context.Context, in db.Inbox, change whatsapp.WebhookChange) (db.HealthSnapshot, bool, error) {
	snap, recorded, err := s.applyWebhookChange(ctx, in, change)
	if err != nil {
		return snap, recorded, err
	}
	s.accountEventReceived(in, change)
	// Only news starts a registration: a replayed approval (Meta delivers an event more
	// than once) changes nothing, and calling again would step around the backoff a
	// failed first attempt planned. The monitor's retries pick up what it leaves.
	if recorded && whatsapp.IsApprovedNameUpdate(change) {
		if hook := s.nameApproved.get(); hook != nil {
			hook(ctx, in)
		}
	}
	return snap, recorded, nil
}

func (s *Service) applyWebhookChange(ctx context.Context, in db.Inbox, change whatsapp.WebhookChange) (db.HealthSnapshot, bool, error) {
	latest, err := s.store.LatestSnapshot(ctx, in.ID)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return db.HealthSnapshot{}, false, fmt.Errorf("health: apply webhook to inbox %d: %w", in.ID, err)
	}
	if err != nil || latest.Phone == nil {
		// Nothing to fold the change into: ask Meta for the whole picture.
		snap, err := s.Refresh(ctx, in, db.SourceWebhook)
		if err != nil {
			return db.HealthSnapshot{}, false, fmt.Errorf("health: apply webhook to inbox %d: %w", in.ID, err)
		}
		return snap, true, nil
	}
	if change.Field == whatsapp.WebhookFieldAccountReviewUpdate {
		// No phone-number field reflects the business account's review; its effect
		// (can_send_message) only shows in a fresh fetch, which needs no waiting for.
		s.refreshInBackground(in, db.SourceWebhook)
		return latest, false, nil
	}
	phone, changed := whatsapp.ApplyWebhookChange(*latest.Phone, change)
	if !changed {
		return latest, false, nil
	}
	if in, err = s.noteNameChange(ctx, in, latest.Phone, &phone); err != nil {
		return db.HealthSnapshot{}, false, err
	}
	next := latest
	next.ID = 0
	next.CheckedAt = s.now().UTC()
	next.Phone = &phone
	next.Source = db.SourceWebhook
	next.OverallStatus, next.RegistrationState = deriveStates(in, next)
	stored, err := s.storeChecks(ctx, []check{{in, next}})
	if err != nil {
		return db.HealthSnapshot{}, false, fmt.Errorf("health: apply webhook to inbox %d: %w", in.ID, err)
	}
	return stored[0], !stored[0].Superseded, nil
}

// deriveStates computes a snapshot's overall status and registration state the way
// Record does: a snapshot of a failed fetch has no trustworthy registration state.
func deriveStates(in db.Inbox, snap db.HealthSnapshot) (overall, registration string) {
	return OverallOf(&snap).Code, string(DecisionFor(in, &snap).State)
}
