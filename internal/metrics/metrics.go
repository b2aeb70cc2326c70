// Package metrics exposes tokenwarden's Prometheus metrics on a registry of
// its own (no global state): the worker's events, through refresh.Observer,
// and gauges read from the database at scrape time.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Metrics holds the registry and the worker's metrics. It implements
// refresh.Observer; its methods never block.
type Metrics struct {
	reg       *prometheus.Registry
	attempts  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	takeovers prometheus.Counter
	retries   prometheus.Counter
	failures  *prometheus.CounterVec
}

var _ refresh.Observer = (*Metrics)(nil)

// New returns Metrics on a fresh registry, which also carries the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenwarden_refresh_attempts_total",
			Help: "Finished refresh attempts by provider and outcome (success, transient, reauth, config, fenced).",
		}, []string{"provider", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tokenwarden_refresh_duration_seconds",
			Help:    "Duration of the provider's token request, by provider.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"provider"}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenwarden_lease_takeovers_total",
			Help: "Claims taken over from a worker whose lease ran out.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenwarden_store_retries_total",
			Help: "Failed stores of a result batch that were retried.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenwarden_refresh_failures_total",
			Help: "Stored refresh failures by provider and kind (transient, reauth, config).",
		}, []string{"provider", "kind"}),
	}
	m.reg.MustRegister(m.attempts, m.duration, m.takeovers, m.retries, m.failures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition format. A
// collector's error does not fail the scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Refreshed implements refresh.Observer.
func (m *Metrics) Refreshed(provider, outcome string, took time.Duration) {
	m.attempts.WithLabelValues(provider, outcome).Inc()
	m.duration.WithLabelValues(provider).Observe(took.Seconds())
}

// TakenOver implements refresh.Observer.
func (m *Metrics) TakenOver() { m.takeovers.Inc() }

// StoreRetried implements refresh.Observer.
func (m *Metrics) StoreRetried() { m.retries.Inc() }

// Failed implements refresh.Observer.
func (m *Metrics) Failed(ev refresh.FailureEvent) {
	kind := "transient"
	switch {
	case ev.Config:
		kind = "config"
	case ev.NeedsReauth:
		kind = "reauth"
	}
	m.failures.WithLabelValues(ev.Provider, kind).Inc()
}

// QuarantineCounter counts spool files set aside as unreadable;
// *spool.Spool is one.
type QuarantineCounter interface {
	Quarantined() int64
}

// WatchSpool exports src's count as tokenwarden_spool_quarantined_total.
// Any increase needs an operator: each such file may hold rotated tokens
// found nowhere else.
func (m *Metrics) WatchSpool(src QuarantineCounter) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "tokenwarden_spool_quarantined_total",
		Help: "Spool files that could not be read and were moved to TOKENS_SPOOL_DIR/quarantine/.",
	}, func() float64 { return float64(src.Quarantined()) }))
}

// StatsSource reads the table's gauges; *store.Store is one.
type StatsSource interface {
	Stats(ctx context.Context, before time.Duration) (*store.TableStats, error)
}

// WatchTable registers gauges read from src at every scrape: rows due now
// (before is TOKENS_REFRESH_BEFORE), seconds until the soonest expiry, and
// connections by status. A failed read yields no samples; it is logged
// once, and again only after a successful read.
func (m *Metrics) WatchTable(src StatsSource, before time.Duration, log *slog.Logger) {
	m.reg.MustRegister(&tableCollector{src: src, before: before, log: log, timeout: 5 * time.Second})
}

var (
	dueDesc = prometheus.NewDesc("tokenwarden_rows_due",
		"Rows due for refresh now (under TOKENS_REFRESH_BEFORE, not in backoff, not claimed).", nil, nil)
	soonestDesc = prometheus.NewDesc("tokenwarden_soonest_expiry_seconds",
		"Seconds until the soonest access-token expiry among active refreshable rows; negative if already expired.", nil, nil)
	connDesc = prometheus.NewDesc("tokenwarden_connections",
		"Connections by status.", []string{"status"}, nil)
)

type tableCollector struct {
	src     StatsSource
	before  time.Duration
	log     *slog.Logger
	timeout time.Duration

	mu      sync.Mutex
	failing bool
}

func (c *tableCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dueDesc
	ch <- soonestDesc
	ch <- connDesc
}

func (c *tableCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.src.Stats(ctx, c.before)
	c.mu.Lock()
	switch {
	case err != nil && !c.failing:
		c.log.Error("metrics: cannot read table stats; their gauges are left out until it works again", "err", err)
		c.failing = true
	case err == nil && c.failing:
		c.log.Info("metrics: table stats readable again")
		c.failing = false
	}
	c.mu.Unlock()
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(dueDesc, prometheus.GaugeValue, float64(st.Due))
	if st.SoonestExpiry != nil {
		ch <- prometheus.MustNewConstMetric(soonestDesc, prometheus.GaugeValue, st.SoonestExpiry.Seconds())
	}
	for status, n := range st.Connections {
		ch <- prometheus.MustNewConstMetric(connDesc, prometheus.GaugeValue, float64(n), status)
	}
}
