package whatsapp

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Response headers in which Meta reports rate-limit usage.
const (
	HeaderBusinessUseCaseUsage = "X-Business-Use-Case-Usage"
	HeaderAppUsage             = "X-App-Usage"
)

// maxUsageWait caps a wait read from a header, so a garbled or hostile value can neither
// overflow time.Duration nor park a retry for months.
const maxUsageWait = 24 * time.Hour

// Usage is how much of its rate-limit budget the app has used, as Meta reports it in
// the X-App-Usage and X-Business-Use-Case-Usage response headers.
type Usage struct {
	// App is the X-App-Usage header; nil when the response had none.
	App *AppUsage
	// BusinessUseCases is the X-Business-Use-Case-Usage header, one entry per business
	// id and use-case type, ordered by business id.
	BusinessUseCases []BusinessUseCaseUsage
}

// AppUsage is the app-level usage, each figure a percentage of the allowed budget.
type AppUsage struct {
	CallCount    int64
	TotalTime    int64
	TotalCPUTime int64
}

// BusinessUseCaseUsage is the usage of one business (e.g. a WhatsApp Business Account)
// for one use case. Counts are percentages of the allowed budget.
type BusinessUseCaseUsage struct {
	BusinessID   string
	Type         string
	CallCount    int64
	TotalTime    int64
	TotalCPUTime int64
	// RegainAccessIn is Meta's estimated_time_to_regain_access (sent in minutes):
	// how long until calls for this business are accepted again. Zero when not limited.
	RegainAccessIn time.Duration
}

// ParseUsage reads the usage headers of a Graph API response. Missing or malformed
// headers give zero values, never an error: usage is advice, not data we depend on.
func ParseUsage(h http.Header) Usage {
	var u Usage
	if v := h.Get(HeaderAppUsage); v != "" {
		var raw struct {
			CallCount    flexInt64 `json:"call_count"`
			TotalTime    flexInt64 `json:"total_time"`
			TotalCPUTime flexInt64 `json:"total_cputime"`
		}
		if json.Unmarshal([]byte(v), &raw) == nil {
			u.App = &AppUsage{
				CallCount:    int64(raw.CallCount),
				TotalTime:    int64(raw.TotalTime),
				TotalCPUTime: int64(raw.TotalCPUTime),
			}
		}
	}
	if v := h.Get(HeaderBusinessUseCaseUsage); v != "" {
		var raw map[string][]struct {
			Type         string    `json:"type"`
			CallCount    flexInt64 `json:"call_count"`
			TotalTime    flexInt64 `json:"total_time"`
			TotalCPUTime flexInt64 `json:"total_cputime"`
			RegainAccess flexInt64 `json:"estimated_time_to_regain_access"`
		}
		if json.Unmarshal([]byte(v), &raw) == nil {
			ids := make([]string, 0, len(raw))
			for id := range raw {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				for _, e := range raw[id] {
					u.BusinessUseCases = append(u.BusinessUseCases, BusinessUseCaseUsage{
						BusinessID:     id,
						Type:           e.Type,
						CallCount:      int64(e.CallCount),
						TotalTime:      int64(e.TotalTime),
						TotalCPUTime:   int64(e.TotalCPUTime),
						RegainAccessIn: minutesToDuration(int64(e.RegainAccess)),
					})
				}
			}
		}
	}
	return u
}

// Wait is the longest time Meta estimates until access is regained, over all
// business use cases; zero when nothing is throttled.
func (u Usage) Wait() time.Duration {
	var wait time.Duration
	for _, b := range u.BusinessUseCases {
		wait = max(wait, b.RegainAccessIn)
	}
	return wait
}

// retryAfterFromHeaders is the wait a response asks for: the longer of the usage
// headers' estimated time to regain access and a standard Retry-After header.
func retryAfterFromHeaders(h http.Header) time.Duration {
	return max(ParseUsage(h).Wait(), parseRetryAfter(h.Get("Retry-After"), time.Now()))
}

// parseRetryAfter reads a Retry-After header value: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxUsageWait/time.Second) {
			return maxUsageWait
		}
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return clampWait(at.Sub(now))
	}
	return 0
}

func minutesToDuration(minutes int64) time.Duration {
	if minutes <= 0 {
		return 0
	}
	if minutes > int64(maxUsageWait/time.Minute) {
		return maxUsageWait
	}
	return time.Duration(minutes) * time.Minute
}

func clampWait(d time.Duration) time.Duration {
	return min(max(d, 0), maxUsageWait)
}

// Highest is the largest share of any budget the usage reports, in percent: Meta
// throttles when any of call count, CPU time or total time reaches 100.
func (b BusinessUseCaseUsage) Highest() int64 { return max(b.CallCount, b.TotalTime, b.TotalCPUTime) }

// Highest is the largest share of any app-level budget, in percent.
func (a AppUsage) Highest() int64 { return max(a.CallCount, a.TotalTime, a.TotalCPUTime) }

type usageReportKey struct{}

// WithUsageReport returns a context whose Graph calls report Meta's usage headers
// (X-App-Usage, X-Business-Use-Case-Usage) to fn, on every answer that carries any,
// successful or not; fn runs on the calling goroutine and must be quick. The health
// monitor uses it to slow down before Meta rate-limits
// (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
func WithUsageReport(ctx context.Context, fn func(Usage)) context.Context {
	return context.WithValue(ctx, usageReportKey{}, fn)
}

func reportUsage(ctx context.Context, h http.Header) {
	fn, ok := ctx.Value(usageReportKey{}).(func(Usage))
	if !ok || fn == nil || (h.Get(HeaderAppUsage) == "" && h.Get(HeaderBusinessUseCaseUsage) == "") {
		return
	}
	if u := ParseUsage(h); u.App != nil || len(u.BusinessUseCases) > 0 {
		fn(u)
	}
}
