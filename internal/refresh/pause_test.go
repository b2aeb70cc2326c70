package refresh_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
)

// successObserver closes done once it has seen want stored refreshes.
type successObserver struct {
	want int64
	seen atomic.Int64
	done chan struct{}
}

func (o *successObserver) Refreshed(_, outcome string, _ time.Duration) {
	if outcome == "success" && o.seen.Add(1) == o.want {
		close(o.done)
	}
}
func (o *successObserver) TakenOver()                  {}
func (o *successObserver) StoreRetried()               {}
func (o *successObserver) Failed(refresh.FailureEvent) {}

// A worker is paused (SIGSTOP, a VM freeze, a stopped container) after it
// has claimed rows and before it sends their requests, for longer than its
// lease. Another worker takes the rows over and refreshes them. When the
// first one resumes it must send nothing for the claims it no longer holds:
// each such request would present a refresh token the provider has rotated
// since, and reuse detection revokes the whole token family. The rows it
// held in its refresher goroutines and those queued in memory for a free
// one are both covered.
func TestPausedWorkerSendsNothingForClaimsItNoLongerHolds(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	names := make([]string, 6)
	for i := range names {
		names[i] = fmt.Sprintf("paused-%d", i)
	}
	e.insert(t, 0, names...)

	// Two refreshers, so up to four claims: two held by the refreshers, two
	// queued for them.
	const concurrency = 2
	frozen := e.worker(refresh.Config{Concurrency: concurrency, Lease: time.Second, HTTPTimeout: 300 * time.Millisecond})
	paused, resume := make(chan struct{}, concurrency), make(chan struct{})
	refresh.PauseBeforeSend(frozen, func() {
		select {
		case paused <- struct{}{}:
		default:
		}
		<-resume
	})
	frozenDone := make(chan refresh.Stats, 1)
	go func() {
		stats, err := frozen.Pass(context.WithoutCancel(t.Context()))
		if err != nil {
			t.Error(err)
		}
		frozenDone <- stats
	}()
	for range concurrency {
		<-paused
	}

	// The other worker refreshes every row, the frozen one's claims as soon
	// as their lease has run out.
	obs := &successObserver{want: int64(len(names)), done: make(chan struct{})}
	ctx, stop := context.WithCancel(t.Context())
	takerDone := make(chan error, 1)
	go func() { takerDone <- e.worker(refresh.Config{Observer: obs, PollInterval: time.Second}).Run(ctx) }()
	select {
	case <-obs.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the other worker stored %d of %d refreshes", obs.seen.Load(), len(names))
	}
	stop()
	if err := <-takerDone; err != nil {
		t.Fatal(err)
	}
	calls := e.prov.Calls()

	close(resume)
	stats := <-frozenDone
	if stats.Claimed < concurrency || stats.Expired != stats.Claimed || stats.Refreshed != 0 {
		t.Errorf("resumed worker: %+v, want every claim it held dropped unsent", stats)
	}
	if got := e.prov.Calls(); got != calls || e.prov.Reuses() != 0 {
		t.Fatalf("after the resume the provider got %d more requests, %d reusing a rotated token; want none", got-calls, e.prov.Reuses())
	}
	for _, n := range names {
		e.assertHoldsIssued(t, n)
	}
}
