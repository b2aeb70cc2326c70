package notify

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// recv returns the next value of ch, failing the test after 10 s.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func notifyOn(t *testing.T, dsn, channel, payload string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "SELECT pg_notify($1, $2)", channel, payload); err != nil {
		t.Fatal(err)
	}
}

// run runs f until the test ends, and waits for it to return.
func run(t *testing.T, f func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

type sub struct {
	payloads chan string
	states   chan bool
	stop     func()
}

func subscribe(h *Hub, channel string) *sub {
	s := &sub{payloads: make(chan string, 10), states: make(chan bool, 10)}
	s.stop = h.Subscribe(channel, func(p string) { s.payloads <- p }, func(up bool) { s.states <- up })
	return s
}

// One Hub serves the subscribers of two channels over one connection: each
// hears its own channel's notifications only, and the connection's state.
func TestHubSharesOneConnection(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	h := NewHub(TokensChannel, RefreshChannel)
	tokens, refresh := subscribe(h, TokensChannel), subscribe(h, RefreshChannel)
	if recv(t, tokens.states, "the state at subscription") {
		t.Fatal("a Hub that never connected reported itself up")
	}
	recv(t, refresh.states, "the state at subscription")
	run(t, func(ctx context.Context) { h.Run(ctx, dsn, testutil.Quiet()) })
	if !recv(t, tokens.states, "the connection") || !recv(t, refresh.states, "the connection") {
		t.Fatal("connected(false) on connecting")
	}
	late := subscribe(h, TokensChannel)
	if !recv(t, late.states, "the state at a late subscription") {
		t.Fatal("a subscriber joining a connected Hub was told it is down")
	}

	notifyOn(t, dsn, RefreshChannel, "r")
	notifyOn(t, dsn, TokensChannel, "a")
	if got := recv(t, refresh.payloads, "the refresh notification"); got != "r" {
		t.Fatalf("refresh subscriber got %q", got)
	}
	if got := recv(t, tokens.payloads, "the tokens notification"); got != "a" {
		t.Fatalf("tokens subscriber got %q", got)
	}
	recv(t, late.payloads, "the tokens notification")
	select {
	case p := <-refresh.payloads:
		t.Fatalf("the refresh subscriber got %q, sent on the tokens channel", p)
	default:
	}

	late.stop()
	notifyOn(t, dsn, TokensChannel, "b")
	recv(t, tokens.payloads, "the second notification")
	select {
	case p := <-late.payloads:
		t.Fatalf("an unsubscribed subscriber got %q", p)
	default:
	}
}

// RunDB listens on a connection of the caller's pool, and closes it when
// done rather than handing back a connection still listening.
func TestRunDBLeavesNoListeningConnectionInThePool(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := CheckDB(db); err != nil {
		t.Fatal(err)
	}
	h := NewHub(TokensChannel)
	s := subscribe(h, TokensChannel)
	recv(t, s.states, "the state at subscription")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.RunDB(ctx, db, testutil.Quiet())
	}()
	if !recv(t, s.states, "the connection") {
		t.Fatal("not connected")
	}
	notifyOn(t, dsn, TokensChannel, "a")
	if got := recv(t, s.payloads, "the notification"); got != "a" {
		t.Fatalf("got %q", got)
	}
	cancel()
	<-done

	// The pool has room for one connection: had the listening one come
	// back, this would be it.
	var channels int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_listening_channels()").Scan(&channels); err != nil {
		t.Fatal(err)
	}
	if channels != 0 {
		t.Fatalf("the pool handed out a connection listening on %d channel(s)", channels)
	}
}

// fakeConnector is a database/sql connector of another driver than pgx.
type fakeConnector struct{}

func (fakeConnector) Connect(context.Context) (driver.Conn, error) { return nil, errors.New("no") }
func (fakeConnector) Driver() driver.Driver                        { return fakeDriver{} }

type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) { return nil, errors.New("no") }

func TestCheckDBRefusesOtherDrivers(t *testing.T) {
	t.Parallel()
	db := sql.OpenDB(fakeConnector{})
	defer db.Close()
	if err := CheckDB(db); !errors.Is(err, ErrNotPgx) {
		t.Fatalf("CheckDB = %v, want ErrNotPgx", err)
	}
}
