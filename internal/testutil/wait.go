package testutil

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails the test if it does not
// within timeout. It is for conditions with no event to wait on (a file's
// content, a row, a process's output); a test that can wait on a channel
// or a testsignal.Signal should.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Quiet returns a logger that writes nowhere. Its level is Info, as a
// real logger's, so the code under test builds the lines it would log.
func Quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
