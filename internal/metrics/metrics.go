// Package metrics is what operators scrape at GET /metrics (Prometheus text format):
// one registry per server, passed to what it measures, so parallel tests each have
// their own and nothing is global.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// StatusCounts reads how many inboxes each account has in each overall status.
type StatusCounts func(ctx context.Context) (map[int64]map[string]int, error)

// Metrics holds the server's series. The zero value is not usable; build it with New.
type Metrics struct {
	registry          *prometheus.Registry
	graphCalls        *prometheus.CounterVec
	graphLatency      *prometheus.HistogramVec
	registerCalls     *prometheus.CounterVec
	sweeps            *prometheus.CounterVec
	sweepDuration     prometheus.Histogram
	sweepLastSuccess  prometheus.Gauge
	webhookEvents     *prometheus.CounterVec
	rateLimitHoldOffs prometheus.Counter
	alertDeliveries   *prometheus.CounterVec
	dbWriteLatency    *prometheus.HistogramVec
}

// New builds the registry with every series; counts, when set, is read at each scrape
// for the inboxes-by-status gauge.
func New(counts StatusCounts, logger *slog.Logger) *Metrics {
	if logger == nil {
		logger = slog.Default()
	}
	r := prometheus.NewRegistry()
	m := &Metrics{
		registry: r,
		graphCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inboxhealth_graph_calls_total",
			Help: "Graph API calls by endpoint and outcome (ok, or the error kind)."}, []string{"endpoint", "outcome"}),
		graphLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "inboxhealth_graph_call_duration_seconds",
			Help: "Graph API call latency by endpoint, retries included.", Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30}},
			[]string{"endpoint"}),
		registerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inboxhealth_register_calls_total",
			Help: "POST /{phone-number-id}/register calls by outcome (ok, or the error kind)."}, []string{"outcome"}),
		sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inboxhealth_sweeps_total",
			Help: "Health sweeps by outcome (ok, failed)."}, []string{"outcome"}),
		sweepDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "inboxhealth_sweep_duration_seconds",
			Help: "How long one health sweep of every inbox took.", Buckets: []float64{.1, .5, 1, 5, 15, 30, 60, 120, 300, 900}}),
		sweepLastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "inboxhealth_sweep_last_success_timestamp_seconds",
			Help: "When the last health sweep that stored its results finished (unix seconds; 0: none yet)."}),
		webhookEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inboxhealth_webhook_events_total",
			Help: "Webhook changes received from Meta by field and outcome (applied, unchanged, duplicate, unrouted)."}, []string{"field", "outcome"}),
		rateLimitHoldOffs: prometheus.NewCounter(prometheus.CounterOpts{Name: "inboxhealth_rate_limit_holdoffs_total",
			Help: "Times Meta's rate limit stopped Graph calls about a business account."}),
		alertDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inboxhealth_alert_deliveries_total",
			Help: "Alert delivery attempts by channel (email, slack, webhook) and outcome (delivered, failed, gave_up)."}, []string{"channel", "outcome"}),
		dbWriteLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "inboxhealth_sqlite_write_duration_seconds",
			Help:    "SQLite write latency (waiting for the single writer included) by what was written.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, []string{"op"}),
	}
	r.MustRegister(m.graphCalls, m.graphLatency, m.registerCalls, m.sweeps, m.sweepDuration, m.sweepLastSuccess,
		m.webhookEvents, m.rateLimitHoldOffs, m.alertDeliveries, m.dbWriteLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if counts != nil {
		r.MustRegister(&statusCollector{counts: counts, log: logger})
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Registry is the registry the series live in (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// SweepDone records one sweep (health.MonitorOptions.OnSweepDone).
func (m *Metrics) SweepDone(_ health.SweepStats, took time.Duration, err error) {
	m.sweepDuration.Observe(took.Seconds())
	if err != nil {
		m.sweeps.WithLabelValues("failed").Inc()
		return
	}
	m.sweeps.WithLabelValues("ok").Inc()
	m.sweepLastSuccess.SetToCurrentTime()
}

// WebhookEvent counts one webhook change received.
func (m *Metrics) WebhookEvent(field, outcome string) {
	m.webhookEvents.WithLabelValues(field, outcome).Inc()
}

// RateLimitHoldOff counts one hold-off (health.Options.OnRateLimitHoldOff).
func (m *Metrics) RateLimitHoldOff(string) { m.rateLimitHoldOffs.Inc() }

// AlertDelivery counts one alert delivery attempt (alerts.DispatcherOptions.OnDelivery).
func (m *Metrics) AlertDelivery(channel, outcome string) {
	m.alertDeliveries.WithLabelValues(channel, outcome).Inc()
}

// DBWrite records one SQLite write (db.Store.SetWriteObserver).
func (m *Metrics) DBWrite(op string, d time.Duration) {
	m.dbWriteLatency.WithLabelValues(op).Observe(d.Seconds())
}

// statusCollector reads inboxes by overall status at each scrape: per account, no
// per-inbox labels, so the series count stays small whatever the number of inboxes.
type statusCollector struct {
	counts StatusCounts
	log    *slog.Logger
}

var inboxesDesc = prometheus.NewDesc("inboxhealth_inboxes", "Inboxes by account and overall status (from each inbox's latest health).",
	[]string{"account_id", "status"}, nil)

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- inboxesDesc }

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.counts(ctx)
	if err != nil {
		c.log.Error("metrics: count inboxes by status", "error", err)
		ch <- prometheus.NewInvalidMetric(inboxesDesc, err)
		return
	}
	for account, byStatus := range counts {
		for status, n := range byStatus {
			ch <- prometheus.MustNewConstMetric(inboxesDesc, prometheus.GaugeValue, float64(n), strconv.FormatInt(account, 10), status)
		}
	}
}

// outcomeOf is a call's outcome label: ok, or the error's kind.
func outcomeOf(err error) string {
	if err == nil {
		return "ok"
	}
	if k := whatsapp.KindOf(err); k != whatsapp.KindNone {
		return string(k)
	}
	return string(whatsapp.KindUnknown)
}

// StoreStatusCounts counts inboxes by account and overall status as each inbox's
// newest snapshot set it (an inbox never checked counts as unknown), from the inboxes'
// stored status: a scrape reads one index, not every inbox and snapshot.
func StoreStatusCounts(store *db.Store) StatusCounts {
	return store.StatusCountsByAccount
}
