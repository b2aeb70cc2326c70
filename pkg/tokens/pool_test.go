package tokens

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/notify"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// openPool opens a database/sql pool of at most n connections on dsn,
// closed when the test ends.
func openPool(t *testing.T, dsn string, n int) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(n)
	t.Cleanup(func() { db.Close() })
	return db
}

// listening counts the test database's connections that LISTEN.
func (e *env) listening(t *testing.T) int {
	t.Helper()
	var n int
	err := e.st.DB().Raw(`SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Row().Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// blockedGetWakesOnCommit starts a Get on a row under a live claim, commits
// a new token, and checks that the Get returns it: with an hour's
// PollInterval only a change notification can wake it.
func (e *env) blockedGetWakesOnCommit(t *testing.T, c *Client, name string) {
	t.Helper()
	e.exec(t, "UPDATE oauth_tokens SET updating = true, updating_until = now() + interval '1 minute' WHERE name = ?", name)
	done := make(chan *Token, 1)
	c.waiting.Init(t)
	go func() {
		tok, _ := c.Get(t.Context(), name)
		done <- tok
	}()
	c.waiting.Wait() // the Get blocks
	e.exec(t, "UPDATE oauth_tokens SET access_token = 'at-new', updating = false, version = version + 1 WHERE name = ?", name)
	select {
	case tok := <-done:
		if tok == nil || tok.AccessToken != "at-new" {
			t.Fatalf("Get = %+v, want the new token", tok)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked Get was not woken by the commit")
	}
}

// A client given a pool runs on it, LISTENs on one of its connections
// (without a URL), and leaves it open on Close.
func TestOpenOnACallersPool(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{})
	e.insert(t, "a", time.Hour)
	db := openPool(t, e.dsn, 3)
	c, err := Open(t.Context(), "", &Options{DB: db, PollInterval: time.Hour, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the LISTEN connection", func() bool { return db.Stats().InUse == 1 })
	e.blockedGetWakesOnCommit(t, c, "a")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("Close closed the caller's pool: %v", err)
	}
	if n := db.Stats().InUse; n != 0 {
		t.Fatalf("%d of the pool's connections still in use after Close", n)
	}

	// Given the URL too, it listens on a connection of its own beside
	// the pool.
	beside, err := Open(t.Context(), e.dsn, &Options{DB: db, PollInterval: time.Hour, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer beside.Close()
	testutil.Eventually(t, 10*time.Second, "the LISTEN connection", func() bool {
		beside.hub.mu.Lock()
		defer beside.hub.mu.Unlock()
		return beside.hub.connected
	})
	e.blockedGetWakesOnCommit(t, beside, "a")
	if n := db.Stats().InUse; n != 0 {
		t.Fatalf("%d of the pool's connections in use by a client listening beside it", n)
	}
}

// In-process users share one LISTEN connection: a client given a Listener
// hears changes through it and opens no LISTEN connection of its own.
func TestOpenWithASharedListener(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{})
	e.insert(t, "a", time.Hour)
	shared := notify.NewHub(notify.RefreshChannel, ChangesChannel)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		shared.Run(ctx, e.dsn, testutil.Quiet())
	}()
	t.Cleanup(func() { cancel(); <-stopped })

	connected := func(c *Client) func() bool {
		return func() bool { c.hub.mu.Lock(); defer c.hub.mu.Unlock(); return c.hub.connected }
	}
	testutil.Eventually(t, 10*time.Second, "setup's client's LISTEN", connected(e.c))
	c, err := Open(t.Context(), "", &Options{DB: openPool(t, e.dsn, 2), Listener: shared, PollInterval: time.Hour, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testutil.Eventually(t, 10*time.Second, "the shared listener", connected(c))
	e.blockedGetWakesOnCommit(t, c, "a")
	if n := e.listening(t); n != 2 {
		t.Fatalf("%d connections LISTEN, want 2: setup's client's and the shared one", n)
	}

	if _, err := Open(t.Context(), e.dsn, &Options{Listener: shared, PollOnly: true}); err == nil {
		t.Fatal("Open accepted PollOnly with a Listener")
	}
}
