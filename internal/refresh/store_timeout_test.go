package refresh_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/spool"
)

// A store that hangs instead of failing (here on a row lock held by another
// transaction, as a partitioned database would) is cut off by StoreTimeout,
// so the answer goes to the spool instead of waiting in memory; once the
// database answers again it is stored and the spool emptied.
func TestHangingStoreSpoolsTheAnswer(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	e.insert(t, 0, "a")
	dir := t.TempDir()
	sp, err := spool.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	wrote := make(chan struct{}, 8)
	w := e.worker(refresh.Config{Spool: notifyingSpool{sp, wrote}, StoreTimeout: 200 * time.Millisecond})

	// Lock the row once it is claimed, before its answer is stored.
	tx := e.st.DB().Begin()
	t.Cleanup(func() { tx.Rollback() })
	refresh.PauseBeforeSend(w, func() {
		if err := tx.Exec("SELECT 1 FROM oauth_tokens WHERE name = 'a' FOR UPDATE").Error; err != nil {
			t.Error(err)
		}
	})
	done := make(chan refresh.Stats, 1)
	go func() {
		stats, err := w.Pass(t.Context())
		if err != nil {
			t.Error(err)
		}
		done <- stats
	}()

	select {
	case <-wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("the answer was not spooled while the store hung")
	}
	if got := spooledTokens(t, sp); got["a"] == "" {
		t.Fatalf("the spool holds %v, want a's answer", got)
	}
	if err := tx.Commit().Error; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	select {
	case stats := <-done:
		// The attempt that was waiting on the lock may reach its
		// StoreTimeout just as the database commits it: its retry then
		// finds the claim gone and counts as fenced. Either way the
		// answer is stored once, which assertHoldsIssued checks.
		if stats.Refreshed+stats.Fenced != 1 {
			t.Fatalf("stats %+v, want the answer stored once", stats)
		}
	case <-ctx.Done():
		t.Fatal("the pass did not finish once the lock was gone")
	}
	e.assertHoldsIssued(t, "a")
	if files := batchFiles(t, dir); len(files) != 0 {
		t.Fatalf("spool still holds %v after the store", files)
	}
}
