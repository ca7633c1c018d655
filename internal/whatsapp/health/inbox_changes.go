package health

import (
	"context"
	"errors"
	"fmt"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// Changes an administrator makes to an inbox: reconnecting it (replacing its access
// token, the most common fix of a WhatsApp connection: a system-user token expired or
// was revoked) and removing it.

// TokenRefusedError is a new access token Meta refused, or one that cannot see the
// inbox's number: the old token stays. Kind says why, in the error table's terms.
type TokenRefusedError struct {
	Kind whatsapp.Kind
	// Err is Meta's (or the transport's) error, for support; never shown as the reason.
	Err error
}

func (e *TokenRefusedError) Error() string {
	x := e.Kind.Explain()
	if e.Kind == whatsapp.KindInvalidRequest || e.Kind == whatsapp.KindUnknown {
		return "Meta did not accept this token for this number: check that it belongs to a system user with access to the number's WhatsApp Business Account. The old token is kept."
	}
	return "Meta did not accept this token: " + x.Title + ". " + x.Remedy + " The old token is kept."
}

func (e *TokenRefusedError) Unwrap() error { return e.Err }

// Reconnect replaces the inbox's access token after checking it with Meta: the token
// must read the inbox's phone number (GET /{phone-number-id}), else it is refused with
// a *TokenRefusedError and the old token stays. On success the health that read
// returned is stored at once, the webhook subscription is made again if it had failed,
// and a pending registration is retried if the decision allows it; the result says
// what came of that.
func (r *Registrar) Reconnect(ctx context.Context, in db.Inbox, token string, req Request) (Result, error) {
	defer r.forgetStatus(in.ID)
	phone, err := r.graph.PhoneNumber(ctx, token, in.PhoneNumberID)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		return Result{}, &TokenRefusedError{Kind: whatsapp.KindOf(err), Err: err}
	}
	if err := r.store.SetAccessToken(ctx, in.ID, token); err != nil {
		return Result{}, fmt.Errorf("health: reconnect inbox %d: %w", in.ID, err)
	}
	r.log.Info("inbox reconnected with a new access token", "inbox_id", in.ID, "user_id", req.UserID)
	if _, err := r.health.Record(ctx, in, phone, nil, db.SourceFetch); err != nil {
		return Result{}, fmt.Errorf("health: reconnect inbox %d: %w", in.ID, err)
	}
	current, err := r.store.InboxByID(ctx, in.ID)
	if err != nil {
		return Result{}, fmt.Errorf("health: reconnect inbox %d: %w", in.ID, err)
	}
	if current.WebhookSubscribedAt == nil {
		r.subscribeWebhook(ctx, current)
	}
	return r.Register(ctx, current, req)
}

// RemoveInbox deletes the inbox and everything recorded about it (its secrets erased at
// once). It never calls Meta: the number stays registered there, as it is. A
// registration in flight is not cut off: the removal is refused until it ends.
func (r *Registrar) RemoveInbox(ctx context.Context, in db.Inbox, userID *int64) error {
	release, err := r.lease(ctx, in.ID, "remove")
	if errors.Is(err, db.ErrLeaseHeld) {
		return ErrRegistrationInProgress
	}
	if err != nil {
		return fmt.Errorf("health: remove inbox %d: %w", in.ID, err)
	}
	// The lease row goes with the inbox; nothing is left to release.
	if err := r.store.DeleteInbox(ctx, in.ID); err != nil {
		release()
		return fmt.Errorf("health: remove inbox %d: %w", in.ID, err)
	}
	r.forgetStatus(in.ID)
	r.log.Info("inbox removed", "inbox_id", in.ID, "account_id", in.AccountID, "user_id", userID)
	return nil
}
