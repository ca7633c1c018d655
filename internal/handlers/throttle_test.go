package handlers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// tryLogin is what the log-in handler does with the throttle for a wrong password:
// check, and report the failure only when the attempt was let through.
func tryLogin(t *testing.T, th LoginThrottle, a LoginAttempt) LoginVerdict {
	t.Helper()
	v, err := th.Check(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if v.RetryAfter == 0 {
		if err := th.Failed(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func TestThrottleJunkFromOneAddressCannotUnlockAnAccount(t *testing.T) {
	clock := newTestClock()
	th := newMemoryLoginThrottle(clock.now, 0)
	victim := LoginAttempt{Email: "owner@acme.test", Address: "203.0.113.9"}
	for range int(throttlePair.burst) {
		tryLogin(t, th, victim)
	}
	if v := tryLogin(t, th, victim); v.RetryAfter == 0 {
		t.Fatal("after five wrong passwords the pair must be refused")
	}
	// 100,000 junk log-ins from the same address, each with a new email: the old
	// throttle emptied itself at 100,000 keys, unlocking everyone.
	for i := range 100_000 {
		tryLogin(t, th, LoginAttempt{Email: fmt.Sprintf("junk%d@example.com", i), Address: victim.Address})
	}
	if v := tryLogin(t, th, victim); v.RetryAfter == 0 {
		t.Fatal("after 100,000 junk log-ins from the same address the account must still be refused there")
	}
	if n := th.size(); n > 3*int(throttleAddress.burst) {
		t.Errorf("junk from one address must create a handful of entries at most (refused attempts create none), got %d", n)
	}
}

func TestThrottleMemoryIsBoundedAndKeepsLockedKeys(t *testing.T) {
	clock := newTestClock()
	const capacity = 60
	th := newMemoryLoginThrottle(clock.now, capacity)
	victim := LoginAttempt{Email: "owner@acme.test", Address: "203.0.113.9"}
	for range int(throttlePair.burst) {
		tryLogin(t, th, victim)
	}
	// Junk from 10,000 different addresses, one failure each: none of them is over a
	// limit, so they are what gets evicted.
	for i := range 10_000 {
		tryLogin(t, th, LoginAttempt{Email: fmt.Sprintf("junk%d@example.com", i), Address: fmt.Sprintf("198.51.%d.%d", i/250, i%250)})
		if n := th.size(); n > capacity {
			t.Fatalf("the throttle must hold at most %d keys, holds %d", capacity, n)
		}
	}
	if v := tryLogin(t, th, victim); v.RetryAfter == 0 {
		t.Fatal("a locked key must never be evicted before it has drained")
	}
	// Once drained, it is let through again.
	clock.advance(time.Duration(throttlePair.burst) * throttlePair.drain)
	if v, _ := th.Check(context.Background(), victim); v.RetryAfter != 0 {
		t.Fatalf("after the pair drained: want a try allowed, got wait %v", v.RetryAfter)
	}
}

func TestThrottleFullOfLockedKeysRefusesNewcomers(t *testing.T) {
	clock := newTestClock()
	th := newMemoryLoginThrottle(clock.now, 3)
	a := LoginAttempt{Email: "a@example.com", Address: "203.0.113.1"}
	for range int(throttleAddress.burst) { // pair, address and email all over their limits
		th.Failed(context.Background(), a)
	}
	if v, _ := th.Check(context.Background(), LoginAttempt{Email: "b@example.com", Address: "203.0.113.2"}); v.RetryAfter == 0 {
		t.Fatal("with no key that may be evicted, a newcomer must be refused rather than go uncounted")
	}
}

func TestThrottleGroupsIPv6ByPrefix(t *testing.T) {
	th := newMemoryLoginThrottle(newTestClock().now, 0)
	for i := range int(throttleAddress.burst) {
		tryLogin(t, th, LoginAttempt{Email: fmt.Sprintf("u%d@example.com", i), Address: fmt.Sprintf("2001:db8:1:2::%x", i+1)})
	}
	if v := tryLogin(t, th, LoginAttempt{Email: "other@example.com", Address: "2001:db8:1:2:ffff::1"}); v.RetryAfter == 0 {
		t.Fatal("addresses of one IPv6 /64 must count as one client address")
	}
}

// postLogin posts the log-in form with the CSRF token of a fresh page.
func postLogin(b *webClient, email, password string, header map[string]string) (*http.Response, string) {
	b.t.Helper()
	return b.post("/login", url.Values{"_csrf": {b.csrf("/login")}, "email": {email}, "password": {password}}, header)
}

func TestLoginJunkOverHTTPCannotFlushTheThrottle(t *testing.T) {
	th := newMemoryLoginThrottle(nil, 64)
	env := newSecEnv(t, secOptions{throttle: th})
	attacker := env.browser()
	for range int(throttlePair.burst) {
		postLogin(attacker, "admin@acme.test", "guess", nil)
	}
	// Junk log-ins from the same address, five times the throttle's capacity: each a
	// new email (and a forged X-Forwarded-For, which is not believed).
	token := attacker.csrf("/login")
	for i := range 320 {
		attacker.post("/login", url.Values{"_csrf": {token}, "email": {fmt.Sprintf("junk%d@example.com", i)}, "password": {"x"}},
			map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i%250)})
		// Empty attempts cost the throttle nothing.
		attacker.post("/login", url.Values{"_csrf": {token}, "email": {""}, "password": {""}}, nil)
	}
	if n := th.size(); n > 3*int(throttleAddress.burst) {
		t.Errorf("junk from one address: want a handful of throttle entries, got %d", n)
	}
	resp, body := postLogin(attacker, "admin@acme.test", testPassword, nil)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed log-ins") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after the junk the pair must still be refused (429 with Retry-After), got %d", resp.StatusCode)
	}
}

func TestLoginThrottleCannotLockSomeoneOutFromElsewhere(t *testing.T) {
	var mu sync.Mutex
	var slept []time.Duration
	sleep := func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		slept = append(slept, d)
		return nil
	}
	_, proxy, _ := net.ParseCIDR("127.0.0.1/32")
	env := newSecEnv(t, secOptions{trusted: []*net.IPNet{proxy}, sleep: sleep})
	// Attackers behind the trusted proxy, from many addresses, guess the owner's
	// password: each address is stopped after five; the email only gets slower.
	attackers := env.browser()
	token := attackers.csrf("/login")
	for i := range 3 * int(throttlePair.burst) { // past the email's ten free failures
		addr := fmt.Sprintf("198.51.100.%d", i/int(throttlePair.burst)+1)
		attackers.post("/login", url.Values{"_csrf": {token}, "email": {"admin@acme.test"}, "password": {"guess"}},
			map[string]string{"X-Forwarded-For": addr})
	}
	resp, _ := attackers.post("/login", url.Values{"_csrf": {token}, "email": {"admin@acme.test"}, "password": {"guess"}},
		map[string]string{"X-Forwarded-For": "198.51.100.1"})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the sixth guess from one address: want 429, got %d", resp.StatusCode)
	}
	mu.Lock()
	slept = nil
	mu.Unlock()

	owner := env.browser()
	resp, _ = postLogin(owner, "admin@acme.test", testPassword, map[string]string{"X-Forwarded-For": "192.0.2.50"})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner from their own address, with the right password: want 303 (logged in), got %d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(slept) != 1 || slept[0] <= 0 || slept[0] > emailDelayMax {
		t.Errorf("a log-in for an email guessed from many places: want one wait up to %v, got %v", emailDelayMax, slept)
	}
}

func TestForwardedForIsIgnoredWithoutTrustedProxies(t *testing.T) {
	env := newSecEnv(t, secOptions{})
	b := env.browser()
	token := b.csrf("/login")
	for i := range int(throttlePair.burst) {
		b.post("/login", url.Values{"_csrf": {token}, "email": {"admin@acme.test"}, "password": {"guess"}},
			map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i+1)})
	}
	resp, _ := b.post("/login", url.Values{"_csrf": {token}, "email": {"admin@acme.test"}, "password": {testPassword}},
		map[string]string{"X-Forwarded-For": "198.51.100.99"})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a forged X-Forwarded-For from a client that is no trusted proxy must not dodge the throttle: want 429, got %d", resp.StatusCode)
	}
}
