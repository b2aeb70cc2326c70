package refresh

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// batch is the outcomes waiting for one flush.
type batch struct {
	outcomes  []outcome
	successes []store.Success
	failures  []store.Failure
	failed    []outcome // the outcomes behind failures, index for index
	skipped   []uuid.UUID
}

func (b *batch) add(o outcome) {
	b.outcomes = append(b.outcomes, o)
	switch {
	case o.skipped:
		b.skipped = append(b.skipped, *o.claim.ClaimID)
	case o.err != nil:
		b.failures = append(b.failures, failureOf(o))
		b.failed = append(b.failed, o)
	default:
		b.successes = append(b.successes, successOf(o))
	}
}

func (b *batch) len() int { return len(b.outcomes) }

// storeOutcomes writes outcomes in batches until the channel closes.
func (w *Worker) storeOutcomes(ctx context.Context, in <-chan outcome, slots *slots) Stats {
	var total Stats
	b := &batch{}
	var timer <-chan time.Time
	flush := func() {
		if b.len() == 0 {
			return
		}
		s := w.flush(ctx, b)
		slots.release(b.len())
		total.add(s)
		b = &batch{}
		timer = nil
	}
	for {
		select {
		case o, ok := <-in:
			if !ok {
				flush()
				return total
			}
			b.add(o)
			if b.len() == 1 {
				timer = time.After(w.cfg.FlushInterval)
			}
			if b.len() >= w.cfg.FlushSize {
				flush()
			}
		case <-timer:
			flush()
		}
	}
}

func (s *Stats) add(o Stats) {
	s.Refreshed += o.Refreshed
	s.Failed += o.Failed
	s.Reauth += o.Reauth
	s.Fenced += o.Fenced
	s.Released += o.Released
}

// flush writes one batch, retrying until it lands. While the worker runs it
// never gives up: the batch may hold refresh tokens the provider has
// already rotated, which exist nowhere else. Once ctx has ended it keeps
// trying for StopTimeout, then logs what it could not store.
func (w *Worker) flush(ctx context.Context, b *batch) Stats {
	sctx := context.WithoutCancel(ctx)
	var deadline time.Time
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		stats, err := w.write(sctx, b)
		if err == nil {
			return stats
		}
		if ctx.Err() != nil && deadline.IsZero() {
			deadline = time.Now().Add(w.cfg.StopTimeout)
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			w.log.Error("gave up storing refresh results while stopping", "count", b.len(), "names", names(b), "err", err)
			return Stats{}
		}
		w.cfg.Observer.StoreRetried()
		w.log.Warn("storing refresh results failed; retrying", "count", b.len(), "attempt", attempt, "err", err, "retry_in", backoff)
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// write stores a batch: successes, failures and unattempted claims, each
// in one statement.
func (w *Worker) write(ctx context.Context, b *batch) (Stats, error) {
	var s Stats
	if len(b.successes) > 0 {
		stored, err := w.store.StoreSuccesses(ctx, b.successes)
		if err != nil {
			return s, err
		}
		ok := make(map[uuid.UUID]int64, len(stored))
		for _, r := range stored {
			ok[r.ID] = r.Version
		}
		for _, o := range b.outcomes {
			if o.skipped || o.err != nil {
				continue
			}
			if v, found := ok[o.claim.ID]; found {
				s.Refreshed++
				w.cfg.Observer.Refreshed(o.claim.Provider, "success", o.took)
				w.logSuccess(o, v)
			} else {
				s.Fenced++
				w.cfg.Observer.Refreshed(o.claim.Provider, "fenced", o.took)
				w.log.Warn("refresh result refused: the claim was taken over by another worker", "name", o.claim.Name)
			}
		}
	}
	if len(b.failures) > 0 {
		released, err := w.store.StoreFailures(ctx, b.failures)
		if err != nil {
			return s, err
		}
		s.add(w.logFailures(b, released))
	}
	if len(b.skipped) > 0 {
		if err := w.store.Release(ctx, b.skipped); err != nil {
			return s, err
		}
		s.Released = len(b.skipped)
	}
	return s, nil
}

func (w *Worker) logSuccess(o outcome, version int64) {
	attrs := []any{"name", o.claim.Name, "provider", o.claim.Provider, "version", version,
		"rotated", o.res.RefreshToken != "", "took", o.took.Round(time.Millisecond)}
	if o.res.Expiry != nil {
		attrs = append(attrs, "expires_in", time.Until(*o.res.Expiry).Round(time.Second))
	} else {
		attrs = append(attrs, "expires_in", "never")
	}
	w.log.Info("refreshed", attrs...)
	if rx := o.res.RefreshExpiry; rx != nil && time.Until(*rx) < w.cfg.ReauthWarning {
		w.log.Warn("refresh token expires soon; re-authorize the connection before then",
			"name", o.claim.Name, "refresh_token_expires", rx.UTC().Format(time.RFC3339))
	}
}

func (w *Worker) logFailures(b *batch, released []uuid.UUID) Stats {
	var s Stats
	ok := make(map[uuid.UUID]bool, len(released))
	for _, id := range released {
		ok[id] = true
	}
	for i, f := range b.failures {
		o := b.failed[i]
		name := o.claim.Name
		switch {
		case !ok[f.ID]:
			s.Fenced++
			w.cfg.Observer.Refreshed(o.claim.Provider, "fenced", o.took)
			w.log.Warn("failure record refused: the claim was taken over by another worker", "name", name)
		case f.Reauth:
			s.Reauth++
			w.cfg.Observer.Refreshed(o.claim.Provider, "reauth", o.took)
			w.log.Error("refresh refused; connection needs re-authorization", "name", name, "err", f.LastError)
		default:
			s.Failed++
			w.cfg.Observer.Refreshed(o.claim.Provider, "transient", o.took)
			w.log.Warn("refresh failed; will retry", "name", name, "err", f.LastError, "retry_in", f.Delay.Round(time.Second))
		}
		if ok[f.ID] {
			ev := FailureEvent{Name: name, Provider: o.claim.Provider, NeedsReauth: f.Reauth,
				Failures: o.claim.FailureCount + 1, LastError: f.LastError}
			if !f.Reauth {
				ev.RetryIn = f.Delay
			}
			w.cfg.Observer.Failed(ev)
		}
	}
	return s
}

func names(b *batch) []string {
	out := make([]string, 0, b.len())
	for _, o := range b.outcomes {
		out = append(out, o.claim.Name)
	}
	return out
}
