package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// VerificationRequest is one request for a verification code sent to a number.
type VerificationRequest struct {
	ID          int64
	InboxID     int64
	UserID      *int64
	Method      string // SMS | VOICE
	Language    string
	RequestedAt time.Time
	Sent        bool
	ErrorKind   whatsapp.Kind
}

// AddVerificationRequest records a request for a verification code.
func (s *Store) AddVerificationRequest(ctx context.Context, r VerificationRequest) (VerificationRequest, error) {
	if r.RequestedAt.IsZero() {
		r.RequestedAt = s.now()
	}
	outcome := "failed"
	if r.Sent {
		outcome = "sent"
	}
	err := s.write.QueryRowContext(ctx, `INSERT INTO verification_requests
		(inbox_id, user_id, method, language, requested_at, outcome, error_kind) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.InboxID, r.UserID, r.Method, r.Language, millis(r.RequestedAt), outcome, string(r.ErrorKind)).Scan(&r.ID)
	if err != nil {
		return VerificationRequest{}, fmt.Errorf("db: add verification request: %w", err)
	}
	return r, nil
}

// VerificationRequestsSince returns the times of an inbox's code requests since a moment,
// oldest first.
func (s *Store) VerificationRequestsSince(ctx context.Context, inboxID int64, since time.Time) ([]time.Time, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT requested_at FROM verification_requests
		WHERE inbox_id = ? AND requested_at > ? ORDER BY requested_at`, inboxID, millis(since))
	if err != nil {
		return nil, fmt.Errorf("db: verification requests: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at sql.NullInt64
		if err := rows.Scan(&at); err != nil {
			return nil, fmt.Errorf("db: verification requests: %w", err)
		}
		out = append(out, fromMillis(at.Int64))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: verification requests: %w", err)
	}
	return out, nil
}
