package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// replicaResult is one run of n worker processes over the same due rows.
type replicaResult struct {
	procs      int
	wall       time.Duration // until the last process exited
	perSecond  float64
	calls      int64
	reuses     int64
	notOnce    int // rows not refreshed exactly once
	lost       int
	maxRSS     int64
	cpuPerCall time.Duration
}

// double counts double refreshes: reuses of rotated refresh tokens, plus
// provider calls beyond one per row.
func (r replicaResult) double(rows int) int64 { return r.reuses + max(r.calls-int64(rows), 0) }

func runReplicas(ctx context.Context, b *bench) ([]*table, error) {
	o := b.opts
	t := &table{
		title: "replicas",
		setup: fmt.Sprintf("%d due rows, rotating provider that detects reuse (latency %s); `worker once` with TOKENS_CONCURRENCY=%d as 1 process, then as %d processes started together (table emptied and reseeded in between).",
			o.replicaRows, o.latency, o.replicaConc, o.replicaProcs),
	}
	var res []replicaResult
	for i, n := range []int{1, o.replicaProcs} {
		if i > 0 {
			if err := b.reset(ctx); err != nil {
				return []*table{t}, err
			}
		}
		r, err := replicaRun(ctx, b, n)
		if err != nil {
			return []*table{t}, err
		}
		res = append(res, r)
		double := r.double(o.replicaRows)
		t.add(fmt.Sprintf("%d process(es): wall time / refreshes/s", n), fmt.Sprintf("%s / %.0f", secs(r.wall), r.perSecond))
		t.check(fmt.Sprintf("%d process(es): double refreshes", n),
			fmt.Sprintf("%d (calls %d, reuses %d, rows not refreshed once %d, lost %d)", double, r.calls, r.reuses, r.notOnce, r.lost),
			"0", double == 0 && r.notOnce == 0 && r.lost == 0)
		t.add(fmt.Sprintf("%d process(es): worker CPU per refresh / largest RSS", n), fmt.Sprintf("%s / %s", us(r.cpuPerCall), mib(r.maxRSS)))
	}
	speedup := res[1].perSecond / res[0].perSecond
	t.check(fmt.Sprintf("%d processes ÷ 1", o.replicaProcs), fmt.Sprintf("%.2f×", speedup), "≥ 2.5×", speedup >= 2.5)
	return []*table{t}, nil
}

func replicaRun(ctx context.Context, b *bench, n int) (replicaResult, error) {
	o := b.opts
	r := replicaResult{procs: n}
	p := startProvider(time.Hour, o.latency)
	defer p.Close()
	if err := b.seed(ctx, o.replicaRows, p.TokenURL(), dueExpiry); err != nil {
		return r, err
	}
	logf("replicas: %d worker process(es)", n)
	start := time.Now()
	var procs []*workerProc
	for range n {
		w, err := b.startWorker(ctx, "once", o.replicaConc, nil)
		if err != nil {
			return r, err
		}
		procs = append(procs, w)
	}
	var errs []error
	var cpu time.Duration
	for _, w := range procs {
		res := w.wait()
		errs = append(errs, res.err)
		cpu += res.cpu
		r.maxRSS = max(r.maxRSS, res.maxRSS)
	}
	r.wall = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	r.perSecond = float64(o.replicaRows) / r.wall.Seconds()
	r.calls, r.reuses = p.Calls(), p.Reuses()
	r.cpuPerCall = cpu / time.Duration(max(r.calls, 1))
	var err error
	if r.notOnce, err = b.count(ctx, "version <> 1"); err != nil {
		return r, err
	}
	r.lost, err = b.lostAnswers(ctx, p)
	return r, err
}
