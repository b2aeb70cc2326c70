package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/internal/provider"
)

// passResult is what `worker once` processes started together did to a table
// of due rows, and what they cost.
type passResult struct {
	procResult                               // wall until the last exit, cpu summed, the largest maxRSS
	rows, refreshed, lost, calls, reuses int // refreshed: rows at version 1; reuses of rotated tokens
	held                                 time.Duration
}

func (r passResult) perSecond() float64 { return float64(r.rows) / r.wall.Seconds() }

// duePass seeds rows due rows and refreshes them with procs `worker once`
// processes started together.
func duePass(ctx context.Context, b *bench, rows, concurrency, procs int) (passResult, error) {
	r := passResult{rows: rows}
	p, tokenURL, stop := startProvider(time.Hour, b.opts.latency)
	defer stop()
	if err := b.seed(ctx, rows, tokenURL, "now() - interval '1 hour' + g * interval '1 microsecond'"); err != nil {
		return r, err
	}
	logf("%d × worker once: %d rows, concurrency %d", procs, rows, concurrency)
	start := time.Now()
	var running []*proc
	for range procs {
		w, err := b.startWorker(ctx, "once", concurrency)
		if err != nil {
			return r, err // the ones started end with their pass
		}
		running = append(running, w)
	}
	for _, w := range running {
		res := w.wait()
		r.cpu, r.sys, r.maxRSS, r.err = r.cpu+res.cpu, r.sys+res.sys, max(r.maxRSS, res.maxRSS), errors.Join(r.err, res.err)
	}
	if r.wall = time.Since(start); r.err != nil {
		return r, r.err
	}
	r.calls, r.reuses, r.held = int(p.Calls()), int(p.Reuses()), p.Held()
	err := b.pool.QueryRow(ctx, "SELECT count(*) FROM oauth_tokens WHERE version = 1").Scan(&r.refreshed)
	if err == nil {
		r.lost, err = b.lostAnswers(ctx, p)
	}
	return r, err
}

func runBurst(ctx context.Context, b *bench, t *table) error {
	rows, conc := b.opts.n(100_000), 512
	t.setup = fmt.Sprintf("%d due rows, one `worker once` with TOKENS_CONCURRENCY=%d, provider latency %s. "+
		"The floor is the same %d refresh_token exchanges, %d at a time, made just before by a child process with no database "+
		"through bare x/oauth2 (`oauth2.Config.TokenSource`) over the worker's net/http client (`provider.NewHTTPClient`).",
		rows, conc, b.opts.latency, rows, conc)
	fl := floor(ctx, b, rows, conc)
	if fl.err != nil {
		return fmt.Errorf("floor: %w", fl.err)
	}
	r, err := duePass(ctx, b, rows, conc, 1)
	if err != nil {
		return err
	}
	cpu, floorCPU := per(r.cpu, r.refreshed), per(fl.cpu, rows)
	ratio := float64(cpu) / float64(floorCPU)
	t.check("wall time", secs(r.wall), "≤ 20 s", r.wall <= 20*time.Second)
	t.add("refreshes/s", fmt.Sprintf("%.0f", r.perSecond()))
	t.check("lost answers", fmt.Sprint(r.lost), "0", r.lost == 0)
	t.check("worker CPU per refresh (user+sys)", us(cpu), "≤ 50 µs", cpu <= 50*time.Microsecond)
	t.add("floor CPU per exchange (user+sys)", us(floorCPU))
	t.check("worker CPU per refresh ÷ floor", fmt.Sprintf("%.2f×", ratio), "≤ 1.10×", ratio <= 1.10)
	t.add("of which sys: worker / floor", us(per(r.sys, r.refreshed))+" / "+us(per(fl.sys, rows)))
	t.check("worker peak RSS", mib(r.maxRSS), "≤ 64 MB", r.maxRSS <= 64*1024)
	t.add("floor peak RSS", mib(fl.maxRSS))
	t.add("rows refreshed once", fmt.Sprintf("%d / %d", r.refreshed, r.rows))
	t.add("provider calls / double refreshes (reuses)", fmt.Sprintf("%d / %d", r.calls, r.reuses))
	return nil
}

func runRatio(ctx context.Context, b *bench, t *table) error {
	rows, conc := b.opts.n(10_000), 64
	ceiling := float64(conc) / b.opts.latency.Seconds()
	t.setup = fmt.Sprintf("%d due rows, one `worker once` with TOKENS_CONCURRENCY=%d, provider latency %s: the ceiling is %d / %s = %.0f refreshes/s. Wall time is the whole process (start, connect, pass, exit).",
		rows, conc, b.opts.latency, conc, b.opts.latency, ceiling)
	r, err := duePass(ctx, b, rows, conc, 1)
	if err != nil {
		return err
	}
	held := per(r.held, r.calls)
	t.add("wall time", secs(r.wall))
	t.add("refreshes/s", fmt.Sprintf("%.0f", r.perSecond()))
	t.check("refreshes/s ÷ ceiling", fmt.Sprintf("%.3f", r.perSecond()/ceiling), "≥ 0.95", r.perSecond()/ceiling >= 0.95)
	t.add("worker CPU per refresh", us(per(r.cpu, r.refreshed)))
	t.add("lost answers / reuses", fmt.Sprintf("%d / %d", r.lost, r.reuses))
	t.add("provider's answer time as the mock measured it, mean", ms(held))
	t.add("refreshes/s ÷ (concurrency / measured answer time)", fmt.Sprintf("%.3f", r.perSecond()*held.Seconds()/float64(conc)))
	return nil
}

func runReplicas(ctx context.Context, b *bench, t *table) error {
	rows, conc, procs := b.opts.n(30_000), 64, 3
	t.setup = fmt.Sprintf("%d due rows, rotating provider that detects reuse (latency %s); `worker once` with TOKENS_CONCURRENCY=%d as 1 process, then as %d processes started together (table emptied and reseeded in between).",
		rows, b.opts.latency, conc, procs)
	var rate []float64
	for _, n := range []int{1, procs} {
		if err := b.reset(ctx); err != nil {
			return err
		}
		r, err := duePass(ctx, b, rows, conc, n)
		if err != nil {
			return err
		}
		rate = append(rate, r.perSecond())
		double, notOnce := r.reuses+max(r.calls-rows, 0), rows-r.refreshed
		t.add(fmt.Sprintf("%d process(es): wall time / refreshes/s", n), fmt.Sprintf("%s / %.0f", secs(r.wall), r.perSecond()))
		t.check(fmt.Sprintf("%d process(es): double refreshes", n),
			fmt.Sprintf("%d (calls %d, reuses %d, rows not refreshed once %d, lost %d)", double, r.calls, r.reuses, notOnce, r.lost),
			"0", double == 0 && notOnce == 0 && r.lost == 0)
		t.add(fmt.Sprintf("%d process(es): worker CPU per refresh / largest RSS", n), us(per(r.cpu, r.calls))+" / "+mib(r.maxRSS))
	}
	speedup := rate[1] / rate[0]
	t.check(fmt.Sprintf("%d processes ÷ 1", procs), fmt.Sprintf("%.2f×", speedup), "≥ 2.5×", speedup >= 2.5)
	return nil
}

// floorCommand is the hidden first argument that makes the bench binary the
// burst's floor client instead of the bench.
const floorCommand = "floor-client"

// floor makes n refresh_token exchanges, concurrency at a time, from a child
// process of the bench binary against a fresh mock, and returns what the
// child cost. The child has no database, claim or store: only bare x/oauth2
// over the worker's http.Client, the least a refresh through x/oauth2 costs
// on this machine. Measured in the same run as the burst, it is a
// comparison that holds whatever else loads the machine.
func floor(ctx context.Context, b *bench, n, concurrency int) procResult {
	_, tokenURL, stop := startProvider(time.Hour, b.opts.latency)
	defer stop()
	self, err := os.Executable()
	if err != nil {
		return procResult{err: err}
	}
	logf("floor: %d exchanges by x/oauth2, concurrency %d", n, concurrency)
	cmd := exec.CommandContext(ctx, self, floorCommand, tokenURL, strconv.Itoa(n), strconv.Itoa(concurrency))
	cmd.Env = b.env(concurrency) // the workers' environment: GOGC and the like apply to both
	child, err := startProc(cmd)
	if err != nil {
		return procResult{err: err}
	}
	return child.wait()
}

// floorChild is the child side of floor: floor-client TOKEN_URL N CONCURRENCY.
// It exits non-zero at the first failed exchange, so that the floor never
// prices failures.
func floorChild(args []string) int {
	var tokenURL string
	var n, c int64
	if _, err := fmt.Sscan(strings.Join(args, " "), &tokenURL, &n, &c); err != nil || len(args) != 3 || n < 1 || c < 1 {
		fmt.Fprintln(os.Stderr, "usage: bench floor-client TOKEN_URL N CONCURRENCY")
		return 2
	}
	client := provider.NewHTTPClient(30*time.Second, int(c))
	// AuthStyleInHeader is what the worker sends for the mock's generic
	// provider, and spares x/oauth2's probing of the style.
	cfg := oauth2.Config{ClientID: "bench", ClientSecret: "bench-secret",
		Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for i := next.Add(1); i <= n; i = next.Add(1) {
				// The deadline the worker sets on each attempt.
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				ctx = context.WithValue(ctx, oauth2.HTTPClient, client)
				tok, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: fmt.Sprintf("rt-floor-%d", i)}).Token()
				cancel()
				if err == nil && tok.AccessToken == "" {
					err = errors.New("no access token")
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "floor-client: exchange %d: %v\n", i, err)
					os.Exit(1)
				}
			}
		})
	}
	wg.Wait()
	return 0
}

// marginSQL records, for every refresh (a version bump), how long the
// previous access token still had to live when the new one was stored. It
// exists in the scratch database only, for the steady scenario.
const marginSQL = `
CREATE TABLE bench_margins (margin_s double precision NOT NULL);
CREATE FUNCTION bench_record_margin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.version > OLD.version AND OLD.access_token_expires IS NOT NULL THEN
        INSERT INTO bench_margins VALUES (EXTRACT(EPOCH FROM OLD.access_token_expires - now()));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER bench_record_margin BEFORE UPDATE ON oauth_tokens
    FOR EACH ROW EXECUTE FUNCTION bench_record_margin();`

func runSteady(ctx context.Context, b *bench, t *table) error {
	rows, conc, lifetime, before := b.opts.n(30_000), 64, time.Minute, 20*time.Second
	t.setup = fmt.Sprintf("%d rows with %s tokens, each at a uniformly random point of its refresh cycle (initial expiries spread over %s to %s from now, so the run starts in the steady state rather than with a backlog); `worker run` with TOKENS_REFRESH_BEFORE=%s, TOKENS_POLL_INTERVAL=1s, TOKENS_CONCURRENCY=%d, provider latency %s, for %s, then SIGTERM. Margin: the previous token's expiry − the store's now() when the new one was stored, for every refresh (a BEFORE UPDATE trigger in the scratch database records it).",
		rows, lifetime, before, before+lifetime, before, conc, b.opts.latency, b.opts.steadyDuration)
	p, tokenURL, stop := startProvider(lifetime, b.opts.latency)
	defer stop()
	// A token is refreshed RefreshBefore ahead of its expiry, once per
	// lifetime: in the steady state the next expiries are spread evenly
	// over (RefreshBefore, RefreshBefore + lifetime] from now.
	spread := fmt.Sprintf("now() + interval '%d microseconds' + g * (interval '%d microseconds' / %d)",
		before.Microseconds(), lifetime.Microseconds(), rows)
	if err := b.seed(ctx, rows, tokenURL, spread); err != nil {
		return err
	}
	if _, err := b.pool.Exec(ctx, marginSQL); err != nil {
		return err
	}
	defer func() {
		// Best effort: the scenario's database is dropped after the run anyway.
		_, _ = b.pool.Exec(context.WithoutCancel(ctx), "DROP FUNCTION bench_record_margin() CASCADE; DROP TABLE bench_margins")
	}()
	w, err := b.startWorker(ctx, "run", conc, "TOKENS_REFRESH_BEFORE="+before.String(), "TOKENS_POLL_INTERVAL=1s")
	if err != nil {
		return err
	}
	logf("worker run for %s", b.opts.steadyDuration)
	select {
	case <-ctx.Done():
	case <-time.After(b.opts.steadyDuration):
	}
	_ = w.stop()
	res := w.wait()
	if res.err != nil {
		return res.err
	}
	var n int
	var least, p1, p50 float64
	if err := b.pool.QueryRow(ctx, `SELECT count(*), coalesce(min(margin_s), 0),
		coalesce(percentile_cont(0.01) WITHIN GROUP (ORDER BY margin_s), 0),
		coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY margin_s), 0) FROM bench_margins`).Scan(&n, &least, &p1, &p50); err != nil {
		return err
	}
	// Each row must hold its family's newest token (the initial one if unused).
	stale, err := b.countRows(ctx, func(initial, _, rt string) bool { return cmp.Or(p.Current(initial), initial) != rt })
	if err != nil {
		return err
	}
	share := 100 * res.cpu.Seconds() / res.wall.Seconds()
	t.check("worker CPU share", fmt.Sprintf("%.1f %% of a core", share), "≤ 25 %", share <= 25)
	t.add("worker CPU total / per refresh", secs(res.cpu)+" / "+us(per(res.cpu, n)))
	t.add("worker peak RSS", mib(res.maxRSS))
	t.add("refreshes", fmt.Sprint(n))
	t.check("min margin", fmt.Sprintf("%.2f s", least), "≥ 10 s", n > 0 && least >= 10)
	t.add("p1 / median margin", fmt.Sprintf("%.2f s / %.2f s", p1, p50))
	t.add("rows not holding the provider's newest refresh token", fmt.Sprint(stale))
	t.add("provider calls / reuses", fmt.Sprintf("%d / %d", p.Calls(), p.Reuses()))
	return nil
}

func runScale(ctx context.Context, b *bench, t *table) error {
	due, reps := b.opts.n(100), b.opts.n(5)
	t.setup = fmt.Sprintf("%d due rows among N rows (the rest expire in a day), `worker once` with TOKENS_CONCURRENCY=64, provider latency 1ms; median wall time of %d passes per size (the due rows are made due again between passes).",
		due, reps)
	var walls []time.Duration
	for _, total := range []int{b.opts.n(10_000), b.opts.n(1_000_000)} {
		if err := b.reset(ctx); err != nil {
			return err
		}
		wall, rss, err := scalePasses(ctx, b, total, due, reps)
		if err != nil {
			return err
		}
		walls = append(walls, wall)
		t.add(fmt.Sprintf("pass wall time, %d rows", total), ms(wall))
		t.check(fmt.Sprintf("worker peak RSS, %d rows", total), mib(rss), "≤ 64 MB", rss <= 64*1024)
	}
	ratio := walls[1].Seconds() / walls[0].Seconds()
	t.check("wall time ratio (large / small)", fmt.Sprintf("%.2f×", ratio), "≤ 1.5×", ratio <= 1.5)
	return nil
}

// scalePasses seeds total rows with due of them due and returns the median
// wall time of reps passes and their largest peak RSS.
func scalePasses(ctx context.Context, b *bench, total, due, reps int) (time.Duration, int64, error) {
	p, tokenURL, stop := startProvider(time.Hour, time.Millisecond)
	defer stop()
	every := max(total/due, 1)
	if err := b.seed(ctx, total, tokenURL, fmt.Sprintf(
		"CASE WHEN g %% %d = 0 THEN now() - interval '1 hour' ELSE now() + interval '1 day' END", every)); err != nil {
		return 0, 0, err
	}
	var walls []time.Duration
	var rss int64
	for rep := range reps {
		// Make the rows the last pass refreshed due again (none before the first).
		if _, err := b.pool.Exec(ctx, `UPDATE oauth_tokens SET access_token_expires = now() - interval '1 hour'
			WHERE last_refreshed_at IS NOT NULL`); err != nil {
			return 0, 0, err
		}
		before := p.Successes()
		res := b.runWorker(ctx, "once", 64)
		if res.err != nil {
			return 0, 0, res.err
		}
		if n := p.Successes() - before; n != int64(total/every) {
			return 0, 0, fmt.Errorf("pass %d over %d rows refreshed %d rows, want %d", rep, total, n, total/every)
		}
		walls, rss = append(walls, res.wall), max(rss, res.maxRSS)
	}
	logf("scale %d rows: passes %v", total, walls)
	return percentile(walls, 50), rss, nil
}
