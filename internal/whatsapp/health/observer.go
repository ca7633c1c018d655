package health

import (
	"sync/atomic"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// HealthObserver is told about each piece of health news once it is stored: every
// snapshot recorded (a sweep, a refresh, a webhook folded in) and every account-level
// event (account_update) received for an inbox, a repeat delivery excluded. The alerts
// feature detects transitions from it; it compares with what it saw last, so it does
// not depend on how snapshots are stored.
//
// Calls are synchronous on the recording goroutine (the monitor's sweep, a page's
// refresh, a webhook request): an observer must return at once and do its work
// elsewhere.
type HealthObserver interface {
	HealthRecorded(in db.Inbox, snap db.HealthSnapshot)
	AccountEventReceived(in db.Inbox, change whatsapp.WebhookChange)
}

// observerHook holds the installed HealthObserver; it may be installed after the
// server started.
type observerHook struct {
	p atomic.Pointer[HealthObserver]
}

func (h *observerHook) get() HealthObserver {
	if o := h.p.Load(); o != nil {
		return *o
	}
	return nil
}

// SetObserver installs the observer told about recorded health (nil removes it).
func (s *Service) SetObserver(o HealthObserver) {
	if o == nil {
		s.observer.p.Store(nil)
		return
	}
	s.observer.p.Store(&o)
}

// healthRecorded tells the observer about stored snapshots.
func (s *Service) healthRecorded(in db.Inbox, snap db.HealthSnapshot) {
	if o := s.observer.get(); o != nil {
		o.HealthRecorded(in, snap)
	}
}

// accountEventReceived tells the observer about an account-level event.
func (s *Service) accountEventReceived(in db.Inbox, change whatsapp.WebhookChange) {
	if o := s.observer.get(); o != nil && change.Field == whatsapp.WebhookFieldAccountUpdate {
		o.AccountEventReceived(in, change)
	}
}
