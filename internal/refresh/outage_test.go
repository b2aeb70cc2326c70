package refresh_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/spool"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// retryObserver signals the first failed store.
type retryObserver struct {
	retried atomic.Int32
	first   chan struct{}
}

func newRetryObserver() *retryObserver { return &retryObserver{first: make(chan struct{})} }

func (o *retryObserver) Refreshed(string, string, time.Duration) {}
func (o *retryObserver) TakenOver()                              {}
func (o *retryObserver) Failed(refresh.FailureEvent)             {}
func (o *retryObserver) StoreRetried() {
	if o.retried.Add(1) == 1 {
		close(o.first)
	}
}

// outage is a private PostgreSQL the test can stop and start, a Store on
// it, and a provider that answers only when the test says so.
type outage struct {
	*env
	srv     *pgtest.Server
	arrived chan struct{}
	proceed chan struct{}
}

// migratedServer is a private PostgreSQL, migrated, that the test can
// stop and start.
func migratedServer(t *testing.T) *pgtest.Server {
	t.Helper()
	srv := pgtest.NewServer(t)
	st, err := store.Open(t.Context(), srv.DSN(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return srv
}

func setupOutage(t *testing.T) *outage {
	t.Helper()
	srv := migratedServer(t)
	o := &outage{env: setupOn(t, srv.DSN(), mockprovider.Options{Rotate: true, Lifetime: time.Hour}, 2),
		srv: srv, arrived: make(chan struct{}, 1), proceed: make(chan struct{})}
	// The provider holds its answer until the database is down.
	prov := o.prov
	o.srv2(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.arrived <- struct{}{}
		<-o.proceed
		prov.ServeHTTP(w, r)
	}))
	o.insert(t, 0, "a")
	return o
}

// srv2 points the env's token URL at a gated handler.
func (o *outage) srv2(t *testing.T, h http.Handler) {
	gated := httptest.NewServer(h)
	t.Cleanup(gated.Close)
	o.env.srv = gated
}

func TestStoreIsRetriedUntilTheDatabaseIsBack(t *testing.T) {
	t.Parallel()
	o := setupOutage(t)
	obs := newRetryObserver()
	w := o.worker(refresh.Config{Observer: obs})
	done := make(chan refresh.Stats, 1)
	go func() {
		stats, _ := w.Pass(context.Background())
		done <- stats
	}()
	<-o.arrived
	o.srv.Stop() // the provider has the rotated token; the database is gone
	close(o.proceed)
	<-obs.first
	o.srv.Start()
	stats := <-done
	if stats.Refreshed != 1 {
		t.Fatalf("stats = %+v, want the refresh stored after the outage", stats)
	}
	o.assertHoldsIssued(t, "a")
}

func TestStopDuringOutageSpoolsAndTheNextStartReplays(t *testing.T) {
	t.Parallel()
	o := setupOutage(t)
	sp, err := spool.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	obs := newRetryObserver()
	ctx, stop := context.WithCancel(context.Background())
	w := o.worker(refresh.Config{Observer: obs, Spool: sp})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Pass(ctx)
	}()
	<-o.arrived
	o.srv.Stop()
	close(o.proceed)
	<-obs.first
	stop() // SIGTERM while the database is down
	<-done

	pending, _, err := sp.Pending()
	if err != nil || len(pending) != 1 || len(pending[0].Batch.Successes) != 1 {
		t.Fatalf("spool after stopping: %+v %v", pending, err)
	}
	o.srv.Start()
	if r := o.row(t, "a"); r.Version != 0 {
		t.Fatal("the row changed before the replay")
	}
	// The next start replays before claiming anything.
	stats, err := o.worker(refresh.Config{Spool: sp}).Pass(t.Context())
	if err != nil || stats.Claimed != 0 {
		t.Fatalf("pass after restart: %+v %v", stats, err)
	}
	o.assertHoldsIssued(t, "a")
	if pending, _, _ := sp.Pending(); len(pending) != 0 {
		t.Fatalf("%d batches left in the spool after replay", len(pending))
	}
	if o.prov.Calls() != 1 {
		t.Fatalf("provider calls = %d, want 1: the replay must not refresh again", o.prov.Calls())
	}
}
