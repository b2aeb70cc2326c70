package metrics_test

import (
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/metrics"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// A refused configuration is counted as config, apart from dead grants, so
// that an alert on reauth does not fire for a typo in a token URL and one
// on config can.
func TestConfigRefusalIsCountedAsConfig(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.Refreshed("oauth2", "config", time.Millisecond)
	m.Failed(refresh.FailureEvent{Name: "a", Provider: "oauth2", NeedsReauth: true, Config: true, Failures: 1})
	m.Failed(refresh.FailureEvent{Name: "b", Provider: "oauth2", NeedsReauth: true, Failures: 1})
	s := testutil.Scrape(t, m.Handler())
	if s[`tokenwarden_refresh_failures_total{kind="config",provider="oauth2"}`] != 1 ||
		s[`tokenwarden_refresh_failures_total{kind="reauth",provider="oauth2"}`] != 1 ||
		s[`tokenwarden_refresh_attempts_total{outcome="config",provider="oauth2"}`] != 1 {
		t.Fatalf("samples: %v", s)
	}
}
