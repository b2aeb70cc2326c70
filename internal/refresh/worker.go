package refresh

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/backoff"
	"github.com/tokenwarden/tokenwarden/internal/notify"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/spool"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testsignal"
)

// Exchanger refreshes one connection at its provider.
type Exchanger interface {
	Refresh(ctx context.Context, req provider.Request) (*provider.Result, error)
}

// Observer receives the worker's events, for metrics. Calls come from the
// worker's goroutines and must not block.
type Observer interface {
	// Refreshed reports one finished attempt; outcome is "success",
	// "transient", "reauth", "config" (the connection's configuration was
	// refused, nothing was sent) or "fenced".
	Refreshed(provider, outcome string, took time.Duration)
	// TakenOver reports a claim taken over from a worker whose lease ran out.
	TakenOver()
	// StoreRetried reports a failed store of a batch that will be retried.
	StoreRetried()
	// Failed reports a connection whose refresh failed, after the failure
	// was stored (for webhooks: needs_reauth, or failing again and again).
	Failed(FailureEvent)
}

// FailureEvent describes a stored refresh failure. It never holds a secret.
type FailureEvent struct {
	Name, Provider string
	NeedsReauth    bool
	Failures       int // consecutive failures, this one included
	LastError      string
	RetryIn        time.Duration // 0 with NeedsReauth
	// Config, with NeedsReauth, says that the connection's configuration
	// was refused, not its grant: fixing it, not re-authorizing, helps.
	Config bool
}

type nopObserver struct{}

func (nopObserver) Refreshed(string, string, time.Duration) {}
func (nopObserver) TakenOver()                              {}
func (nopObserver) StoreRetried()                           {}
func (nopObserver) Failed(FailureEvent)                     {}

// Spooler keeps batches of results on disk until they are stored.
type Spooler interface {
	Write(spool.Batch) (path string, err error)
	Remove(path string) error
	// Pending returns the batches to replay, and the files it could not
	// read and set aside.
	Pending() ([]spool.Entry, []spool.Unreadable, error)
}

// Config tunes a Worker. Zero values take the documented defaults.
type Config struct {
	PollInterval  time.Duration // longest sleep between passes; default 1m
	RefreshBefore time.Duration // refresh tokens expiring within this; default 5m
	Lease         time.Duration // how long a claim holds; default 2m
	// HTTPTimeout bounds one refresh attempt; default 30s. It must be
	// shorter than Lease: a claim's request is sent only while at least
	// this much of its lease is left.
	HTTPTimeout time.Duration
	Concurrency int // provider requests in flight; default 16
	// ClaimBatch is the most rows one claim statement takes; default
	// Concurrency, at most 1000.
	ClaimBatch int
	// FlushSize and FlushInterval bound a store batch: it is written when
	// it holds FlushSize outcomes or FlushInterval after its first one.
	FlushSize     int
	FlushInterval time.Duration
	// ReauthWarning: a refresh whose refresh token dies sooner than this
	// is logged as a warning, so someone re-authorizes in time; default 7 days.
	ReauthWarning time.Duration
	// EventsRetention is how long refresh events are kept; Run prunes
	// older ones hourly. Default 30 days.
	EventsRetention time.Duration
	// Spool keeps results durable from their first failed store until
	// they are stored; nil means none (results are then only retried in
	// memory, and lost if the process dies meanwhile).
	Spool Spooler
	// Observer receives events for metrics; nil means none.
	Observer Observer
	// StopTimeout bounds how long a stopping worker keeps retrying to store
	// results it already has; default Lease.
	StopTimeout time.Duration
	// Listener is a LISTEN connection the process shares (notify.Hub),
	// for instance with the token HTTP API it serves: Run then wakes on
	// its refresh requests instead of listening on a connection of its
	// own.
	Listener Listener
	// StoreTimeout bounds one attempt to store a batch; default 10s. A
	// database that hangs (a partition, a lock held elsewhere) must fail
	// the attempt so that the batch is spooled; without a bound the
	// answers would wait in memory for the kernel's TCP timeout. An
	// attempt cut off after the database committed it is harmless: its
	// retry finds the claims gone and is fenced.
	StoreTimeout time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.PollInterval, time.Minute)
	def(&c.RefreshBefore, 5*time.Minute)
	def(&c.Lease, 2*time.Minute)
	def(&c.HTTPTimeout, 30*time.Second)
	def(&c.FlushInterval, 5*time.Millisecond)
	def(&c.StopTimeout, c.Lease)
	def(&c.StoreTimeout, 10*time.Second)
	def(&c.ReauthWarning, 7*24*time.Hour)
	def(&c.EventsRetention, 30*24*time.Hour)
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.ClaimBatch <= 0 {
		c.ClaimBatch = min(c.Concurrency, 1000)
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.FlushSize <= 0 {
		c.FlushSize = 500
	}
	return c
}

// Worker refreshes due connections.
type Worker struct {
	store *store.Store
	ex    Exchanger
	cfg   Config
	log   *slog.Logger
	wake  chan struct{}
	// spoolChecked is set once the spool holds nothing this worker has
	// not stored: it is read at the first pass and after this worker
	// spools, not on every pass.
	spoolChecked atomic.Bool
	// pauseHook, set only by tests, runs at the start of each attempt: it
	// stands for the process being paused between claim and send.
	pauseHook func()
	// TestSignals report the worker's progress to a test that Inits them.
	TestSignals TestSignals
}

// TestSignals are the events a test can wait on; see internal/testsignal.
type TestSignals struct {
	// PassDone is sent each pass of Run's, with its stats.
	PassDone testsignal.Signal[Stats]
}

// Init turns the signals on for tb; call it before Run.
func (s *TestSignals) Init(tb testsignal.TB) { s.PassDone.Init(tb) }

// New returns a Worker.
func New(st *store.Store, ex Exchanger, cfg Config, log *slog.Logger) *Worker {
	return &Worker{store: st, ex: ex, cfg: cfg.withDefaults(), log: log, wake: make(chan struct{}, 1)}
}

// Stats counts the outcomes of a pass.
type Stats struct {
	Claimed   int // rows claimed
	Refreshed int // refreshes stored
	Failed    int // transient failures, released with backoff
	Reauth    int // connections marked needs_reauth
	Fenced    int // outcomes refused because the claim was taken over
	Released  int // claims given back unattempted because the worker is stopping
	Expired   int // claims dropped unsent: too little of their lease was left
}

// Errors reports whether any refresh in the pass failed.
func (s Stats) Errors() int { return s.Failed + s.Reauth + s.Fenced }

// Wake asks a running worker for a pass now. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Listener is a LISTEN connection shared by several users of a process;
// notify.Hub is one.
type Listener interface {
	Subscribe(channel string, notify func(payload string), connected func(up bool)) (unsubscribe func())
}

// Run refreshes connections until ctx ends. When ctx ends it stops claiming,
// finishes the refreshes in flight, stores them, unsubscribes and returns
// nil. It wakes on refresh requests from Config.Listener; without one it
// polls only. The listener is the caller's (one LISTEN connection per
// process, shared with the token API), so Run starts no goroutine that
// could outlive it.
func (w *Worker) Run(ctx context.Context) error {
	if w.cfg.Listener != nil {
		// A (re)connection may have missed requests: run a pass.
		defer w.cfg.Listener.Subscribe(notify.RefreshChannel, func(string) { w.Wake() }, func(up bool) {
			if up {
				w.Wake()
			}
		})()
	}
	// A pass fails when the database does: retry it soon, but do not
	// hammer a database that is down.
	errBackoff := backoff.Backoff{Policy: backoff.Policy{Base: time.Second, Max: 30 * time.Second}}
	var pruned time.Time
	for {
		if time.Since(pruned) > time.Hour {
			pruned = time.Now()
			w.pruneEvents(ctx)
		}
		stats, err := w.Pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		w.TestSignals.PassDone.Signal(stats)
		var wait time.Duration
		if err != nil {
			wait = errBackoff.Next()
			w.log.Error("refresh pass failed; retrying", "err", err, "retry_in", wait)
		} else {
			errBackoff.Reset()
			if stats.Claimed > 0 {
				w.log.Info("pass done", "refreshed", stats.Refreshed, "failed", stats.Failed, "needs_reauth", stats.Reauth, "fenced", stats.Fenced, "expired", stats.Expired)
			}
			wait = w.untilNextDue(ctx)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (w *Worker) pruneEvents(ctx context.Context) {
	n, err := w.store.PruneEvents(ctx, w.cfg.EventsRetention)
	switch {
	case err != nil && ctx.Err() == nil:
		w.log.Warn("pruning old refresh events failed", "err", err)
	case n > 0:
		w.log.Info("pruned old refresh events", "deleted", n, "retention", w.cfg.EventsRetention)
	}
}

// untilNextDue returns how long to sleep: until the next row becomes due,
// at most the poll interval. A floor keeps a row that is due but not yet
// claimable from turning this into a busy loop.
func (w *Worker) untilNextDue(ctx context.Context) time.Duration {
	d, ok, err := w.store.NextDue(ctx, w.cfg.RefreshBefore)
	if err != nil || !ok || d > w.cfg.PollInterval {
		return w.cfg.PollInterval
	}
	return max(d, 100*time.Millisecond)
}

// job is a claimed row and the last moment its request may be sent.
type job struct {
	claim store.Claimed
	// sendBy is the claim's lease end less one HTTP timeout, on this
	// process's monotonic clock, counted from just before the claim
	// statement was sent (so never later than the database's lease end).
	// A request sent after it could still be running when the lease ends.
	sendBy time.Time
}

// sendBy is the send-by time of the rows claimed by a statement sent at
// sent.
func (w *Worker) sendBy(sent time.Time) time.Time {
	return sent.Add(w.cfg.Lease - w.cfg.HTTPTimeout)
}

// pastDue is how far now is past sendBy, by whichever of the two clocks
// says more. The monotonic clock is immune to wall-clock steps, but on Linux
// it stands still while the machine is suspended, and a frozen VM may resume
// with only its wall clock moved on; either says the lease may be gone. A
// wall clock stepped forward costs at most a claim dropped early, which
// another pass takes again; sending late could cost the connection.
func pastDue(sendBy, now time.Time) time.Duration {
	return max(now.Sub(sendBy), now.Round(0).Sub(sendBy.Round(0)))
}

// outcome is one attempted (or abandoned) claim.
type outcome struct {
	claim   store.Claimed
	res     *provider.Result
	err     error
	skipped bool // never attempted: the worker is stopping, or expired
	expired bool // never attempted: the claim had too little lease left
	took    time.Duration
	// rotated is the refresh token of an answer the database refused to
	// store whole: it goes in with the failure instead (flushPoisoned).
	rotated string
}

// Pass claims and refreshes due rows until none is left. When ctx ends it
// stops claiming and returns after the claimed rows are stored or released.
func (w *Worker) Pass(ctx context.Context) (Stats, error) {
	if err := w.replaySpool(ctx); err != nil {
		return Stats{}, err
	}
	slots := newSlots(2 * w.cfg.Concurrency)
	jobs := make(chan job, 2*w.cfg.Concurrency)
	outcomes := make(chan outcome, 2*w.cfg.Concurrency)
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				outcomes <- w.attempt(ctx, j)
			}
		}()
	}
	storerDone := make(chan Stats, 1)
	go func() { storerDone <- w.storeOutcomes(ctx, outcomes, slots) }()

	claimed, claimErr := w.claimAll(ctx, jobs, slots)
	close(jobs)
	wg.Wait()
	close(outcomes)
	stats := <-storerDone
	stats.Claimed = claimed
	if ctx.Err() != nil {
		claimErr = nil
	}
	return stats, claimErr
}

func (w *Worker) claimAll(ctx context.Context, jobs chan<- job, slots *slots) (int, error) {
	total := 0
	for {
		n := slots.acquireUpTo(ctx, w.cfg.ClaimBatch)
		if n == 0 {
			return total, nil
		}
		sendBy := w.sendBy(time.Now())
		rows, err := w.store.Claim(ctx, n, w.cfg.RefreshBefore, w.cfg.Lease)
		slots.release(n - len(rows))
		if err != nil {
			return total, err
		}
		total += len(rows)
		for _, r := range rows {
			if r.TakenOver {
				w.cfg.Observer.TakenOver()
				w.log.Warn("took over an expired claim", "name", r.Name)
			}
			jobs <- job{claim: r, sendBy: sendBy}
		}
		if len(rows) < n {
			return total, nil
		}
	}
}

// attempt refreshes one claimed row. Once started, a refresh is not
// cancelled by ctx: its answer may carry a rotated refresh token that only
// exists in this process until it is stored.
//
// A job whose send-by time has passed is dropped unsent. The process may
// have been paused (SIGSTOP, a VM freeze, a long GC) or the job may have
// waited too long for a refresher: either way the claim may already have
// been taken over and the token rotated by another worker, and sending the
// old refresh token again would have the provider's reuse detection revoke
// the connection. Its claim is released, fenced like any store.
func (w *Worker) attempt(ctx context.Context, j job) outcome {
	if w.pauseHook != nil {
		w.pauseHook()
	}
	c := j.claim
	if ctx.Err() != nil {
		return outcome{claim: c, skipped: true}
	}
	if late := pastDue(j.sendBy, time.Now()); late >= 0 {
		w.log.Warn("claim too close to its lease end to send the refresh; dropped unsent (was the process paused?)",
			"name", c.Name, "late_by", late.Round(time.Millisecond))
		return outcome{claim: c, skipped: true, expired: true}
	}
	if c.UnsealErr != nil {
		// Sending an undecryptable value would be sending garbage to the
		// provider, which may count it against the connection.
		return outcome{claim: c, err: fmt.Errorf("cannot decrypt the connection's secrets: %w", c.UnsealErr)}
	}
	req, err := RequestOf(&c.OAuthToken)
	if err != nil {
		return outcome{claim: c, err: err}
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.HTTPTimeout)
	defer cancel()
	start := time.Now()
	res, err := w.ex.Refresh(hctx, req)
	return outcome{claim: c, res: res, err: err, took: time.Since(start)}
}

// retryDelay is the backoff after a transient failure: exponential in the
// number of consecutive failures, and never sooner than the provider's
// Retry-After (up to an hour).
func retryDelay(failures int, retryAfter time.Duration) time.Duration {
	p := backoff.Policy{Base: 10 * time.Second, Max: 10 * time.Minute}
	return p.After(failures, retryAfter, time.Hour)
}

// failureOf turns a refresh error into the row's failure record.
func failureOf(o outcome) store.Failure {
	c, err := o.claim, o.err
	f := store.Failure{ID: c.ID, ClaimID: *c.ClaimID, Name: c.Name, LastError: err.Error(), DurationMS: o.took.Milliseconds()}
	// A rotated refresh token from the answer (or from an answer the
	// database refused whole) is stored with the failure, sealed for the
	// identity the row was claimed with.
	rotated := o.rotated
	var pe *provider.Error
	if errors.As(err, &pe) {
		rotated = cmp.Or(pe.RefreshToken, rotated)
		f.Reauth, f.Config = pe.Reauth, pe.Config
		f.HTTPStatus = pe.Status
		f.Delay = retryDelay(c.FailureCount+1, pe.RetryAfter)
		if pe.RetryWithin > 0 {
			f.Delay = min(f.Delay, pe.RetryWithin)
		}
	} else {
		// Secrets that do not open in their row under checked keys: the
		// row was changed behind the worker's back. Nothing was sent, and
		// retrying cannot help.
		f.Reauth = errors.Is(err, store.ErrRowChanged)
		f.Config = f.Reauth
		f.Delay = retryDelay(c.FailureCount+1, 0)
	}
	if rotated != "" {
		f.RefreshToken, f.Identity = rotated, store.IdentityOf(&c.OAuthToken)
	}
	return f
}

func successOf(o outcome) store.Success {
	c, r := o.claim, o.res
	return store.Success{
		ID:                  c.ID,
		ClaimID:             *c.ClaimID,
		Name:                c.Name,
		DurationMS:          o.took.Milliseconds(),
		AccessToken:         r.AccessToken,
		RefreshToken:        r.RefreshToken,
		AccessTokenExpires:  r.Expiry,
		RefreshTokenExpires: r.RefreshExpiry,
		JSONData:            r.JSONData,
		RefreshNotBefore:    nextRefresh(r),
		Warning:             r.Warning,
		Identity:            store.IdentityOf(&c.OAuthToken),
	}
}

// MinRefreshInterval is the least time between two scheduled refreshes of
// one connection, whatever lifetime the provider grants: a provider that
// issues 10-second tokens gets a request every 10 s, not a loop. Invalidate
// and `worker refresh` are requests, not schedule, and may come sooner.
const MinRefreshInterval = 10 * time.Second

// nextRefresh is the earliest the next scheduled refresh of r's connection
// may run: halfway through the token's lifetime, and at least
// MinRefreshInterval after it was issued. The claim also waits for the
// expiry to come within RefreshBefore, so a connection is due at
// expiry - min(RefreshBefore, lifetime/2), never sooner than the floor: a
// 1 h token 5 min before expiry, a 5 min token after 2.5 min, a 60 s token
// after 30 s. Without it, any token shorter than RefreshBefore would be due
// again the moment it is stored. nil for a token that never expires.
func nextRefresh(r *provider.Result) *time.Time {
	if r.Expiry == nil || r.Issued.IsZero() {
		return nil
	}
	t := r.Issued.Add(max(r.Expiry.Sub(r.Issued)/2, MinRefreshInterval))
	return &t
}

// RefreshByName refreshes one connection now, whatever its expiry, under
// the same claim rules as a pass.
func (w *Worker) RefreshByName(ctx context.Context, name string) error {
	sendBy := w.sendBy(time.Now())
	c, err := w.store.ClaimByName(ctx, name, w.cfg.Lease)
	if err != nil {
		return err
	}
	out := w.attempt(ctx, job{claim: *c, sendBy: sendBy})
	b := &batch{}
	b.add(out)
	stats := w.flush(ctx, b, nil)
	switch {
	case out.expired:
		return fmt.Errorf("refresh %s: not sent: the claim ran out before the request could go", name)
	case out.err != nil:
		return fmt.Errorf("refresh %s: %w", name, out.err)
	case stats.Fenced > 0:
		return fmt.Errorf("refresh %s: result refused, the claim was taken over", name)
	}
	return nil
}
