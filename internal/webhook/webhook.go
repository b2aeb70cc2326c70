// Package webhook tells an HTTP endpoint when a connection needs a person:
// it went to needs_reauth, its configuration was refused, or its refreshes
// keep failing. It is a refresh.Observer; events are queued in memory and
// delivered by one goroutine with retries, so that the worker never waits
// for the endpoint. The events and their signature are the public package
// pkg/webhook's, which receivers import to check them.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/backoff"
	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/testsignal"
	wire "github.com/tokenwarden/tokenwarden/pkg/webhook"
)

// FailEvery is how many consecutive transient failures make a "failing"
// event: the 3rd, 6th, 9th...
const FailEvery = 3

// Options tune a Notifier; zero values take the defaults.
type Options struct {
	QueueSize   int           // events held while the endpoint is slow; default 1000
	MaxAttempts int           // deliveries tried per event; default 5
	Backoff     time.Duration // wait before the 2nd attempt, doubling, less jitter; default 1s
	MaxBackoff  time.Duration // longest wait between attempts; default 1m
	Timeout     time.Duration // bound on one request; default 10s
	Client      *http.Client  // default: one that does not follow redirects
	Logger      *slog.Logger  // default slog.Default()
}

// Notifier posts events to one URL. Its Observer methods only enqueue.
type Notifier struct {
	url    string
	secret []byte
	opts   Options
	stop   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	queue   []wire.Event
	running bool
	idle    chan struct{} // closed when the drainer stops with nothing queued
	closed  bool

	// TestSignals report each event's fate to a test that Inits them.
	TestSignals TestSignals
}

// TestSignals are the events a test can wait on; see internal/testsignal.
type TestSignals struct {
	Delivered testsignal.Signal[wire.Event] // the endpoint took it
	Dropped   testsignal.Signal[wire.Event] // pushed out of a full queue
	GaveUp    testsignal.Signal[wire.Event] // refused, or out of attempts
}

// Init turns the signals on for tb; call it before the first event.
func (s *TestSignals) Init(tb testsignal.TB) {
	s.Delivered.Init(tb)
	s.Dropped.Init(tb)
	s.GaveUp.Init(tb)
}

// New returns a Notifier posting to endpoint, signing with secret.
func New(endpoint, secret string, opts Options) *Notifier {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1000
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	stop, cancel := context.WithCancel(context.Background())
	idle := make(chan struct{})
	close(idle)
	return &Notifier{url: endpoint, secret: []byte(secret), opts: opts, stop: stop, cancel: cancel, idle: idle}
}

// FromConfig returns a Notifier for TOKENS_WEBHOOK_URL, or nil (no
// observer) when it is not set.
func FromConfig(cfg *config.Config, log *slog.Logger) refresh.Observer {
	if cfg.WebhookURL == "" {
		return nil
	}
	return New(cfg.WebhookURL, cfg.WebhookSecret, Options{Logger: log})
}

// Refreshed is part of refresh.Observer; webhooks ignore it.
func (n *Notifier) Refreshed(string, string, time.Duration) {}

// TakenOver is part of refresh.Observer; webhooks ignore it.
func (n *Notifier) TakenOver() {}

// StoreRetried is part of refresh.Observer; webhooks ignore it.
func (n *Notifier) StoreRetried() {}

// Failed queues a needs_reauth or config_error event, or a failing one on
// every FailEvery-th consecutive failure. It never blocks.
func (n *Notifier) Failed(ev refresh.FailureEvent) {
	kind := wire.NeedsReauth
	if ev.Config {
		kind = wire.ConfigError
	} else if !ev.NeedsReauth {
		if ev.Failures < FailEvery || ev.Failures%FailEvery != 0 {
			return
		}
		kind = wire.Failing
	}
	n.Notify(wire.Event{Event: kind, Name: ev.Name, Provider: ev.Provider, Failures: ev.Failures,
		LastError: ev.LastError, Time: time.Now().UTC().Truncate(time.Millisecond)})
}

// Notify queues e for delivery and returns at once. When the queue is full
// the oldest event is dropped, with a warning.
func (n *Notifier) Notify(e wire.Event) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	var drop *wire.Event
	if len(n.queue) >= n.opts.QueueSize {
		d := n.queue[0]
		drop = &d
		n.queue = n.queue[1:]
	}
	n.queue = append(n.queue, e)
	if !n.running {
		n.running = true
		n.idle = make(chan struct{})
		n.wg.Add(1)
		go n.drain()
	}
	n.mu.Unlock()
	if drop != nil {
		n.TestSignals.Dropped.Signal(*drop)
		n.opts.Logger.Warn("webhook queue full; dropped the oldest event", "event", drop.Event, "name", drop.Name,
			"queue_size", n.opts.QueueSize)
	}
}

// drain delivers queued events one at a time, and ends when none is left;
// Notify starts it again.
func (n *Notifier) drain() {
	defer n.wg.Done()
	for {
		n.mu.Lock()
		if len(n.queue) == 0 || n.closed {
			n.running = false
			close(n.idle)
			n.mu.Unlock()
			return
		}
		e := n.queue[0]
		n.queue[0] = wire.Event{}
		n.queue = n.queue[1:]
		n.mu.Unlock()
		n.deliver(e)
	}
}

func (n *Notifier) deliver(e wire.Event) {
	body, err := json.Marshal(e)
	if err != nil {
		n.TestSignals.GaveUp.Signal(e)
		return
	}
	sig := wire.Sign(n.secret, body)
	wait := backoff.Policy{Base: n.opts.Backoff, Max: n.opts.MaxBackoff}
	for attempt := 1; ; attempt++ {
		status, err := n.post(body, sig)
		if err == nil && status >= 200 && status < 300 {
			n.TestSignals.Delivered.Signal(e)
			return
		}
		retry := err != nil || status >= 500 || status == http.StatusTooManyRequests
		why := slog.Int("status", status)
		if err != nil {
			why = slog.String("err", err.Error())
		}
		if !retry || attempt >= n.opts.MaxAttempts || n.stop.Err() != nil {
			n.TestSignals.GaveUp.Signal(e)
			n.opts.Logger.Warn("webhook not delivered", "event", e.Event, "name", e.Name, "attempts", attempt, why)
			return
		}
		delay := wait.Delay(attempt)
		n.opts.Logger.Debug("webhook delivery failed; retrying", "event", e.Event, "name", e.Name,
			"attempt", attempt, "retry_in", delay, why)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-n.stop.Done():
			t.Stop()
		}
	}
}

// post sends one attempt. Its error never repeats the URL, which often
// embeds a token of its own.
func (n *Notifier) post(body []byte, sig string) (int, error) {
	ctx, cancel := context.WithTimeout(n.stop, n.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("bad webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tokenwarden-webhook")
	req.Header.Set(wire.SignatureHeader, sig)
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Flush waits until every queued event has been delivered or given up, or
// ctx ends.
func (n *Notifier) Flush(ctx context.Context) error {
	n.mu.Lock()
	idle := n.idle
	n.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops delivery at once, abandoning queued events (Flush first to
// deliver them), and waits for the delivery goroutine.
func (n *Notifier) Close() {
	n.mu.Lock()
	n.closed = true
	left := len(n.queue)
	n.queue = nil
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
	if left > 0 {
		n.opts.Logger.Warn("webhook notifier closed with events undelivered", "events", left)
	}
}

// Tee returns an Observer passing every event to a and b; a nil one is
// skipped, and Tee(nil, nil) is nil.
func Tee(a, b refresh.Observer) refresh.Observer {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return tee{a, b}
}

type tee [2]refresh.Observer

func (t tee) Refreshed(p, o string, d time.Duration) {
	t[0].Refreshed(p, o, d)
	t[1].Refreshed(p, o, d)
}
func (t tee) TakenOver()                     { t[0].TakenOver(); t[1].TakenOver() }
func (t tee) StoreRetried()                  { t[0].StoreRetried(); t[1].StoreRetried() }
func (t tee) Failed(ev refresh.FailureEvent) { t[0].Failed(ev); t[1].Failed(ev) }
