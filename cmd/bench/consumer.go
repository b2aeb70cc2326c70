package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

// benchRow is the connection the in-process scenarios use.
const benchRow = "bench-000001"

func runWake(ctx context.Context, b *bench, t *table) error {
	wakes, invalidates := b.opts.n(1000), b.opts.n(1000)
	t.setup = fmt.Sprintf("In-process `tokens.Client` (DisableCache). Wake: a Get blocked on a row with a live claim (updating = true); the bench commits an UPDATE storing a new token and times the UPDATE's return → Get's return, %d times in sequence. "+
		"Invalidate: `worker run` with TOKENS_CONCURRENCY=16 refreshes against the provider (latency %s); time from Invalidate to Get returning the new token, %d times, minus the time the mock held its answer (its timer, asked for the latency, fires up to about a millisecond late on this machine: that is the provider's latency, not tokenwarden's).",
		wakes, b.opts.latency, invalidates)
	p, tokenURL, stop := startProvider(time.Hour, b.opts.latency)
	defer stop()
	if err := b.seed(ctx, 1, tokenURL, "now() + interval '1 hour'"); err != nil {
		return err
	}
	// Without the cache every Get reads the row, so it sees the claim at
	// once instead of a cached token not yet dropped by the claim's own
	// notification. A woken Get re-reads the row either way.
	c, err := tokens.Open(ctx, b.dbURL, &tokens.Options{DisableCache: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer c.Close()
	wake, err := wakeLatencies(ctx, b, c, wakes)
	if err != nil {
		return err
	}
	t.add("wake: commit → Get, median", ms(percentile(wake, 50)))
	t.check("wake: commit → Get, p99", ms(percentile(wake, 99)), "≤ 2 ms", percentile(wake, 99) <= 2*time.Millisecond)
	t.add("wake: max", ms(percentile(wake, 100)))
	over, held, err := invalidateLatencies(ctx, b, c, p, invalidates)
	if err != nil {
		return err
	}
	t.add("provider's answer time as the mock measured it, median", ms(percentile(held, 50)))
	med, p99 := percentile(over, 50), percentile(over, 99)
	t.check("invalidate → new token − provider's answer time, median", ms(med), "≤ 5 ms", med <= 5*time.Millisecond)
	t.check("invalidate → new token − provider's answer time, p99", ms(p99), "≤ 5 ms", p99 <= 5*time.Millisecond)
	return nil
}

// wakeLatencies times n blocked Gets woken by committed changes, after 20
// that warm up the connections.
func wakeLatencies(ctx context.Context, b *bench, c *tokens.Client, n int) ([]time.Duration, error) {
	var out []time.Duration
	for i := range n + 20 {
		if _, err := b.pool.Exec(ctx, `UPDATE oauth_tokens SET updating = true, updating_until = now() + interval '1 minute' WHERE name = $1`, benchRow); err != nil {
			return nil, err
		}
		// Let the claim's own notification reach the client, then let Get
		// read the row and block: the sleeps set the scene, the timing
		// starts at the commit.
		time.Sleep(5 * time.Millisecond)
		woken := make(chan error, 1)
		var at time.Time
		var tok *tokens.Token
		go func() {
			var err error
			tok, err = c.Get(ctx, benchRow)
			at = time.Now()
			woken <- err
		}()
		time.Sleep(5 * time.Millisecond)
		want := fmt.Sprintf("at-wake-%d", i)
		if _, err := b.pool.Exec(ctx, `UPDATE oauth_tokens SET access_token = $2, access_token_expires = now() + interval '1 hour',
			updating = false, updating_until = NULL, version = version + 1 WHERE name = $1`, benchRow, want); err != nil {
			return nil, err
		}
		committed := time.Now()
		if err := <-woken; err != nil {
			return nil, err
		}
		if tok.AccessToken != want {
			return nil, fmt.Errorf("wake %d: Get returned %q, want %q", i, tok.AccessToken, want)
		}
		if i >= 20 {
			out = append(out, at.Sub(committed))
		}
	}
	return out, nil
}

// invalidateLatencies times n Invalidate → Get returning a new token round
// trips, after 5 that warm up, with `worker run` refreshing. It returns each
// round trip minus the time the mock held that answer, and those hold times.
func invalidateLatencies(ctx context.Context, b *bench, c *tokens.Client, p *mockprovider.Server, n int) (over, held []time.Duration, err error) {
	w, err := b.startWorker(ctx, "run", 16)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = w.stop(); err = errors.Join(err, w.wait().err) }()
	for i := range n + 5 {
		old, err := c.Get(ctx, benchRow)
		if err != nil {
			return nil, nil, err
		}
		calls, held0, start := p.Calls(), p.Held(), time.Now()
		if err := c.Invalidate(ctx, benchRow, old.AccessToken); err != nil {
			return nil, nil, err
		}
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		tok, err := c.Get(gctx, benchRow)
		took := time.Since(start)
		cancel()
		switch {
		case err != nil:
			return nil, nil, fmt.Errorf("invalidate %d: %w", i, err)
		case tok.AccessToken == old.AccessToken || p.Calls()-calls != 1:
			return nil, nil, fmt.Errorf("invalidate %d: Get returned the old token or the provider saw %d calls, want 1", i, p.Calls()-calls)
		case i >= 5:
			h := p.Held() - held0
			over, held = append(over, took-h), append(held, h)
		}
	}
	return over, held, nil
}

func runRead(ctx context.Context, b *bench, t *table) error {
	n := b.opts.n(10_000)
	t.setup = fmt.Sprintf("`tokens.Client.Get` of a valid token, %d timed calls per mode after %d warm-up calls, one caller.", n, n/10)
	if err := b.seed(ctx, 1, "http://127.0.0.1:1/token", "now() + interval '1 hour'"); err != nil {
		return err
	}
	for _, m := range []struct {
		name   string
		cached bool
		target time.Duration
	}{{"from PostgreSQL (DisableCache)", false, 300 * time.Microsecond}, {"from the cache", true, 2 * time.Microsecond}} {
		c, err := tokens.Open(ctx, b.dbURL, &tokens.Options{DisableCache: !m.cached, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return err
		}
		d, err := timeGets(ctx, c, n, m.cached)
		c.Close()
		if err != nil {
			return err
		}
		t.check("Get "+m.name+", median", us(percentile(d, 50)), "≤ "+us(m.target), percentile(d, 50) <= m.target)
		t.add("Get "+m.name+", p99", us(percentile(d, 99)))
	}
	return nil
}

// timeGets times n Gets after a warm-up of at least n/10. The cache only
// serves while the client's notification connection is up, so with cached
// the warm-up goes on, for up to 5 s, until a Get is served from memory.
func timeGets(ctx context.Context, c *tokens.Client, n int, cached bool) ([]time.Duration, error) {
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		d, err := timeGet(ctx, c)
		if err != nil {
			return nil, err
		}
		if i >= n/10 && (!cached || d < 20*time.Microsecond || time.Now().After(deadline)) {
			break
		}
	}
	out := make([]time.Duration, n)
	for i := range out {
		var err error
		if out[i], err = timeGet(ctx, c); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func timeGet(ctx context.Context, c *tokens.Client) (time.Duration, error) {
	start := time.Now()
	_, err := c.Get(ctx, benchRow)
	return time.Since(start), err
}
