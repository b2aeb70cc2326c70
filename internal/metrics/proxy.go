package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultProxyConnections is how many connection names the proxy's
// metrics label by default.
const DefaultProxyConnections = 1000

// The connection label of requests tied to no connection, and of the
// connections beyond the first maxNames.
const (
	unknownConnection = "_unknown"
	otherConnections  = "_other"
)

// Proxy counts the token-injecting proxy's requests; it implements
// proxy.Observer. Make it once per Metrics.
type Proxy struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge

	// Every distinct label value is a series Prometheus keeps for as long
	// as the process lives, so the connection label is bounded: the first
	// maxNames connections proxied to have their own, later ones share
	// "_other". Tenants come and go by the thousand in some deployments;
	// without the bound, each would cost every scrape and the TSDB
	// forever. The histogram has no connection label at all for the same
	// reason: it is a dozen series per label value.
	mu       sync.Mutex
	names    map[string]struct{}
	maxNames int
}

// Proxy registers the proxy's metrics and returns them; maxNames ≤ 0
// means DefaultProxyConnections.
func (m *Metrics) Proxy(maxNames int) *Proxy {
	if maxNames <= 0 {
		maxNames = DefaultProxyConnections
	}
	p := &Proxy{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenwarden_proxy_requests_total",
			Help: "Requests through the proxy by connection (the first " + strconv.Itoa(maxNames) + " names; later ones are \"_other\", none \"_unknown\") " +
				"and code_class: upstream's 1xx-5xx, or refused/error for the proxy's own answers.",
		}, []string{"connection", "code_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tokenwarden_proxy_request_duration_seconds",
			Help:    "Duration of proxied requests, the streamed bodies included, by code_class.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"code_class"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenwarden_proxy_requests_in_flight",
			Help: "Requests in the proxy now.",
		}),
		names:    map[string]struct{}{},
		maxNames: maxNames,
	}
	m.reg.MustRegister(p.requests, p.duration, p.inFlight)
	return p
}

// ProxyStarted implements proxy.Observer.
func (p *Proxy) ProxyStarted() { p.inFlight.Inc() }

// ProxyFinished implements proxy.Observer.
func (p *Proxy) ProxyFinished(name, outcome string, took time.Duration) {
	p.inFlight.Dec()
	p.requests.WithLabelValues(p.label(name), outcome).Inc()
	p.duration.WithLabelValues(outcome).Observe(took.Seconds())
}

// label is name's connection label under the bound.
func (p *Proxy) label(name string) string {
	if name == "" {
		return unknownConnection
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.names[name]; ok {
		return name
	}
	if len(p.names) >= p.maxNames {
		return otherConnections
	}
	p.names[name] = struct{}{}
	return name
}
