package handlers

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// LoginThrottle slows password guessing down. The log-in handler asks Check before it
// looks at the password, and reports the outcome with Failed or Succeeded; attempts
// Check refuses, and empty or malformed ones, are never reported, so they cost the
// throttle nothing. The server keeps it in memory (memoryLoginThrottle); a store that
// several servers share (PostgreSQL, issue 16) implements the same three methods.
type LoginThrottle interface {
	// Check says whether the attempt may go ahead, and how long it must wait first.
	Check(ctx context.Context, a LoginAttempt) (LoginVerdict, error)
	// Failed records a wrong email or password.
	Failed(ctx context.Context, a LoginAttempt) error
	// Succeeded records a log-in: the failures from that address for that email are
	// forgotten.
	Succeeded(ctx context.Context, a LoginAttempt) error
}

// LoginAttempt is who tries to log in, and from where.
type LoginAttempt struct {
	// Email as typed; compared case-insensitively.
	Email string
	// Address is the client's address (the connection's, or the one a trusted proxy
	// reports).
	Address string
}

// LoginVerdict is what Check decided.
type LoginVerdict struct {
	// RetryAfter, when above zero, refuses the attempt without checking the password:
	// too many failures from this address (for this email, or for any).
	RetryAfter time.Duration
	// Delay is how long to wait before checking the password: the email has failed
	// from many places lately. The right password still logs in, so nobody elsewhere
	// can lock a chosen person out; guessing just gets slow.
	Delay time.Duration
}

// The throttle's rules. Each key counts failures that drain away at a steady rate (a
// leaky bucket): a key is over its limit while more than `burst-1` failures are
// outstanding.
var (
	// Per (email, address): five tries, then one every 30 s.
	throttlePair = throttleRule{burst: 5, drain: 30 * time.Second}
	// Per address, whatever the email: guessing many accounts from one place, or
	// junk meant to fill the throttle's memory. Generous enough for an office behind
	// one address.
	throttleAddress = throttleRule{burst: 20, drain: 10 * time.Second}
	// Per email, from anywhere: no refusal, but past ten failures each attempt waits
	// 250 ms, doubling per failure up to 4 s.
	throttleEmail = throttleRule{burst: 10, drain: 30 * time.Second}
)

const (
	emailDelayBase = 250 * time.Millisecond
	emailDelayMax  = 4 * time.Second
	// loginThrottleMaxEntries bounds the throttle's memory (about 200 bytes each).
	loginThrottleMaxEntries = 100_000
	// throttleFullRetry is the wait told to a newcomer while every entry is over its
	// limit and none can be evicted (see memoryLoginThrottle).
	throttleFullRetry = 30 * time.Second
)

type throttleRule struct {
	burst float64
	drain time.Duration
}

// memoryLoginThrottle is the LoginThrottle held in this process's memory.
//
// Its memory is bounded by maxEntries. When a failure needs a new entry and the table
// is full, the entry updated longest ago that is not over its limit is evicted: an
// entry that has drained to nothing first costs nothing, and a key that is refusing
// (or slowing) attempts is never forgotten before it has drained. Junk cannot push one
// out either: one address can create only a handful of entries before its own address
// key refuses it, and refused attempts create none. If every entry is over its limit,
// attempts needing a new entry are refused until one drains (fail closed).
type memoryLoginThrottle struct {
	mu         sync.Mutex
	now        func() time.Time
	maxEntries int
	entries    map[string]*list.Element // of *throttleEntry
	order      *list.List               // least recently updated first
}

type throttleEntry struct {
	key   string
	rule  throttleRule
	level float64 // outstanding failures at `at`
	at    time.Time
}

// levelAt is the failures still outstanding at now.
func (e *throttleEntry) levelAt(now time.Time) float64 {
	return max(0, e.level-float64(now.Sub(e.at))/float64(e.rule.drain))
}

// overLimit reports whether the key refuses (pair, address) or slows (email) attempts.
func (e *throttleEntry) overLimit(now time.Time) bool { return e.levelAt(now) > e.rule.burst-1 }

// wait is how long until the key stops being over its limit.
func (e *throttleEntry) wait(now time.Time) time.Duration {
	excess := e.levelAt(now) - (e.rule.burst - 1)
	if excess <= 0 {
		return 0
	}
	return time.Duration(excess * float64(e.rule.drain))
}

// NewMemoryLoginThrottle returns the in-memory throttle holding at most maxEntries
// keys (0: loginThrottleMaxEntries). now nil means time.Now.
func NewMemoryLoginThrottle(now func() time.Time, maxEntries int) LoginThrottle {
	return newMemoryLoginThrottle(now, maxEntries)
}

func newMemoryLoginThrottle(now func() time.Time, maxEntries int) *memoryLoginThrottle {
	if now == nil {
		now = time.Now
	}
	if maxEntries <= 0 {
		maxEntries = loginThrottleMaxEntries
	}
	return &memoryLoginThrottle{now: now, maxEntries: maxEntries, entries: map[string]*list.Element{}, order: list.New()}
}

// throttleKeys are the keys an attempt counts against, in the order of the rules.
type throttleKeys struct{ pair, address, email string }

func keysOf(a LoginAttempt) throttleKeys {
	email := strings.ToLower(strings.TrimSpace(a.Email))
	address := throttleAddressKey(a.Address)
	return throttleKeys{pair: "p\x00" + email + "\x00" + address, address: "a\x00" + address, email: "e\x00" + email}
}

// throttleAddressKey groups IPv6 clients by /64, the block one subscriber is usually
// given: otherwise each of its 2^64 addresses would get five fresh tries.
func throttleAddressKey(address string) string {
	ip := net.ParseIP(address)
	if ip == nil || ip.To4() != nil {
		return address
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

func (t *memoryLoginThrottle) Check(_ context.Context, a LoginAttempt) (LoginVerdict, error) {
	k := keysOf(a)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var v LoginVerdict
	missing := false
	for _, key := range []string{k.pair, k.address} {
		if el, ok := t.entries[key]; ok {
			v.RetryAfter = max(v.RetryAfter, el.Value.(*throttleEntry).wait(now))
		} else {
			missing = true
		}
	}
	if el, ok := t.entries[k.email]; ok {
		v.Delay = emailDelay(el.Value.(*throttleEntry).levelAt(now))
	} else {
		missing = true
	}
	if v.RetryAfter == 0 && missing && len(t.entries) >= t.maxEntries && !t.canEvict(now) {
		v.RetryAfter = throttleFullRetry
	}
	return v, nil
}

// emailDelay is the wait before checking a password for an email with level failures
// outstanding.
func emailDelay(level float64) time.Duration {
	excess := level - (throttleEmail.burst - 1)
	if excess <= 0 {
		return 0
	}
	d := time.Duration(float64(emailDelayBase) * math.Pow(2, math.Ceil(excess)-1))
	return min(d, emailDelayMax)
}

func (t *memoryLoginThrottle) Failed(_ context.Context, a LoginAttempt) error {
	k := keysOf(a)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.add(k.pair, throttlePair, now)
	t.add(k.address, throttleAddress, now)
	t.add(k.email, throttleEmail, now)
	return nil
}

func (t *memoryLoginThrottle) Succeeded(_ context.Context, a LoginAttempt) error {
	k := keysOf(a)
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.entries[k.pair]; ok {
		t.order.Remove(el)
		delete(t.entries, k.pair)
	}
	return nil
}

// add counts one failure against key, making room for a new entry if needed.
func (t *memoryLoginThrottle) add(key string, rule throttleRule, now time.Time) {
	if el, ok := t.entries[key]; ok {
		e := el.Value.(*throttleEntry)
		e.level, e.at = e.levelAt(now)+1, now
		t.order.MoveToBack(el)
		return
	}
	if len(t.entries) >= t.maxEntries && !t.evict(now) {
		return // every entry is over its limit: Check refuses newcomers meanwhile
	}
	t.entries[key] = t.order.PushBack(&throttleEntry{key: key, rule: rule, level: 1, at: now})
}

// evict removes the entry updated longest ago that is not over its limit, preferring
// one that has drained completely; false when every entry is over its limit.
func (t *memoryLoginThrottle) evict(now time.Time) bool {
	var victim *list.Element
	for el := t.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*throttleEntry)
		if e.levelAt(now) == 0 {
			victim = el
			break
		}
		if victim == nil && !e.overLimit(now) {
			victim = el
		}
	}
	if victim == nil {
		return false
	}
	delete(t.entries, victim.Value.(*throttleEntry).key)
	t.order.Remove(victim)
	return true
}

// canEvict reports whether evict would find an entry.
func (t *memoryLoginThrottle) canEvict(now time.Time) bool {
	for el := t.order.Front(); el != nil; el = el.Next() {
		if !el.Value.(*throttleEntry).overLimit(now) {
			return true
		}
	}
	return false
}

// size is the number of keys held (tests).
func (t *memoryLoginThrottle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// storeLoginThrottle is the LoginThrottle kept in the database, for instances behind
// one load balancer: a guess counts against the same keys whichever instance it
// reaches. The rules and their arithmetic are memoryLoginThrottle's; the database
// bounds nothing itself, so drained keys are deleted as failures come in (db.ThrottleFail).
type storeLoginThrottle struct {
	store *db.Store
	now   func() time.Time
}

// NewStoreLoginThrottle returns the throttle kept in store (now nil: time.Now). The
// server uses it on PostgreSQL, where several instances share the store.
func NewStoreLoginThrottle(store *db.Store, now func() time.Time) LoginThrottle {
	if now == nil {
		now = time.Now
	}
	return &storeLoginThrottle{store: store, now: now}
}

// storeKeys are an attempt's keys as stored: SHA-256, hex. The keys hold NUL bytes,
// which PostgreSQL's text refuses, and the emails people (and guessers) typed, which
// the table need not keep.
func storeKeys(a LoginAttempt) throttleKeys {
	k := keysOf(a)
	h := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	return throttleKeys{pair: h(k.pair), address: h(k.address), email: h(k.email)}
}

func (t *storeLoginThrottle) Check(ctx context.Context, a LoginAttempt) (LoginVerdict, error) {
	k := storeKeys(a)
	counts, err := t.store.ThrottleCounts(ctx, []string{k.pair, k.address, k.email})
	if err != nil {
		return LoginVerdict{}, err
	}
	now := t.now()
	entry := func(key string, rule throttleRule) *throttleEntry {
		c, ok := counts[key]
		if !ok {
			return &throttleEntry{key: key, rule: rule, at: now}
		}
		return &throttleEntry{key: key, rule: rule, level: c.Level, at: c.At}
	}
	var v LoginVerdict
	v.RetryAfter = max(entry(k.pair, throttlePair).wait(now), entry(k.address, throttleAddress).wait(now))
	v.Delay = emailDelay(entry(k.email, throttleEmail).levelAt(now))
	return v, nil
}

func (t *storeLoginThrottle) Failed(ctx context.Context, a LoginAttempt) error {
	k := storeKeys(a)
	return t.store.ThrottleFail(ctx, t.now(), map[string]time.Duration{
		k.pair: throttlePair.drain, k.address: throttleAddress.drain, k.email: throttleEmail.drain})
}

func (t *storeLoginThrottle) Succeeded(ctx context.Context, a LoginAttempt) error {
	return t.store.ThrottleForget(ctx, storeKeys(a).pair)
}
