package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// runProfile is the burst pass in-process (refresh.New(...).Pass, wired like
// cmd/worker), with a CPU profile written to -cpuprofile. The worker binary
// has no profiling flag; this is its equivalent for `go tool pprof`. The
// provider runs in the same process, so the profile includes it: look at the
// refresh, provider, store, gorm, pgx and oauth2 frames. -flush-interval and
// -claim-batch try other refresh.Config values.
func runProfile(ctx context.Context, b *bench) ([]*table, error) {
	o := b.opts
	cfg := refresh.Config{
		Concurrency:   o.burstConc,
		HTTPTimeout:   30 * time.Second,
		FlushInterval: o.flushInterval,
		ClaimBatch:    o.claimBatch,
	}
	t := &table{
		title: "profile (in-process burst pass)",
		setup: fmt.Sprintf("%d due rows, `refresh.Worker.Pass` in the bench process with concurrency %d, FlushInterval %s, ClaimBatch %d (0: default), store pool of 4, provider latency %s; CPU profile in %s.",
			o.burstRows, o.burstConc, o.flushInterval, o.claimBatch, o.latency, o.cpuProfile),
	}
	p := startProvider(time.Hour, o.latency)
	defer p.Close()
	if err := b.seed(ctx, o.burstRows, p.TokenURL(), dueExpiry); err != nil {
		return []*table{t}, err
	}
	st, err := store.Open(ctx, b.dbURL, 4)
	if err != nil {
		return []*table{t}, err
	}
	defer st.Close()
	ex := provider.NewRefresher(provider.NewCatalogue(), provider.NewHTTPClient(30*time.Second, o.burstConc), nil)
	w := refresh.New(st, ex, cfg, quietLog)

	f, err := os.Create(o.cpuProfile)
	if err != nil {
		return []*table{t}, err
	}
	defer f.Close()
	cpu0 := selfCPU()
	start := time.Now()
	if err := pprof.StartCPUProfile(f); err != nil {
		return []*table{t}, err
	}
	stats, err := w.Pass(ctx)
	pprof.StopCPUProfile()
	wall := time.Since(start)
	cpu := selfCPU() - cpu0
	if err != nil {
		return []*table{t}, err
	}
	lost, err := b.lostAnswers(ctx, p)
	if err != nil {
		return []*table{t}, err
	}
	t.add("pass wall time", secs(wall))
	t.add("refreshes/s", fmt.Sprintf("%.0f", float64(stats.Refreshed)/wall.Seconds()))
	t.add("bench process CPU per refresh (worker + provider)", us(cpu/time.Duration(max(stats.Refreshed, 1))))
	t.add("refreshed / errors / lost", fmt.Sprintf("%d / %d / %d", stats.Refreshed, stats.Errors(), lost))
	return []*table{t}, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
