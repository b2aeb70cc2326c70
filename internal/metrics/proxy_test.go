package metrics_test

import (
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/metrics"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// The connection label is bounded: past the first names, connections
// share "_other", and requests tied to none are "_unknown".
func TestProxyConnectionLabelIsBounded(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	p := m.Proxy(2)
	for _, name := range []string{"a", "b", "c", "a", "d"} {
		p.ProxyStarted()
		p.ProxyFinished(name, "2xx", time.Millisecond)
	}
	p.ProxyStarted()
	p.ProxyFinished("", "refused", time.Millisecond)
	p.ProxyStarted() // still in flight at the scrape
	s := testutil.Scrape(t, m.Handler())
	want := map[string]float64{
		`tokenwarden_proxy_requests_total{code_class="2xx",connection="a"}`:            2,
		`tokenwarden_proxy_requests_total{code_class="2xx",connection="b"}`:            1,
		`tokenwarden_proxy_requests_total{code_class="2xx",connection="_other"}`:       2,
		`tokenwarden_proxy_requests_total{code_class="refused",connection="_unknown"}`: 1,
		`tokenwarden_proxy_request_duration_seconds_count{code_class="2xx"}`:           5,
		`tokenwarden_proxy_requests_in_flight`:                                         1,
	}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("%s = %v, want %v", k, s[k], v)
		}
	}
	for k := range s {
		if k == `tokenwarden_proxy_requests_total{code_class="2xx",connection="c"}` || k == `tokenwarden_proxy_requests_total{code_class="2xx",connection="d"}` {
			t.Errorf("%s: a connection beyond the bound has its own series", k)
		}
	}
}
