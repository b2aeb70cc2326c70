package tokens

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/notify"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// A real PostgreSQL restart while a worker and a consumer run: the worker
// keeps running and reconnects, the consumer's LISTEN reconnects (it polls
// meanwhile and serves nothing from its cache), and refreshes resume.
func TestPostgresRestartWhileRunning(t *testing.T) {
	t.Parallel()
	srv := pgtest.NewServer(t)
	dsn := srv.DSN()
	st, err := store.Open(t.Context(), dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	prov := mockprovider.New(mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	psrv := httptest.NewServer(prov)
	defer psrv.Close()
	e := &env{dsn: dsn, st: st, prov: prov, srv: psrv}
	e.insert(t, "a", time.Hour)

	c, err := Open(t.Context(), dsn, &Options{PollInterval: 100 * time.Millisecond, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ex := provider.NewRefresher(provider.NewCatalogue(), psrv.Client(), nil)
	hub := notify.NewHub(notify.RefreshChannel)
	w := refresh.New(st, ex, refresh.Config{PollInterval: time.Hour, Listener: hub}, testutil.Quiet())
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		runWithHub(ctx, w, hub, dsn)
	}()
	defer func() { cancel(); <-stopped }()

	connected := func() bool { c.hub.mu.Lock(); defer c.hub.mu.Unlock(); return c.hub.connected }
	testutil.Eventually(t, 10*time.Second, "the consumer's LISTEN", connected)
	stale := get(t, c, "a").AccessToken

	srv.Stop()
	testutil.Eventually(t, 10*time.Second, "the consumer to notice the outage", func() bool { return !connected() })
	if tok := c.hub.cached("a", time.Now(), time.Second); tok != nil {
		t.Fatal("a token was served from the cache while the notification connection was down")
	}
	srv.Start()
	testutil.Eventually(t, 10*time.Second, "the consumer's LISTEN to reconnect", connected)

	// The worker survived and hears refresh requests again.
	if err := c.Invalidate(t.Context(), "a", stale); err != nil {
		t.Fatal(err)
	}
	tok := get(t, c, "a")
	issued, _ := prov.Issued("rt-a")
	if tok.AccessToken != issued.AccessToken || tok.Version != 1 {
		t.Fatalf("after the restart Get = version %d, want the refreshed token", tok.Version)
	}
	select {
	case <-stopped:
		t.Fatal("the worker exited during the restart")
	default:
	}
}
