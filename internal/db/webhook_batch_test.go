package db

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A burst of concurrent webhook events is written in a few transactions, each caller
// answered once its own event is committed, and repeats inside one batch are still
// found out.
func TestABurstOfWebhookEventsIsGroupCommitted(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	var commits atomic.Int64
	s.SetWriteObserver(func(op string, d time.Duration) {
		if op == "webhook_event" {
			commits.Add(1)
		}
	})
	const n = 400
	var wg sync.WaitGroup
	results := make([]WebhookEvent, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			// Every key is delivered twice.
			results[i], errs[i] = s.AddWebhookEvent(ctx, WebhookEvent{WABAID: "102290129340398", Field: "phone_number_quality_update",
				Payload: `{}`, DedupKey: fmt.Sprintf("k%d", i/2)})
		})
	}
	wg.Wait()
	duplicates := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("event %d: %v", i, errs[i])
		}
		if results[i].ID == 0 {
			t.Fatalf("event %d: returned without its id", i)
		}
		if results[i].Duplicate {
			duplicates++
		}
	}
	if got, _ := s.CountWebhookEvents(ctx); got != n {
		t.Fatalf("want all %d events stored, got %d", n, got)
	}
	if duplicates != n/2 {
		t.Errorf("want every second delivery of a key marked duplicate (%d), got %d", n/2, duplicates)
	}
	if c := commits.Load(); c >= n/2 {
		t.Errorf("want the burst group-committed in far fewer transactions than %d events, got %d", n, c)
	} else {
		t.Logf("%d events in %d transactions", n, c)
	}
}
