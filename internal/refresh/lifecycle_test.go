package refresh_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/notify"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// TestMain fails the package if a test leaves a goroutine running: a
// worker joins every goroutine it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Run listens through the process's shared listener, as internal/app runs
// it: a refresh request on it wakes a worker that would otherwise sleep for
// an hour, and once Run has returned the worker has stopped listening.
func TestRunWakesThroughItsListener(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Lifetime: time.Hour})
	e.insert(t, time.Hour, "a")
	hub := notify.NewHub(notify.RefreshChannel)
	up := make(chan struct{})
	var once sync.Once
	defer hub.Subscribe(notify.RefreshChannel, func(string) {}, func(ok bool) {
		if ok {
			once.Do(func() { close(up) })
		}
	})()
	w := e.worker(refresh.Config{PollInterval: time.Hour, Listener: hub})
	w.TestSignals.Init(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { hub.Run(ctx, e.dsn, testutil.Quiet()) })
	done := make(chan error, 1)
	wg.Go(func() { done <- w.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	// Run subscribes before its first pass; the request goes out once the
	// hub's connection is up, or it would be lost.
	w.TestSignals.PassDone.Wait()
	select {
	case <-up:
	case <-time.After(10 * time.Second):
		t.Fatal("the hub's LISTEN connection did not come up")
	}
	e.exec(t, "UPDATE oauth_tokens SET access_token_expires = now(); SELECT pg_notify('tokenwarden_refresh', 'a')")
	// The hub coming up wakes the worker too (it may have missed
	// requests), so a pass of nothing may come first.
	for refreshed := 0; refreshed == 0; {
		refreshed = w.TestSignals.PassDone.Wait().Refreshed
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}
