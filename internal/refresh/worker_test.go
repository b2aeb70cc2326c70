package refresh_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

type env struct {
	dsn  string
	st   *store.Store
	prov *mockprovider.Server
	srv  *httptest.Server
}

// setup gives a test its own database, a Store on it and a mock provider.
func setup(t *testing.T, opts mockprovider.Options) *env {
	t.Helper()
	dsn := pgtest.New(t)
	return setupOn(t, dsn, opts, 4)
}

func setupOn(t *testing.T, dsn string, opts mockprovider.Options, maxConns int) *env {
	t.Helper()
	st, err := store.Open(t.Context(), dsn, maxConns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	prov := mockprovider.New(opts)
	srv := httptest.NewServer(prov)
	t.Cleanup(srv.Close)
	return &env{dsn: dsn, st: st, prov: prov, srv: srv}
}

func ptr[T any](v T) *T { return &v }

// insert imports connections whose access tokens expire in expiresIn; the
// initial refresh token of each is "rt-" + name.
func (e *env) insert(t *testing.T, expiresIn time.Duration, names ...string) {
	t.Helper()
	rows := make([]store.ImportRow, 0, len(names))
	for _, n := range names {
		rows = append(rows, store.ImportRow{
			Name:               n,
			TokenURL:           ptr(e.srv.URL + "/token"),
			AccessToken:        ptr("at-" + n),
			RefreshToken:       ptr("rt-" + n),
			AccessTokenExpires: ptr(time.Now().Add(expiresIn)),
		})
	}
	if err := e.st.Import(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
}

func (e *env) worker(cfg refresh.Config) *refresh.Worker {
	return e.workerOn(e.st, cfg)
}

func (e *env) workerOn(st *store.Store, cfg refresh.Config) *refresh.Worker {
	ex := provider.NewRefresher(provider.NewCatalogue(), e.srv.Client(), nil)
	return refresh.New(st, ex, cfg, testutil.Quiet())
}

func (e *env) row(t *testing.T, name string) *model.OAuthToken {
	t.Helper()
	r, err := e.st.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *env) exec(t *testing.T, sql string) {
	t.Helper()
	if err := e.st.DB().Exec(sql).Error; err != nil {
		t.Fatal(err)
	}
}

// assertHoldsIssued checks that the row holds exactly what the provider
// answered to its initial refresh token.
func (e *env) assertHoldsIssued(t *testing.T, name string) {
	t.Helper()
	issued, ok := e.prov.Issued("rt-" + name)
	if !ok {
		t.Fatalf("%s: provider never answered its refresh token", name)
	}
	r := e.row(t, name)
	if r.AccessToken.Reveal() != issued.AccessToken || r.RefreshToken.Reveal() != issued.RefreshToken {
		t.Fatalf("%s: row does not hold the provider's answer", name)
	}
	if r.Updating || r.ClaimID != nil || r.Version != 1 || r.FailureCount != 0 {
		t.Fatalf("%s: updating=%v claim=%v version=%d failures=%d", name, r.Updating, r.ClaimID, r.Version, r.FailureCount)
	}
}

func pass(t *testing.T, w *refresh.Worker) refresh.Stats {
	t.Helper()
	stats, err := w.Pass(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

func TestPassRefreshesDueRowsAndLeavesOthers(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	e.insert(t, -time.Minute, "expired")
	e.insert(t, 2*time.Minute, "expiring")
	e.insert(t, time.Hour, "fresh")

	stats := pass(t, e.worker(refresh.Config{RefreshBefore: 5 * time.Minute}))
	if stats.Claimed != 2 || stats.Refreshed != 2 || stats.Errors() != 0 {
		t.Fatalf("stats = %+v, want 2 claimed and refreshed", stats)
	}
	e.assertHoldsIssued(t, "expired")
	e.assertHoldsIssued(t, "expiring")
	fresh := e.row(t, "fresh")
	if fresh.Version != 0 || fresh.AccessToken.Reveal() != "at-fresh" {
		t.Fatalf("fresh row touched: version %d", fresh.Version)
	}
	if r := e.row(t, "expired"); r.AccessTokenExpires.Before(time.Now().Add(50*time.Minute)) || r.LastRefreshedAt == nil {
		t.Fatalf("expiry not stored: %v", r.AccessTokenExpires)
	}
	if got := e.prov.Calls(); got != 2 {
		t.Fatalf("provider calls = %d, want 2", got)
	}
}

func TestRacingWorkersRefreshEachRowOnce(t *testing.T) {
	t.Parallel()
	for _, workers := range []int{2, 4} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			t.Parallel()
			e := setup(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour, Latency: time.Millisecond})
			names := make([]string, 200)
			for i := range names {
				names[i] = fmt.Sprintf("conn-%03d", i)
			}
			e.insert(t, 0, names...)

			var wg sync.WaitGroup
			results := make([]refresh.Stats, workers)
			for i := range workers {
				// Each worker has its own pool, as separate replicas do.
				st, err := store.Open(t.Context(), e.dsn, 3)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				w := e.workerOn(st, refresh.Config{Concurrency: 8, ClaimBatch: 5})
				wg.Go(func() { results[i], _ = w.Pass(t.Context()) })
			}
			wg.Wait()

			total := 0
			for _, s := range results {
				total += s.Refreshed
				if s.Errors() != 0 {
					t.Errorf("worker stats %+v", s)
				}
			}
			if total != 200 || e.prov.Calls() != 200 || e.prov.Reuses() != 0 {
				t.Fatalf("refreshed %d, provider calls %d, reuses %d; want 200, 200, 0", total, e.prov.Calls(), e.prov.Reuses())
			}
			for _, n := range names {
				e.assertHoldsIssued(t, n)
			}
		})
	}
}

func TestInvalidGrantNeedsReauthWithoutRetrying(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Rotate: true})
	e.insert(t, 0, "revoked")
	e.prov.Revoke("rt-revoked")
	w := e.worker(refresh.Config{})

	if stats := pass(t, w); stats.Reauth != 1 {
		t.Fatalf("stats = %+v, want one needs_reauth", stats)
	}
	r := e.row(t, "revoked")
	if r.Status != model.StatusNeedsReauth || !strings.Contains(store.Str(r.LastError), "invalid_grant") || r.Updating {
		t.Fatalf("status=%s last_error=%q updating=%v", r.Status, store.Str(r.LastError), r.Updating)
	}
	if r.RefreshToken.Reveal() != "rt-revoked" || r.AccessToken.Reveal() != "at-revoked" {
		t.Fatal("a failed refresh changed the stored tokens")
	}
	if stats := pass(t, w); stats.Claimed != 0 || e.prov.Calls() != 1 {
		t.Fatalf("second pass claimed %d, provider calls %d; want 0 and 1", stats.Claimed, e.prov.Calls())
	}
}

func TestTransientFailuresBackOffThenSucceed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		status   int
		header   http.Header
		minDelay time.Duration
	}{
		{"500", http.StatusInternalServerError, nil, 4 * time.Second},
		{"429 with Retry-After", http.StatusTooManyRequests, http.Header{"Retry-After": {"600"}}, 590 * time.Second},
		{"503 HTML page", http.StatusServiceUnavailable, http.Header{"Content-Type": {"text/html"}}, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
			e.insert(t, 0, "a")
			e.prov.FailNext(1, tc.status, "<html>oops</html>", tc.header)
			w := e.worker(refresh.Config{})

			if stats := pass(t, w); stats.Failed != 1 {
				t.Fatalf("stats = %+v, want one transient failure", stats)
			}
			r := e.row(t, "a")
			if r.Status != model.StatusActive || r.FailureCount != 1 || r.Updating || r.NextAttemptAt == nil ||
				r.NextAttemptAt.Before(time.Now().Add(tc.minDelay)) || r.AccessToken.Reveal() != "at-a" {
				t.Fatalf("after failure: status=%s failures=%d next=%v", r.Status, r.FailureCount, r.NextAttemptAt)
			}
			if stats := pass(t, w); stats.Claimed != 0 || e.prov.Calls() != 1 {
				t.Fatalf("retried during backoff: claimed %d, calls %d", stats.Claimed, e.prov.Calls())
			}
			// The backoff runs out.
			e.exec(t, "UPDATE oauth_tokens SET next_attempt_at = now()")
			if stats := pass(t, w); stats.Refreshed != 1 {
				t.Fatalf("stats = %+v, want the retry to succeed", stats)
			}
			e.assertHoldsIssued(t, "a")
			if r := e.row(t, "a"); r.LastError != nil || r.NextAttemptAt != nil {
				t.Fatalf("failure state not cleared: %q %v", store.Str(r.LastError), r.NextAttemptAt)
			}
		})
	}
}

func TestResponseWithoutRefreshTokenKeepsTheOldOne(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{OmitRefreshToken: true, Lifetime: time.Hour})
	e.insert(t, 0, "google")
	if stats := pass(t, e.worker(refresh.Config{})); stats.Refreshed != 1 {
		t.Fatalf("stats = %+v", stats)
	}
	issued, _ := e.prov.Issued("rt-google")
	r := e.row(t, "google")
	if r.RefreshToken.Reveal() != "rt-google" || r.AccessToken.Reveal() != issued.AccessToken || r.Version != 1 {
		t.Fatalf("refresh token replaced or access token not stored (version %d)", r.Version)
	}
}

// A burst far wider than the database pool: every answer the provider gave
// must reach the table, however the stores queue up.
func TestBurstWithSmallPoolLosesNothing(t *testing.T) {
	t.Parallel()
	e := setupOn(t, pgtest.New(t), mockprovider.Options{Rotate: true, Lifetime: time.Hour, Latency: 5 * time.Millisecond}, 2)
	names := make([]string, 200)
	for i := range names {
		names[i] = fmt.Sprintf("burst-%03d", i)
	}
	e.insert(t, 0, names...)
	stats := pass(t, e.worker(refresh.Config{Concurrency: 200, ClaimBatch: 50, FlushSize: 32}))
	if stats.Refreshed != 200 || e.prov.Successes() != 200 {
		t.Fatalf("stats = %+v, provider successes %d; want 200", stats, e.prov.Successes())
	}
	for _, n := range names {
		e.assertHoldsIssued(t, n)
	}
}

func TestRefreshByNameIgnoresExpiry(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	e.insert(t, 24*time.Hour, "a")
	w := e.worker(refresh.Config{})
	if err := w.RefreshByName(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	e.assertHoldsIssued(t, "a")
	if err := w.RefreshByName(t.Context(), "missing"); err == nil || !strings.Contains(err.Error(), "no such connection") {
		t.Fatalf("refresh of a missing name: %v", err)
	}
}

func TestStoppedPassReleasesUnstartedClaims(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	e.insert(t, 0, "a", "b", "c")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	stats, err := e.worker(refresh.Config{}).Pass(ctx)
	if err != nil || stats.Refreshed != 0 {
		t.Fatalf("cancelled pass: %+v %v", stats, err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if r := e.row(t, n); r.Updating || r.ClaimID != nil {
			t.Fatalf("%s left claimed", n)
		}
	}
}
