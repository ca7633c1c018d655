package db

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// CacheTTL is how long the Store keeps a row it read (or wrote) in memory before it
// reads it again: the longest a change made by another process (`web user add` while
// the server runs, a second server on the same file) takes to show. The Store's own
// writes show at once: each write updates or drops the entries it touches.
//
// What is cached, and when each entry is dropped or replaced:
//
//   - users by API-token hash and by id, memberships by (user, account) and by user:
//     all dropped by every method that changes users, passwords, tokens, roles or
//     memberships (AddUser, SetPassword, RotateAPIToken, AddMember, UpdateMember,
//     RemoveMember, NewOneTimePassword), so a removed or demoted member's next
//     request already sees the change. Inbox assignments (inbox_members) are never
//     cached;
//   - sessions are never cached: an ended session must end at once, in every process;
//   - inboxes by id: dropped by every method that writes an inbox row;
//   - each inbox's newest snapshot, once read: replaced by AddSnapshot after commit
//     when the new snapshot is the newest (pruning always keeps the newest, so it drops
//     nothing). A sweep's snapshots of inboxes nobody reads are not added: 10,000
//     decoded snapshots would hold ~20 MiB for nothing;
//   - each inbox's newest health changes (as last asked for, with its limit): dropped
//     by AddSnapshot when it records a change, all dropped when pruning deletes any;
//   - the inbox ids of each business account, and the inbox id of each phone number
//     (the per-number webhook callback's lookup): all dropped by CreateInbox,
//     EditInbox and DeleteInbox;
//   - each business account's last account-level webhook event, and each inbox's
//     recent webhook events: dropped by AddWebhookEvent for the event's business
//     account and inbox (all inboxes' lists when the event names no inbox).
//
// Registration attempts and register-call counts are not cached: the registrar
// decides from them whether Meta may be called, and another process's attempt must
// count at once.
//
// Misses (ErrNotFound) are never cached, so a row another process creates shows at
// once. Secrets are never cached. Reads hand out copies: a caller changing what it got
// cannot change what the next caller gets.
const CacheTTL = 5 * time.Second

// maxCacheEntries bounds each cache; past it the cache is emptied and refills with what
// is read next (a fleet of 10,000 inboxes fits many times over). Expired entries are
// also swept out, at most once a TTL, when an entry is stored.
const maxCacheEntries = 50_000

// ttlCache is a map whose entries expire between ttl/2 and ttl after they were stored.
// The spread is for a server under load: entries filled together (the first views after
// start-up, a page that reads many inboxes) would otherwise all expire at once, and
// every request in the next few milliseconds would go to the database together — a
// burst measured as the health API's p99 tail (docs/BENCHMARKS.md, row 1). Spread over
// half a TTL, the refills arrive as a trickle. No entry outlives ttl, so CacheTTL stays
// the longest another process's change takes to show.
//
// A read that misses loads from the database and then fills the cache; a write that
// happened in between must win, or the fill would put back the old row for a whole
// TTL. So fills carry the generation read before the load (gen), and every change
// (put, drop, clear) moves the generation on: a fill that raced a change is dropped.
type ttlCache[K comparable, V any] struct {
	mu        sync.RWMutex
	ttl       time.Duration
	gen       uint64
	entries   map[K]ttlEntry[V]
	lastSweep time.Time
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[K comparable, V any](ttl time.Duration) *ttlCache[K, V] {
	return &ttlCache[K, V]{ttl: ttl, entries: map[K]ttlEntry[V]{}}
}

// get returns the entry for k unless it has expired at now, and the generation to pass
// to fill after a miss.
func (c *ttlCache[K, V]) get(k K, now time.Time) (v V, ok bool, gen uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, found := c.entries[k]
	if found && now.Before(e.expires) {
		return e.v, true, c.gen
	}
	return v, false, c.gen
}

// generation is what get returns as gen, for a fill of several keys after one read.
func (c *ttlCache[K, V]) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// fill stores what a read loaded, unless the cache changed since get returned gen.
func (c *ttlCache[K, V]) fill(k K, v V, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.store(k, v, now)
	}
}

// put stores what this process wrote. keep, when set, decides from the current entry
// (expired or not) whether v replaces it; ifCached stores v only over an entry.
func (c *ttlCache[K, V]) put(k K, v V, now time.Time, ifCached bool, keep func(old V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	e, found := c.entries[k]
	if ifCached && !found || found && keep != nil && !keep(e.v) {
		return
	}
	c.store(k, v, now)
}

func (c *ttlCache[K, V]) store(k K, v V, now time.Time) {
	if len(c.entries) >= maxCacheEntries {
		clear(c.entries)
	}
	if now.Sub(c.lastSweep) >= c.ttl {
		c.lastSweep = now
		for key, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, key)
			}
		}
	}
	c.entries[k] = ttlEntry[V]{v: v, expires: now.Add(c.lifetime())}
}

// lifetime is how long one stored entry lives (see ttlCache).
func (c *ttlCache[K, V]) lifetime() time.Duration { return SpreadLifetime(c.ttl) }

// SpreadLifetime is the lifetime of one cached entry under a cache whose entries may be
// at most ttl old: ttl less a random share of up to half of it, so that entries filled
// together expire spread over the TTL's second half rather than all at once (see
// ttlCache). Every read cache in front of the database uses it.
func SpreadLifetime(ttl time.Duration) time.Duration {
	if ttl < 2 {
		return ttl
	}
	return ttl - rand.N(ttl/2)
}

// drop forgets k.
func (c *ttlCache[K, V]) drop(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, k)
}

// clear forgets everything.
func (c *ttlCache[K, V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// caches are the Store's read caches (see CacheTTL for what each holds and when it
// changes).
type caches struct {
	userByToken *ttlCache[string, User] // by API-token hash
	userByID    *ttlCache[int64, User]
	membership  *ttlCache[[2]int64, Membership] // by (user, account)
	memberships *ttlCache[int64, []Membership]  // by user
	inbox       *ttlCache[int64, Inbox]
	snapshot    *ttlCache[int64, HealthSnapshot] // each inbox's newest
	changes     *ttlCache[int64, cachedChanges]
	// Webhook reads that pages and the health API make on every view.
	wabaInboxes  *ttlCache[string, []int64]         // inbox ids by WABA id
	phoneInbox   *ttlCache[string, int64]           // inbox id by phone number (E.164)
	lastEvent    *ttlCache[string, cachedLastEvent] // by WABA id
	recentEvents *ttlCache[int64, cachedEvents]     // by inbox id
}

// cachedLastEvent is one LastWebhookEventAt answer and the fields it was asked for.
type cachedLastEvent struct {
	fields string
	at     time.Time
}

// cachedEvents is one RecentWebhookEvents answer and what it was asked with.
type cachedEvents struct {
	wabaID string
	limit  int
	events []WebhookEvent
}

// cachedChanges is one HealthChanges answer and the limit it was asked with.
type cachedChanges struct {
	limit   int
	changes []HealthChange
}

func newCaches(ttl time.Duration) caches {
	return caches{
		userByToken:  newTTLCache[string, User](ttl),
		userByID:     newTTLCache[int64, User](ttl),
		membership:   newTTLCache[[2]int64, Membership](ttl),
		memberships:  newTTLCache[int64, []Membership](ttl),
		inbox:        newTTLCache[int64, Inbox](ttl),
		snapshot:     newTTLCache[int64, HealthSnapshot](ttl),
		changes:      newTTLCache[int64, cachedChanges](ttl),
		wabaInboxes:  newTTLCache[string, []int64](ttl),
		phoneInbox:   newTTLCache[string, int64](ttl),
		lastEvent:    newTTLCache[string, cachedLastEvent](ttl),
		recentEvents: newTTLCache[int64, cachedEvents](ttl),
	}
}

// inboxesMoved drops what maps a business account or a phone number to its inboxes:
// called by every write that adds or deletes an inbox or changes its number.
func (c *caches) inboxesMoved() {
	c.wabaInboxes.clear()
	c.phoneInbox.clear()
}

// usersChanged drops everything derived from users, tokens and memberships.
func (c *caches) usersChanged() {
	c.userByToken.clear()
	c.userByID.clear()
	c.membership.clear()
	c.memberships.clear()
}

// cloneInbox copies the time pointers, so the cached inbox cannot be changed through
// the copy handed out.
func cloneInbox(in Inbox) Inbox {
	in.RegistrationNextRetryAt = cloneTime(in.RegistrationNextRetryAt)
	in.WebhookSubscribedAt = cloneTime(in.WebhookSubscribedAt)
	in.NameChangeApprovedAt = cloneTime(in.NameChangeApprovedAt)
	in.WebhookAppsCheckedAt = cloneTime(in.WebhookAppsCheckedAt)
	in.MetaCheckedAt = cloneTime(in.MetaCheckedAt)
	return in
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// cloneSnapshot deep-copies a snapshot's phone number and business health (pointers
// and slices). Measured: far cheaper than decoding the stored JSON again on each read;
// TestCloneSnapshotCopiesEveryReference fails when a field it does not copy is added.
func cloneSnapshot(s HealthSnapshot) HealthSnapshot {
	if s.Phone != nil {
		p := *s.Phone
		p.HealthStatus = cloneHealthStatus(p.HealthStatus)
		if p.IsOnBizApp != nil {
			onBizApp := *p.IsOnBizApp
			p.IsOnBizApp = &onBizApp
		}
		if p.WebhookConfiguration != nil {
			wc := *p.WebhookConfiguration
			p.WebhookConfiguration = &wc
		}
		s.Phone = &p
	}
	s.BusinessHealth = cloneHealthStatus(s.BusinessHealth)
	return s
}

func cloneHealthStatus(h *whatsapp.HealthStatus) *whatsapp.HealthStatus {
	if h == nil {
		return nil
	}
	c := *h
	if h.Entities != nil {
		c.Entities = make([]whatsapp.HealthEntity, len(h.Entities))
		for i, e := range h.Entities {
			e.AdditionalInfo = slices.Clone(e.AdditionalInfo)
			e.Errors = slices.Clone(e.Errors)
			c.Entities[i] = e
		}
	}
	return &c
}
