// Package bench measures the app's speed, scale and footprint side by side with a
// baseline in the same run, for `make bench` (cmd/benchreport writes docs/BENCHMARKS.md).
//
// Load comes from a closed-loop generator written here on net/http rather than a
// third-party tool: Conns workers each keep one keep-alive connection busy, sending the
// next request as soon as the previous answer is read, and every latency is recorded,
// so requests/s, p50 and p99 come from the full sample, not from estimates. It runs in
// the same process as the server under test, so both share the machine's cores; that
// costs the target and its baseline alike, which is why every figure is read as a ratio
// against a baseline measured in the same run, alternating rounds.
package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Load describes one load run: closed-loop, or paced when Rate is set.
type Load struct {
	// Conns is the number of concurrent connections (workers).
	Conns int
	// Rate, when set, paces the load at that many requests per second in all, spread
	// evenly over the workers (open loop): each request has its planned send time, and
	// its latency counts from that time, so a server that falls behind is charged for
	// the wait of the requests queued behind it (no coordinated omission). A worker
	// still has one request in flight at most, so Conns bounds the rate reached.
	Rate float64
	// Duration is how long requests are measured, after Warmup.
	Duration time.Duration
	// Warmup runs the same load unmeasured first (connections, caches).
	Warmup time.Duration
	// Request builds worker w's i-th request.
	Request func(w, i int) *http.Request
	// OK says whether a response counts as a success; default: status 200.
	OK func(status int) bool
}

// Result is what one or more load runs measured.
type Result struct {
	Requests  int
	Failures  int // non-OK statuses and transport errors
	Elapsed   time.Duration
	latencies []time.Duration // sorted
	statuses  map[int]int
	firstErr  string
}

// RPS is successful and failed requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Percentile returns the p-th percentile latency (0 < p <= 100), nearest rank.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.latencies))*p/100+0.5) - 1
	return r.latencies[min(max(i, 0), len(r.latencies)-1)]
}

// Statuses is how many answers each HTTP status got (0: transport error).
func (r Result) Statuses() map[int]int { return r.statuses }

// FirstError describes the first failure seen, for messages.
func (r Result) FirstError() string { return r.firstErr }

// Merge pools two results (alternating rounds of the same target).
func (r Result) Merge(o Result) Result {
	out := Result{Requests: r.Requests + o.Requests, Failures: r.Failures + o.Failures, Elapsed: r.Elapsed + o.Elapsed,
		statuses: map[int]int{}, firstErr: r.firstErr}
	if out.firstErr == "" {
		out.firstErr = o.firstErr
	}
	for k, v := range r.statuses {
		out.statuses[k] += v
	}
	for k, v := range o.statuses {
		out.statuses[k] += v
	}
	out.latencies = append(append(make([]time.Duration, 0, len(r.latencies)+len(o.latencies)), r.latencies...), o.latencies...)
	slices.Sort(out.latencies)
	return out
}

// NewLoopbackClient is an HTTP client that keeps conns keep-alive connections open to
// one host and never follows redirects.
func NewLoopbackClient(conns int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Run applies the load and measures it.
func (l Load) Run(ctx context.Context) Result {
	client := NewLoopbackClient(l.Conns)
	defer client.CloseIdleConnections()
	ok := l.OK
	if ok == nil {
		ok = func(status int) bool { return status == http.StatusOK }
	}
	if l.Warmup > 0 {
		l.loop(ctx, client, ok, l.Warmup, false)
	}
	return l.loop(ctx, client, ok, l.Duration, true)
}

func (l Load) loop(ctx context.Context, client *http.Client, ok func(int) bool, d time.Duration, record bool) Result {
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		statuses = map[int]int{}
		failures int
		firstErr string
	)
	start := time.Now()
	// Paced: worker w sends its i-th request at start + (w + i*Conns)/Rate.
	var every time.Duration
	if l.Rate > 0 {
		every = time.Duration(float64(time.Second) / l.Rate)
	}
	for w := range l.Conns {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			st := map[int]int{}
			fails := 0
			errText := ""
			for i := 0; !stop.Load() && ctx.Err() == nil; i++ {
				req := l.Request(w, i).WithContext(ctx)
				t0 := time.Now()
				if every > 0 {
					planned := start.Add(every * time.Duration(w+i*l.Conns))
					if wait := time.Until(planned); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
						}
					}
					if stop.Load() {
						break
					}
					t0 = planned
				}
				resp, err := client.Do(req)
				status := 0
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				took := time.Since(t0)
				if stop.Load() && record {
					break // answered after the window closed: not part of the measurement
				}
				lat = append(lat, took)
				st[status]++
				if err != nil || !ok(status) {
					fails++
					if errText == "" {
						errText = fmt.Sprintf("%s %s: status %d, error %v", req.Method, req.URL.Path, status, err)
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			all = append(all, lat...)
			for k, v := range st {
				statuses[k] += v
			}
			failures += fails
			if firstErr == "" {
				firstErr = errText
			}
		})
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	stop.Store(true)
	elapsed := time.Since(start)
	wg.Wait()
	if !record {
		return Result{}
	}
	slices.Sort(all)
	return Result{Requests: len(all), Failures: failures, Elapsed: elapsed, latencies: all, statuses: statuses, firstErr: firstErr}
}

// Compare runs the target and its baseline in alternating rounds (baseline first) and
// pools each side's rounds, so slow drift of the machine hits both alike.
func Compare(ctx context.Context, rounds int, baseline, target Load) (base, tgt Result) {
	for r := range max(rounds, 1) {
		b := baseline.Run(ctx)
		t := target.Run(ctx)
		if r == 0 {
			base, tgt = b, t
			continue
		}
		base, tgt = base.Merge(b), tgt.Merge(t)
	}
	return base, tgt
}
