package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/console"
	"github.com/tokenwarden/tokenwarden/internal/notify"
)

// watchEvents is what a Watch reported, in channels a test waits on.
type watchEvents struct {
	names chan string
	ups   chan bool
}

// watch watches a's changes until the test ends.
func watch(t *testing.T, a *app.App) *watchEvents {
	t.Helper()
	w := &watchEvents{names: make(chan string, 16), ups: make(chan bool, 16)}
	stop, err := a.Watch(t.Context(), func(n string) { w.names <- n }, func(up bool) { w.ups <- up })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return w
}

// next waits for the next value of ch, failing the test after 15 s.
func next[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("no %s within 15s", what)
		panic("unreachable")
	}
}

// waitUp waits until the watch reports up, skipping the other states.
func (w *watchEvents) waitUp(t *testing.T, up bool) {
	t.Helper()
	for {
		if next(t, w.ups, "connection state") == up {
			return
		}
	}
}

// notifyTokens sends a change notification of name, as a store write does.
func notifyTokens(t *testing.T, dsn, name string) {
	t.Helper()
	exec(t, dsn, "SELECT pg_notify('"+notify.TokensChannel+"', '"+name+"')")
}

// TestWatchReportsListening: Watch says connected(true) only once LISTEN is
// in place, so a change made right after it is notified; when the
// connection is lost it says false, and true again once it listens anew.
func TestWatchReportsListening(t *testing.T) {
	t.Parallel()
	a, dsn := open(t, map[string]string{}, nil)
	w := watch(t, a)
	w.waitUp(t, true)
	notifyTokens(t, dsn, "first")
	if got := next(t, w.names, "notification after connected(true)"); got != "first" {
		t.Fatalf("notified %q, want first", got)
	}

	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var killed int
	err = c.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners (%v), want 1", killed, err)
	}
	if up := next(t, w.ups, "connection state after the drop"); up {
		t.Fatal("after its connection was terminated, Watch said connected(true) before connected(false)")
	}
	w.waitUp(t, true)
	notifyTokens(t, dsn, "second")
	if got := next(t, w.names, "notification after the reconnect"); got != "second" {
		t.Fatalf("notified %q, want second", got)
	}
}

// TestWatchPollOnly: with TOKENS_POLL_ONLY nothing is ever notified, and
// Watch says so rather than leaving the console waiting.
func TestWatchPollOnly(t *testing.T) {
	t.Parallel()
	a, _ := open(t, map[string]string{"TOKENS_POLL_ONLY": "true"}, nil)
	stop, err := a.Watch(t.Context(), func(string) {}, func(bool) { t.Error("connected called in poll-only mode") })
	if !errors.Is(err, console.ErrNotLive) || stop != nil {
		t.Errorf("Watch in poll-only mode: stop %v, err %v; want nil, ErrNotLive", stop != nil, err)
	}
}
