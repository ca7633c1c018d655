package main

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/netutil"
)

// connLimiter caps the connections the server holds at once (MAX_CONNECTIONS) and
// keeps room in the cap for real requests.
//
// The cap is netutil.LimitListener's: past it, new connections wait in the kernel's
// accept queue and hold no file descriptor of this process, so a flood of sockets
// cannot use up the descriptors the database and Graph API calls need. A cap alone
// would let max silent sockets hold every slot until ReadHeaderTimeout, with /healthz
// and everyone else queued behind them; so when a new connection fills the last slot,
// the connection idle the longest — connected without sending a request yet, or kept
// alive between requests — is closed to make room. A connection in the middle of a
// request is never closed.
type connLimiter struct {
	max int
	now func() time.Time

	mu   sync.Mutex
	open int
	idle map[net.Conn]time.Time // connections not serving a request, and since when
}

// limitConnections wraps ln with the cap; pass the limiter's track to
// http.Server.ConnState.
func limitConnections(ln net.Listener, max int) (net.Listener, *connLimiter) {
	return netutil.LimitListener(ln, max), &connLimiter{max: max, now: time.Now, idle: map[net.Conn]time.Time{}}
}

// track follows each connection's state (http.Server.ConnState).
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	var shed net.Conn
	l.mu.Lock()
	switch state {
	case http.StateNew:
		l.open++
		l.idle[c] = l.now()
		if l.open >= l.max {
			shed = l.longestIdle(c)
		}
	case http.StateActive:
		delete(l.idle, c)
	case http.StateIdle:
		l.idle[c] = l.now()
	case http.StateHijacked, http.StateClosed:
		delete(l.idle, c)
		l.open--
	}
	l.mu.Unlock()
	if shed != nil {
		shed.Close() // its StateClosed frees the slot
	}
}

// longestIdle picks the connection idle the longest, other than except (nil if none).
func (l *connLimiter) longestIdle(except net.Conn) net.Conn {
	var oldest net.Conn
	var since time.Time
	for c, t := range l.idle {
		if c != except && (oldest == nil || t.Before(since)) {
			oldest, since = c, t
		}
	}
	if oldest != nil {
		delete(l.idle, oldest) // closed once, even if track runs again before StateClosed
	}
	return oldest
}
