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
	// A write transaction holds the writer while the burst arrives, as a sweep's page
	// or an earlier batch would: the events queue up behind it.
	hold, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
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
	for i := 0; ; i++ {
		s.events.mu.Lock()
		queued := len(s.events.queue)
		s.events.mu.Unlock()
		if queued == n-1 || i > 2000 { // all but the one writing (bounded: 2 s)
			break
		}
		time.Sleep(time.Millisecond)
	}
	hold.Rollback()
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
	// The one that found the writer idle, then the queue in batches of maxEventBatch.
	if c, want := commits.Load(), int64(1+(n-1+maxEventBatch-1)/maxEventBatch); c > want {
		t.Errorf("want the burst of %d events group-committed in %d transactions, got %d", n, want, c)
	} else {
		t.Logf("%d events in %d transactions", n, c)
	}
}
