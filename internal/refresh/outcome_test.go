package refresh_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/metrics"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/internal/webhook"
	"github.com/tokenwarden/tokenwarden/pkg/model"
	wire "github.com/tokenwarden/tokenwarden/pkg/webhook"
)

// ORY Hydra's answer, verbatim, to one of two concurrent refreshes of a
// healthy token: it asks for a retry, and the connection must survive it.
const hydraConcurrent = `{"error":"invalid_request","error_description":"Failed to refresh token because of multiple concurrent requests using the same token. Please retry the request."}`

func TestHydraConcurrentRefreshKeepsTheConnection(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	e.insert(t, 0, "hydra")
	e.prov.FailNext(1, http.StatusBadRequest, hydraConcurrent, http.Header{"Content-Type": {"application/json"}})
	w := e.worker(refresh.Config{})

	if stats := pass(t, w); stats.Failed != 1 || stats.Reauth != 0 {
		t.Fatalf("stats = %+v, want one transient failure", stats)
	}
	r := e.row(t, "hydra")
	if r.Status != model.StatusActive || r.FailureCount != 1 || r.Updating || r.NextAttemptAt == nil ||
		r.NextAttemptAt.Before(time.Now().Add(4*time.Second)) || !strings.Contains(store.Str(r.LastError), "multiple concurrent requests") {
		t.Fatalf("after Hydra's answer: status=%s failures=%d next=%v last_error=%q", r.Status, r.FailureCount, r.NextAttemptAt, store.Str(r.LastError))
	}
	if r.RefreshToken.Reveal() != "rt-hydra" {
		t.Fatal("a failed refresh changed the refresh token")
	}
	evs, err := e.st.Events(t.Context(), "hydra", 10)
	if err != nil || len(evs) != 1 || evs[0].Outcome != "transient" {
		t.Fatalf("events = %+v, %v; want one transient", evs, err)
	}
	// The backoff runs out and the retry succeeds, as Hydra asked.
	e.exec(t, "UPDATE oauth_tokens SET next_attempt_at = now()")
	if stats := pass(t, w); stats.Refreshed != 1 {
		t.Fatalf("stats = %+v, want the retry to succeed", stats)
	}
	e.assertHoldsIssued(t, "hydra")
}

// hookSink records the webhook events it receives.
type hookSink struct {
	mu     sync.Mutex
	events []wire.Event
}

func (h *hookSink) ServeHTTP(_ http.ResponseWriter, r *http.Request) {
	var ev wire.Event
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &ev)
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.mu.Unlock()
}

func (h *hookSink) got() []wire.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]wire.Event(nil), h.events...)
}

// A connection refused at refresh time for its configuration (here, a
// token host outside TOKENS_ALLOWED_TOKEN_HOSTS) is taken out of rotation,
// and every report says configuration, not a dead refresh token: the
// last_error, the event, the log, the webhook and the metrics.
func TestConfigRefusalIsReportedAsConfiguration(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	e.insert(t, 0, "misconfigured")

	sink := &hookSink{}
	hook := httptest.NewServer(sink)
	t.Cleanup(hook.Close)
	n := webhook.New(hook.URL, "whsec", webhook.Options{Backoff: time.Millisecond, Logger: testutil.Quiet()})
	t.Cleanup(n.Close)
	m := metrics.New()
	var logs testutil.Buffer
	ex := provider.NewRefresher(provider.NewCatalogue(), e.srv.Client(), nil).
		WithEndpointPolicy(provider.EndpointPolicy{AllowedHosts: []string{"*.example.com"}})
	w := refresh.New(e.st, ex, refresh.Config{Observer: webhook.Tee(m, n)}, slog.New(slog.NewTextHandler(&logs, nil)))

	pass(t, w)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := n.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	if calls := e.prov.Calls(); calls != 0 {
		t.Fatalf("the provider got %d requests for a refused configuration", calls)
	}
	r := e.row(t, "misconfigured")
	if r.Status == model.StatusActive || r.Updating || r.NextAttemptAt != nil ||
		!strings.HasPrefix(store.Str(r.LastError), "configuration error: ") || !strings.Contains(store.Str(r.LastError), "TOKENS_ALLOWED_TOKEN_HOSTS") {
		t.Fatalf("status=%s updating=%v next=%v last_error=%q; want out of rotation with a configuration error",
			r.Status, r.Updating, r.NextAttemptAt, store.Str(r.LastError))
	}
	if evs, err := e.st.Events(t.Context(), "misconfigured", 10); err != nil || len(evs) != 1 || evs[0].Outcome != "config" {
		t.Fatalf("events = %+v, %v; want one config", evs, err)
	}
	if got := sink.got(); len(got) != 1 || got[0].Event != wire.ConfigError || got[0].Name != "misconfigured" ||
		!strings.HasPrefix(got[0].LastError, "configuration error: ") {
		t.Fatalf("webhook events = %+v; want one %s", got, wire.ConfigError)
	}
	s := testutil.Scrape(t, m.Handler())
	if s[`tokenwarden_refresh_failures_total{kind="config",provider="oauth2"}`] != 1 ||
		s[`tokenwarden_refresh_attempts_total{outcome="config",provider="oauth2"}`] != 1 ||
		s[`tokenwarden_refresh_failures_total{kind="reauth",provider="oauth2"}`] != 0 ||
		s[`tokenwarden_refresh_attempts_total{outcome="reauth",provider="oauth2"}`] != 0 {
		t.Fatalf("metrics: failures config=%v reauth=%v, attempts config=%v reauth=%v",
			s[`tokenwarden_refresh_failures_total{kind="config",provider="oauth2"}`], s[`tokenwarden_refresh_failures_total{kind="reauth",provider="oauth2"}`],
			s[`tokenwarden_refresh_attempts_total{outcome="config",provider="oauth2"}`], s[`tokenwarden_refresh_attempts_total{outcome="reauth",provider="oauth2"}`])
	}
	if l := logs.String(); !strings.Contains(l, "configuration") || strings.Contains(l, "re-authorization") {
		t.Fatalf("log does not name the configuration:\n%s", l)
	}
	if stats := pass(t, w); stats.Claimed != 0 {
		t.Fatalf("a refused configuration was claimed again: %+v", stats)
	}
}
