package refresh_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
)

// TestMain fails the package if a test leaves a goroutine running: a
// worker joins every goroutine it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// listening reports whether any goroutine of the process is in
// notify.Listen. No other test of this package runs a worker with a
// listener.
func listening(t *testing.T) bool {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b.Bytes(), []byte("internal/notify.Listen("))
}

// Run waits for the listener it started: once it returns, no goroutine of
// the worker's is left. A listener that is not waited for usually ends a
// moment after Run, so the check is made right away, over several runs.
func TestRunJoinsItsListener(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Lifetime: time.Hour})
	for range 10 {
		w := e.worker(refresh.Config{PollInterval: time.Hour})
		w.TestSignals.Init(t)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx, e.dsn) }()
		w.TestSignals.PassDone.Wait()
		if !listening(t) {
			t.Fatal("the running worker has no listener")
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
		if listening(t) {
			t.Fatal("Run returned with its listener still running")
		}
	}
}
