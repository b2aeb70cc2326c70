package metrics_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/metrics"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

func ptr[T any](v T) *T { return &v }

func TestMetricsAfterRefresh(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	st, err := store.Open(t.Context(), dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	prov := mockprovider.New(mockprovider.Options{Lifetime: time.Hour})
	srv := httptest.NewServer(prov)
	t.Cleanup(srv.Close)
	insert := func(name string, expiresIn time.Duration) {
		t.Helper()
		err := st.Import(t.Context(), []store.ImportRow{{
			Name: name, TokenURL: ptr(srv.URL + "/token"), AccessToken: ptr("at-" + name),
			RefreshToken: ptr("rt-" + name), AccessTokenExpires: ptr(time.Now().Add(expiresIn)),
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	exec := func(sql string) {
		t.Helper()
		if err := st.DB().Exec(sql).Error; err != nil {
			t.Fatal(err)
		}
	}
	insert("ok", -time.Minute)     // refreshed
	insert("dead", -time.Minute)   // the provider refuses: needs_reauth
	insert("orphan", -time.Minute) // claimed by a worker that died: taken over
	insert("off", -time.Minute)    // disabled: never attempted
	prov.Revoke("rt-dead")
	exec("UPDATE oauth_tokens SET updating = true, updating_until = now() - interval '1 second', claim_id = gen_random_uuid() WHERE name = 'orphan'")
	exec("UPDATE oauth_tokens SET status = 'disabled' WHERE name = 'off'")

	m := metrics.New()
	m.WatchTable(st, 5*time.Minute, testutil.Quiet())
	ex := provider.NewRefresher(provider.NewCatalogue(), srv.Client(), nil)
	w := refresh.New(st, ex, refresh.Config{Observer: m}, testutil.Quiet())
	stats, err := w.Pass(t.Context())
	if err != nil || stats.Refreshed != 2 || stats.Reauth != 1 {
		t.Fatalf("pass: %+v, %v", stats, err)
	}
	// Due within TOKENS_REFRESH_BEFORE (5m) but not refreshed: expires in 2m.
	insert("soon", 2*time.Minute)

	got := testutil.Scrape(t, m.Handler())
	want := map[string]float64{
		`tokenwarden_refresh_attempts_total{outcome="success",provider="oauth2"}`: 2,
		`tokenwarden_refresh_attempts_total{outcome="reauth",provider="oauth2"}`:  1,
		`tokenwarden_refresh_duration_seconds_count{provider="oauth2"}`:           3,
		`tokenwarden_refresh_failures_total{kind="reauth",provider="oauth2"}`:     1,
		`tokenwarden_lease_takeovers_total`:                                       1,
		`tokenwarden_store_retries_total`:                                         0,
		`tokenwarden_rows_due`:                                                    1,
		`tokenwarden_connections{status="active"}`:                                3,
		`tokenwarden_connections{status="needs_reauth"}`:                          1,
		`tokenwarden_connections{status="disabled"}`:                              1,
	}
	for series, v := range want {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", series, g, ok, v)
		}
	}
	if g := got[`tokenwarden_soonest_expiry_seconds`]; g < 100 || g > 120 {
		t.Errorf("tokenwarden_soonest_expiry_seconds = %v, want about 120", g)
	}
	if _, ok := got[`tokenwarden_refresh_duration_seconds_bucket{provider="oauth2",le="+Inf"}`]; !ok {
		t.Error("duration histogram has no buckets")
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}

	// An expired token: the gauge goes negative.
	exec("UPDATE oauth_tokens SET access_token_expires = now() - interval '1 minute' WHERE name = 'soon'")
	if g := testutil.Scrape(t, m.Handler())[`tokenwarden_soonest_expiry_seconds`]; g > -50 || g < -70 {
		t.Errorf("tokenwarden_soonest_expiry_seconds = %v after expiry, want about -60", g)
	}
}

// failingSource fails until fixed.
type failingSource struct {
	mu    sync.Mutex
	fixed bool
}

func (f *failingSource) Stats(context.Context, time.Duration) (*store.TableStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.fixed {
		return nil, errors.New("connection refused")
	}
	d := -3 * time.Second
	return &store.TableStats{Due: 4, SoonestExpiry: &d, Connections: map[string]int64{"active": 4}}, nil
}

// syncBuffer is safe for the goroutines under test to write to.
type syncBuffer = testutil.Buffer

func TestScrapeErrorYieldsNoSampleAndLogsOnce(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	src := &failingSource{}
	m := metrics.New()
	m.WatchTable(src, time.Minute, slog.New(slog.NewTextHandler(&logs, nil)))
	m.TakenOver()
	for range 3 {
		got := testutil.Scrape(t, m.Handler())
		if got["tokenwarden_lease_takeovers_total"] != 1 {
			t.Fatalf("other metrics lost on a failed read: %v", got)
		}
		for series := range got {
			if strings.HasPrefix(series, "tokenwarden_rows_due") || strings.HasPrefix(series, "tokenwarden_connections") ||
				strings.HasPrefix(series, "tokenwarden_soonest") {
				t.Errorf("failed read yielded %s", series)
			}
		}
	}
	if n := strings.Count(logs.String(), "cannot read table stats"); n != 1 {
		t.Errorf("logged the failure %d times over 3 scrapes, want once:\n%s", n, logs.String())
	}
	src.mu.Lock()
	src.fixed = true
	src.mu.Unlock()
	got := testutil.Scrape(t, m.Handler())
	if got["tokenwarden_rows_due"] != 4 || got["tokenwarden_soonest_expiry_seconds"] != -3 || got[`tokenwarden_connections{status="active"}`] != 4 {
		t.Errorf("after recovery: %v", got)
	}
	if !strings.Contains(logs.String(), "readable again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}
