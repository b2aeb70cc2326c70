package main

import (
	"context"
	"fmt"
	"time"
)

// dueExpiry makes every seeded row due now, ordered by row number.
const dueExpiry = "now() - interval '1 hour' + g * interval '1 microsecond'"

// passResult is one `worker once` over a table of due rows.
type passResult struct {
	rows      int
	proc      procResult
	refreshed int   // rows at version 1
	lost      int   // rows not holding what the provider issued for them
	calls     int64 // provider requests
	reuses    int64 // rotated refresh tokens presented again
	maxConns  int64 // most worker connections seen on the database
	// meanTook is the mean provider round trip as the worker timed it
	// (oauth_token_events.duration_ms); storeSpan is the time from the
	// first stored batch to the last. Together they say where a pass's
	// wall time went beyond rows / concurrency × latency.
	meanTook  time.Duration
	storeSpan time.Duration
	// meanHeld is the mean time the mock held an answer (its latency as
	// its own clock measured it).
	meanHeld time.Duration
}

func (r passResult) perSecond() float64 { return float64(r.rows) / r.proc.wall.Seconds() }

// duePass seeds rows due rows and refreshes them with one `worker once`.
func duePass(ctx context.Context, b *bench, rows, concurrency int, latency time.Duration) (passResult, error) {
	r := passResult{rows: rows}
	p := startProvider(time.Hour, latency)
	defer p.Close()
	if err := b.seed(ctx, rows, p.TokenURL(), dueExpiry); err != nil {
		return r, err
	}
	sampler, err := b.sampleConns(ctx)
	if err != nil {
		return r, err
	}
	logf("worker once: %d rows, concurrency %d, provider latency %s", rows, concurrency, latency)
	r.proc = b.runWorker(ctx, "once", concurrency, nil)
	r.maxConns = sampler.finish()
	if r.proc.err != nil {
		return r, r.proc.err
	}
	return r, r.verify(ctx, b, p)
}

// verify fills in the checks made after the worker finished.
func (r *passResult) verify(ctx context.Context, b *bench, p *endpoint) error {
	var err error
	if r.refreshed, err = b.count(ctx, "version = 1"); err != nil {
		return err
	}
	if r.lost, err = b.lostAnswers(ctx, p); err != nil {
		return err
	}
	r.calls, r.reuses = p.Calls(), p.Reuses()
	r.meanHeld = p.Held() / time.Duration(max(r.calls, 1))
	return nil
}

// timings reads meanTook and storeSpan from the pass's refresh events.
func (r *passResult) timings(ctx context.Context, b *bench) error {
	var meanMS, spanS float64
	err := b.pool.QueryRow(ctx, `SELECT coalesce(avg(duration_ms), 0), coalesce(extract(epoch FROM max(at) - min(at)), 0)
		FROM oauth_token_events WHERE outcome = 'success'`).Scan(&meanMS, &spanS)
	r.meanTook = time.Duration(meanMS * float64(time.Millisecond))
	r.storeSpan = time.Duration(spanS * float64(time.Second))
	return err
}

func runBurst(ctx context.Context, b *bench) ([]*table, error) {
	o := b.opts
	t := &table{
		title: "burst",
		setup: fmt.Sprintf("%d due rows, one `worker once` with TOKENS_CONCURRENCY=%d, TOKENS_DB_MAX_CONNS=%s, provider latency %s.",
			o.burstRows, o.burstConc, b.dbMaxConnsText(), o.latency),
	}
	r, err := duePass(ctx, b, o.burstRows, o.burstConc, o.latency)
	if err != nil {
		return []*table{t}, err
	}
	cpuPer := r.proc.cpu / time.Duration(max(r.refreshed, 1))
	t.check("wall time", secs(r.proc.wall), "≤ 20 s", r.proc.wall <= 20*time.Second)
	t.add("refreshes/s", fmt.Sprintf("%.0f", r.perSecond()))
	t.check("lost answers", fmt.Sprint(r.lost), "0", r.lost == 0)
	t.check("worker CPU per refresh", us(cpuPer), "≤ 50 µs", cpuPer <= 50*time.Microsecond)
	t.add("worker CPU total (user+sys) / of which sys", fmt.Sprintf("%s / %s", secs(r.proc.cpu), secs(r.proc.sys)))
	t.check("worker peak RSS", mib(r.proc.maxRSS), "≤ 64 MB", r.proc.maxRSS <= 64*1024)
	t.add("rows refreshed once", fmt.Sprintf("%d / %d", r.refreshed, r.rows))
	t.add("max worker DB connections", fmt.Sprint(r.maxConns))
	t.add("provider calls / double refreshes (reuses)", fmt.Sprintf("%d / %d", r.calls, r.reuses))
	return []*table{t}, nil
}

func runRatio(ctx context.Context, b *bench) ([]*table, error) {
	o := b.opts
	ideal := float64(o.ratioConc) / o.latency.Seconds()
	t := &table{
		title: "ratio",
		setup: fmt.Sprintf("%d due rows, one `worker once` with TOKENS_CONCURRENCY=%d, provider latency %s: the ceiling is %d / %s = %.0f refreshes/s. Wall time is the whole process (start, connect, pass, exit).",
			o.ratioRows, o.ratioConc, o.latency, o.ratioConc, o.latency, ideal),
	}
	r, err := duePass(ctx, b, o.ratioRows, o.ratioConc, o.latency)
	if err == nil {
		err = r.timings(ctx, b)
	}
	if err != nil {
		return []*table{t}, err
	}
	ratio := r.perSecond() / ideal
	t.add("wall time", secs(r.proc.wall))
	t.add("refreshes/s", fmt.Sprintf("%.0f", r.perSecond()))
	t.check("refreshes/s ÷ ceiling", fmt.Sprintf("%.3f", ratio), "≥ 0.95", ratio >= 0.95)
	t.add("worker CPU per refresh", us(r.proc.cpu/time.Duration(max(r.refreshed, 1))))
	t.add("lost answers / reuses", fmt.Sprintf("%d / %d", r.lost, r.reuses))
	t.add("provider's answer time as the mock measured it, mean", ms(r.meanHeld))
	t.add("provider round trip as the worker timed it, mean", ms(r.meanTook))
	t.add("refreshes/s ÷ (concurrency / measured answer time)", fmt.Sprintf("%.3f", r.perSecond()/(float64(o.ratioConc)/r.meanHeld.Seconds())))
	t.add("first to last stored batch", secs(r.storeSpan))
	return []*table{t}, nil
}
