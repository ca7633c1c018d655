package handlers

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/pgtest"
)

// forEachEngine runs fn with the path of a fresh database of each engine: an SQLite
// file, and a PostgreSQL schema when a test server is given (pgtest).
func forEachEngine(t *testing.T, fn func(t *testing.T, database string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, filepath.Join(t.TempDir(), "app.db")) })
	t.Run("postgres", func(t *testing.T) { fn(t, pgtest.URL(t)) })
}

func openStoreAt(t *testing.T, database string) *db.Store {
	t.Helper()
	c, _ := db.NewCipher("throttle-tests")
	s, err := db.Open(context.Background(), database, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Guesses sent to two instances count together: the sixth wrong password for one
// email from one address is refused whichever instance it reaches, drains as in
// memory, and a log-in forgets the pair's count only.
func TestStoreThrottleCountsGuessesAcrossInstances(t *testing.T) {
	forEachEngine(t, func(t *testing.T, database string) {
		clock := newTestClock()
		a := NewStoreLoginThrottle(openStoreAt(t, database), clock.now)
		b := NewStoreLoginThrottle(openStoreAt(t, database), clock.now)
		victim := LoginAttempt{Email: "Owner@Acme.test", Address: "203.0.113.9"}
		for i := range int(throttlePair.burst) {
			if v := tryLogin(t, []LoginThrottle{a, b}[i%2], victim); v.RetryAfter != 0 {
				t.Fatalf("guess %d: want it let through, got a wait of %v", i+1, v.RetryAfter)
			}
		}
		for _, th := range []LoginThrottle{a, b} {
			v := tryLogin(t, th, LoginAttempt{Email: "owner@acme.test", Address: victim.Address})
			if v.RetryAfter <= 0 || v.RetryAfter > throttlePair.drain {
				t.Fatalf("the sixth guess, on either instance (email in any case): want refused for up to %v, got %v", throttlePair.drain, v.RetryAfter)
			}
		}
		if v := tryLogin(t, b, LoginAttempt{Email: victim.Email, Address: "198.51.100.7"}); v.RetryAfter != 0 {
			t.Fatalf("the same email from elsewhere: want let through, got %v", v.RetryAfter)
		}
		clock.advance(throttlePair.drain + time.Second)
		if v := tryLogin(t, a, victim); v.RetryAfter != 0 {
			t.Fatalf("after one drain interval: want one more try, got a wait of %v", v.RetryAfter)
		}
		if v, _ := a.Check(context.Background(), victim); v.RetryAfter == 0 {
			t.Fatal("and then refused again")
		}
		if err := b.Succeeded(context.Background(), victim); err != nil {
			t.Fatal(err)
		}
		if v, _ := a.Check(context.Background(), victim); v.RetryAfter != 0 {
			t.Fatalf("after a log-in on the other instance: want the pair forgotten, got a wait of %v", v.RetryAfter)
		}
	})
}

// Many addresses guessing one email slow it down everywhere, without refusing it;
// one /64 counts as one address.
func TestStoreThrottleSlowsAnEmailGuessedFromManyPlaces(t *testing.T) {
	forEachEngine(t, func(t *testing.T, database string) {
		clock := newTestClock()
		a := NewStoreLoginThrottle(openStoreAt(t, database), clock.now)
		b := NewStoreLoginThrottle(openStoreAt(t, database), clock.now)
		for i := range 12 {
			tryLogin(t, []LoginThrottle{a, b}[i%2], LoginAttempt{Email: "admin@acme.test", Address: fmt.Sprintf("198.51.100.%d", i+1)})
		}
		v, err := a.Check(context.Background(), LoginAttempt{Email: "admin@acme.test", Address: "192.0.2.50"})
		if err != nil {
			t.Fatal(err)
		}
		if v.RetryAfter != 0 || v.Delay <= 0 || v.Delay > emailDelayMax {
			t.Fatalf("an email guessed from 12 places: want a delay up to %v and no refusal, got %+v", emailDelayMax, v)
		}
		for i := range int(throttleAddress.burst) {
			tryLogin(t, b, LoginAttempt{Email: fmt.Sprintf("u%d@example.com", i), Address: fmt.Sprintf("2001:db8:1:2::%x", i+1)})
		}
		if v := tryLogin(t, a, LoginAttempt{Email: "other@example.com", Address: "2001:db8:1:2:ffff::1"}); v.RetryAfter == 0 {
			t.Fatal("addresses of one IPv6 /64 must count as one client address")
		}
	})
}
