package health

// setup.go holds the set-up of new inboxes and the background tasks the registrar
// starts (setup, registration after a name approval).

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// NameApproved starts a registration attempt at once, in the background, when Meta
// approves the display name (install it with Service.SetOnNameApproved): the stuck
// registration of a new number, or the register call that makes a registered number's
// new name show. It returns immediately: the webhook must be answered within seconds.
// The attempt stays within the backoff and budget, so a replayed approval cannot spend
// Meta's register calls.
func (r *Registrar) NameApproved(ctx context.Context, in db.Inbox) {
	r.inBackground(ctx, lockedWorkTimeout+subscribeTimeout, func(ctx context.Context) {
		current, err := r.store.InboxByID(ctx, in.ID)
		if err != nil {
			r.log.Error("registration after name approval", "inbox_id", in.ID, "error", err)
			return
		}
		trigger := db.TriggerWebhook
		if current.NameChangeApprovedAt != nil {
			trigger = db.TriggerNameChange
		}
		if _, err := r.Register(ctx, current, Request{Trigger: trigger}); err != nil {
			r.log.Error("registration after name approval", "inbox_id", in.ID, "error", err)
		}
	})
}

// StartSetup runs Setup in the background, detached from the request that created the
// inbox; Wait and Close wait for it.
func (r *Registrar) StartSetup(ctx context.Context, in db.Inbox) {
	r.inBackground(ctx, setupTimeout, func(ctx context.Context) {
		if _, err := r.Setup(ctx, in); err != nil {
			r.log.Error("inbox setup", "inbox_id", in.ID, "error", err)
		}
	})
}

func (r *Registrar) inBackground(ctx context.Context, timeout time.Duration, task func(context.Context)) {
	work, cancel := r.detach(ctx, timeout)
	r.tasks.Go(func() {
		defer cancel()
		task(work)
	})
}

// Setup runs the whole flow for a new inbox: check its parameters, register if the
// decision says so, and subscribe the webhook (needed before registration succeeds,
// since the name-approved webhook is what triggers it). Every outcome is recorded on
// the inbox (attempts, webhook subscription fields) so the pages show it.
func (r *Registrar) Setup(ctx context.Context, in db.Inbox) (Result, error) {
	defer r.forgetStatus(in.ID)
	if problems := r.setupProblems(ctx, in); len(problems) > 0 {
		return r.recordSetupProblems(ctx, in, problems)
	}
	in = r.fillBusinessID(ctx, in)
	res, err := r.Register(ctx, in, Request{Trigger: db.TriggerSetup})
	if err != nil {
		return res, err
	}
	if res.Outcome != OutcomeRegistered { // a registration subscribes by itself
		res.WebhookSubscribed, res.WebhookError = r.subscribeWebhook(ctx, in)
	}
	return res, nil
}

// fillBusinessID reads the business portfolio id from the business account's
// owner_business_info when the inbox was added without one: WhatsApp Manager links
// need it. A failure leaves the inbox as it is (the links fall back to the WABA).
func (r *Registrar) fillBusinessID(ctx context.Context, in db.Inbox) db.Inbox {
	if in.BusinessID != "" {
		return in
	}
	secrets, err := r.store.Secrets(ctx, in.ID)
	if err != nil {
		return in
	}
	id, err := r.graph.BusinessOwner(ctx, secrets.AccessToken, in.WABAID)
	if err != nil || id == "" {
		r.log.Info("business portfolio id not read from Meta", "inbox_id", in.ID, "kind", whatsapp.KindOf(err))
		return in
	}
	if err := r.store.SetBusinessID(ctx, in.ID, id); err != nil {
		r.log.Warn("store business portfolio id", "inbox_id", in.ID, "error", err)
		return in
	}
	in.BusinessID = id
	return in
}

// setupProblems lists, in plain words, each parameter the inbox lacks.
func (r *Registrar) setupProblems(ctx context.Context, in db.Inbox) []string {
	var problems []string
	missing := func(value, what string) {
		if strings.TrimSpace(value) == "" {
			problems = append(problems, what+" is missing")
		}
	}
	missing(in.PhoneNumber, "the phone number")
	missing(in.PhoneNumberID, "the phone number ID")
	missing(in.WABAID, "the WhatsApp Business Account ID")
	secrets, err := r.store.Secrets(ctx, in.ID)
	switch {
	case err != nil:
		problems = append(problems, "the access token could not be read")
	case secrets.AccessToken == "":
		problems = append(problems, "the access token is missing")
	}
	return problems
}

func (r *Registrar) recordSetupProblems(ctx context.Context, in db.Inbox, problems []string) (Result, error) {
	reason := "Setup could not start: " + strings.Join(problems, "; ") + "."
	res := Result{Outcome: OutcomeFailed, State: whatsapp.StateUnknown, Kind: whatsapp.KindInvalidRequest,
		Reason: reason, WebhookError: reason}
	a, err := r.store.StartAttempt(ctx, in.ID, db.TriggerSetup, nil, false)
	if err != nil {
		return res, fmt.Errorf("health: setup inbox %d: %w", in.ID, err)
	}
	a.Outcome, a.ErrorKind, a.Message = string(OutcomeFailed), whatsapp.KindInvalidRequest, reason
	if err := r.store.FinishAttempt(ctx, a); err != nil {
		return res, fmt.Errorf("health: setup inbox %d: %w", in.ID, err)
	}
	res.Attempt = &a
	if err := r.store.SetWebhookSubscription(ctx, in.ID, nil, reason); err != nil {
		return res, fmt.Errorf("health: setup inbox %d: %w", in.ID, err)
	}
	return res, nil
}
