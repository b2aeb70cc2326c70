package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/tokenwarden/tokenwarden/internal/backoff"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/spool"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// batch is the outcomes waiting for one flush.
type batch struct {
	outcomes  []outcome
	successes []store.Success
	failures  []store.Failure
	failed    []outcome // the outcomes behind failures, index for index
	skipped   []store.ClaimRef
	expired   int // how many of skipped were dropped for an expired claim
}

func (b *batch) add(o outcome) {
	b.outcomes = append(b.outcomes, o)
	switch {
	case o.skipped:
		b.skipped = append(b.skipped, store.ClaimRef{ID: o.claim.ID, ClaimID: *o.claim.ClaimID})
		if o.expired {
			b.expired++
		}
	case o.err != nil:
		b.failures = append(b.failures, failureOf(o))
		b.failed = append(b.failed, o)
	default:
		b.successes = append(b.successes, successOf(o))
	}
}

func (b *batch) len() int { return len(b.outcomes) }

// reset empties b for reuse, keeping its arrays: in a burst the storer
// fills a batch of hundreds of outcomes many times a second, and growing
// fresh slices each time was a tenth of the worker's allocations. Clearing
// drops the references to the tokens the batch held.
func (b *batch) reset() {
	clear(b.outcomes)
	clear(b.successes)
	clear(b.failures)
	clear(b.failed)
	clear(b.skipped)
	b.outcomes, b.successes, b.failures = b.outcomes[:0], b.successes[:0], b.failures[:0]
	b.failed, b.skipped = b.failed[:0], b.skipped[:0]
	b.expired = 0
}

// storeOutcomes writes outcomes in batches until the channel closes.
func (w *Worker) storeOutcomes(ctx context.Context, in <-chan outcome, slots *slots) Stats {
	var total Stats
	b := &batch{}
	var timer <-chan time.Time
	flush := func() {
		if b.len() == 0 {
			return
		}
		s := w.flush(ctx, b, in)
		slots.release(b.len())
		total.add(s)
		b.reset() // flush keeps no reference to b
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
	s.Expired += o.Expired
}

// flush writes one batch, retrying until it lands. While the worker runs it
// never gives up: the batch may hold refresh tokens the provider has
// already rotated, which exist nowhere else. From its first failed store
// the batch is also in the spool, and so is every outcome that arrives on
// more while flush waits to retry (it joins the batch), so a crash during
// an outage loses no answer the worker has received; a successful store
// removes the files. Once ctx has ended, a batch wholly spooled is left for
// the next start to replay, and one that is not is retried for StopTimeout.
func (w *Worker) flush(ctx context.Context, b *batch, more <-chan outcome) Stats {
	sctx := context.WithoutCancel(ctx)
	var disk spooled
	var deadline time.Time
	wait := backoff.Backoff{Policy: backoff.Policy{Base: 50 * time.Millisecond, Max: 5 * time.Second}}
	for attempt := 1; ; attempt++ {
		wctx, cancel := context.WithTimeout(sctx, w.cfg.StoreTimeout)
		stats, err := w.write(wctx, b)
		cancel()
		if err == nil {
			w.unspool(disk.files...)
			return stats
		}
		if store.IsDataError(err) {
			// Retrying the same data fails the same way: find the row at
			// fault instead of stalling every refresh behind it. The
			// spooled copies go once that is stored.
			stats := w.flushPoisoned(ctx, b, err)
			w.unspool(disk.files...)
			return stats
		}
		w.spoolRest(b, &disk)
		if ctx.Err() != nil {
			if w.cfg.Spool != nil && disk.holdsAll(b) {
				return Stats{}
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(w.cfg.StopTimeout)
			}
			if time.Now().After(deadline) {
				w.log.Error("gave up storing refresh results while stopping", "count", b.len(), "names", names(b), "err", err)
				return Stats{}
			}
		}
		w.cfg.Observer.StoreRetried()
		d := wait.Next()
		w.log.Warn("storing refresh results failed; retrying", "count", b.len(), "attempt", attempt, "err", err, "retry_in", d)
		more = w.awaitRetry(b, more, d, &disk)
	}
}

// awaitRetry waits d before the next store attempt. Outcomes that arrive
// on in meanwhile join b and go to the spool within FlushInterval, grouped
// as the storer groups them: waiting in memory for the database they
// would be lost with the process. It returns in, or nil once in is closed.
func (w *Worker) awaitRetry(b *batch, in <-chan outcome, d time.Duration, disk *spooled) <-chan outcome {
	retry := time.NewTimer(d)
	defer retry.Stop()
	var linger <-chan time.Time // set while arrivals gather for the spool
	for {
		select {
		case o, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			b.add(o)
			if linger == nil {
				linger = time.After(w.cfg.FlushInterval)
			}
		case <-linger:
			linger = nil
			w.spoolRest(b, disk)
		case <-retry.C:
			w.spoolRest(b, disk)
			return in
		}
	}
}

// flushPoisoned stores a batch the database refused for its data: one
// outcome at a time, so that only the outcome at fault is lost. A success
// that cannot be stored is recorded as a failure, loudly: its answer is
// gone, and with a rotating provider the connection may need
// re-authorization.
func (w *Worker) flushPoisoned(ctx context.Context, b *batch, cause error) Stats {
	if b.len() > 1 {
		var total Stats
		for _, o := range b.outcomes {
			single := &batch{}
			single.add(o)
			total.add(w.flush(ctx, single, nil))
		}
		return total
	}
	o := b.outcomes[0]
	if o.err != nil || o.skipped {
		w.log.Error("a refresh result could not be stored", "name", o.claim.Name, "err", cause)
		return Stats{}
	}
	// The answer is lost, but not a rotated refresh token in it: the
	// provider has retired the one the row holds.
	w.log.Error("the database refused a provider's answer; storing only its refresh token", "name", o.claim.Name, "err", cause)
	o.rotated = o.res.RefreshToken
	o.err, o.res = fmt.Errorf("the provider's answer could not be stored: %w", cause), nil
	single := &batch{}
	single.add(o)
	return w.flush(ctx, single, nil)
}

// spooled records which outcomes of a batch are in the spool, and where:
// outcomes are only ever appended to a batch, so a count of each kind says
// which.
type spooled struct {
	files               []string
	successes, failures int // b.successes[:successes], b.failures[:failures]
}

func (d *spooled) holdsAll(b *batch) bool {
	return d.successes == len(b.successes) && d.failures == len(b.failures)
}

// spoolRest writes the outcomes of b not yet in the spool to a file of
// their own. Claims given back unattempted are not spooled: they hold no
// answer, and their lease runs out by itself.
func (w *Worker) spoolRest(b *batch, d *spooled) {
	if w.cfg.Spool == nil || d.holdsAll(b) {
		return
	}
	rest := spool.Batch{Successes: b.successes[d.successes:], Failures: b.failures[d.failures:]}
	n := len(rest.Successes) + len(rest.Failures)
	path, err := w.cfg.Spool.Write(rest)
	if err != nil {
		w.log.Error("writing unstored refresh results to the spool failed", "count", n, "names", names(b), "err", err)
		return
	}
	d.files = append(d.files, path)
	d.successes, d.failures = len(b.successes), len(b.failures)
	w.log.Warn("refresh results spooled until the database takes them", "count", n, "file", path)
	w.spoolChecked.Store(false)
}

func (w *Worker) unspool(paths ...string) {
	for _, path := range paths {
		if err := w.cfg.Spool.Remove(path); err != nil {
			// Replaying it later is harmless: its claims are fenced.
			w.log.Warn("removing a stored batch from the spool failed", "file", path, "err", err)
		}
	}
}

// replaySpool stores the batches an earlier run spooled, before anything is
// claimed. A batch whose claims were taken over meanwhile is refused row by
// row by the fence, as it would have been then.
func (w *Worker) replaySpool(ctx context.Context) error {
	if w.cfg.Spool == nil || w.spoolChecked.Load() {
		return nil
	}
	entries, unreadable, err := w.cfg.Spool.Pending()
	if err != nil {
		return err
	}
	for _, u := range unreadable {
		// Set aside rather than failing every pass: the rest of the spool
		// and every other connection are still refreshed.
		w.log.Error("a spool file cannot be read and was set aside; it may hold rotated tokens found nowhere else",
			"file", u.Path, "err", u.Err)
	}
	for _, e := range entries {
		b := &batch{}
		for _, s := range e.Batch.Successes {
			b.successes = append(b.successes, s)
			res := &provider.Result{RefreshToken: s.RefreshToken, Expiry: s.AccessTokenExpires, RefreshExpiry: s.RefreshTokenExpires}
			b.outcomes = append(b.outcomes, outcome{claim: replayed(s.ID, s.Name), res: res})
		}
		for _, f := range e.Batch.Failures {
			o := outcome{claim: replayed(f.ID, f.Name), err: errors.New(f.LastError)}
			b.failures = append(b.failures, f)
			b.failed = append(b.failed, o)
			b.outcomes = append(b.outcomes, o)
		}
		stats, err := w.write(ctx, b)
		if err != nil {
			return fmt.Errorf("replay spooled results: %w", err)
		}
		w.log.Info("replayed spooled refresh results", "file", e.Path, "stored", stats.Refreshed, "fenced", stats.Fenced)
		w.unspool(e.Path)
	}
	w.spoolChecked.Store(true)
	return nil
}

func replayed(id uuid.UUID, name string) store.Claimed {
	var c store.Claimed
	c.ID, c.Name = id, name
	return c
}

// write stores a batch: successes, failures and unattempted claims, each
// in one statement.
func (w *Worker) write(ctx context.Context, b *batch) (Stats, error) {
	var s Stats
	if len(b.successes) > 0 {
		stored, err := w.store.StoreSuccesses(ctx, b.successes, w.cfg.RefreshBefore)
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
		s.Released, s.Expired = len(b.skipped)-b.expired, b.expired
	}
	return s, nil
}

func (w *Worker) logSuccess(o outcome, version int64) {
	if o.res.Warning != "" {
		w.log.Warn("stored a refresh answer despite an anomaly", "name", o.claim.Name,
			"provider", o.claim.Provider, "anomaly", o.res.Warning)
	}
	if rx := o.res.RefreshExpiry; rx != nil && time.Until(*rx) < w.cfg.ReauthWarning {
		w.log.Warn("refresh token expires soon; re-authorize the connection before then",
			"name", o.claim.Name, "refresh_token_expires", rx.UTC().Format(time.RFC3339))
	}
	// A burst stores thousands a second: build the line only if it is kept.
	if !w.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	attrs := []any{"name", o.claim.Name, "provider", o.claim.Provider, "version", version,
		"rotated", o.res.RefreshToken != "", "took", o.took.Round(time.Millisecond)}
	if o.res.Expiry != nil {
		attrs = append(attrs, "expires_in", time.Until(*o.res.Expiry).Round(time.Second))
	} else {
		attrs = append(attrs, "expires_in", "never")
	}
	w.log.Info("refreshed", attrs...)
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
		case f.Config:
			s.Reauth++ // the row is needs_reauth all the same
			w.cfg.Observer.Refreshed(o.claim.Provider, "config", o.took)
			w.log.Error("refresh refused before sending: the connection's configuration is wrong; fix it", "name", name, "err", f.LastError)
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
			ev := FailureEvent{Name: name, Provider: o.claim.Provider, NeedsReauth: f.Reauth, Config: f.Config,
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
