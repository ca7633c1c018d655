package db

import (
	"context"
	"testing"
)

// Two stores on one database are two instances: one leads, and when its session goes
// (a killed process), the other takes the lead at its next check.
func TestOneInstanceLeadsAndAnotherTakesOver(t *testing.T) {
	a, path := openTestStore(t)
	ctx := context.Background()
	c, _ := NewCipher("test-secret")
	b, err := Open(ctx, path, c)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	la, lb := a.Leadership("monitor"), b.Leadership("monitor")
	okA, errA := la.Check(ctx)
	okB, errB := lb.Check(ctx)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if testEngine == EngineSQLite {
		if !okA || !okB {
			t.Fatalf("SQLite: every process leads its own monitor, got %v, %v", okA, okB)
		}
		return
	}
	if !okA || okB {
		t.Fatalf("first check: want a to lead and b to follow, got a=%v b=%v", okA, okB)
	}
	if ok, _ := la.Check(ctx); !ok {
		t.Fatal("the leader's next check must keep the lead")
	}
	if ok, _ := a.Leadership("other job").Check(ctx); !ok {
		t.Fatal("another name is another lock")
	}
	// The leader's session dies, as with kill -9: the server ends it.
	if _, err := b.write.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND (classid::bigint << 32 | objid::bigint) = ?`,
		la.key); err != nil {
		t.Fatal(err)
	}
	var ok bool
	for range 50 {
		if ok, err = lb.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
	}
	if !ok {
		t.Fatal("after the leader's session ended, b must take the lead")
	}
	if ok, _ := la.Check(ctx); ok {
		t.Fatal("a lost its session: it must see it no longer leads")
	}
	lb.Release()
	if ok, _ := la.Check(ctx); !ok {
		t.Fatal("after b released the lead, a must take it")
	}
}
