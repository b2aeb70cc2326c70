// Command bench measures the tokenwarden worker and consumer library against
// a real PostgreSQL and an in-process mock OAuth2 provider, and checks the
// results against the project's performance targets.
//
//	go run ./cmd/bench [-scenarios burst,ratio,steady,wake,read,scale,replicas] [flags]
//
// It needs DATABASE_URL pointing at a server whose role may create
// databases. It creates a scratch database (bench_<random>) with the schema
// applied, and drops it when it finishes, fails or is interrupted. The worker
// is built once from ./cmd/worker with the Dockerfile's flags and run as
// separate processes, as in production; the consumer scenarios (wake, read)
// run the library in-process.
//
// Scenarios:
//
//	burst     100,000 due rows, one `worker once` at concurrency 512: wall
//	          time, CPU per refresh, peak RSS, database connections, and
//	          lost answers (the provider's answer for each row must be stored)
//	ratio     10,000 due rows at concurrency 64: throughput / (64 / latency)
//	steady    30,000 rows with 60 s tokens, `worker run` for -steady-duration:
//	          CPU share and the margin left before each refreshed token's expiry
//	wake      a blocked Get woken by a committed change; Invalidate to new
//	          token, split into hops; a PostgreSQL round trip back to back
//	          and after the provider's latency of idleness
//	read      Get from PostgreSQL (cache off) and from the cache
//	scale     one pass over 100 due rows among 10,000 vs 1,000,000 rows
//	replicas  30,000 due rows refreshed by 1 vs 3 worker processes
//	profile   (diagnostic, not run by default) the burst pass in-process,
//	          with a CPU profile for go tool pprof
//	floor     (diagnostic, not run by default) the burst's exchanges made
//	          by a process with no database: a hand-written HTTP/1.1
//	          exchange on raw TCP, net/http alone, x/oauth2, then
//	          provider.Refresher; what each layer costs per refresh
//
// Each scenario prints a markdown table with its targets; the whole report
// is also written to -out (docs/benchmarks.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	scenarios string
	out       string
	latency   time.Duration

	burstRows, burstConc int
	dbMaxConns           int

	ratioRows, ratioConc int

	steadyRows     int
	steadyDuration time.Duration
	steadyLifetime time.Duration
	steadyBefore   time.Duration
	steadyConc     int

	wakeReps, invalidateReps int
	readCalls                int

	scaleDue, scaleSmall, scaleLarge, scaleReps int
	scaleLatency                                time.Duration

	replicaRows, replicaConc, replicaProcs int

	cpuProfile    string
	flushInterval time.Duration
	claimBatch    int

	// workerEnv is extra environment for every worker process (-worker-env).
	workerEnv workerEnv
}

var allScenarios = []string{"burst", "ratio", "steady", "wake", "read", "scale", "replicas"}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.scenarios, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios to run")
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "write the report here too (empty: stdout only)")
	fs.DurationVar(&o.latency, "latency", 50*time.Millisecond, "provider latency for burst, ratio, steady, invalidate and replicas")
	fs.IntVar(&o.burstRows, "burst-rows", 100_000, "burst: due rows")
	fs.IntVar(&o.burstConc, "burst-concurrency", 512, "burst: TOKENS_CONCURRENCY")
	fs.IntVar(&o.dbMaxConns, "db-max-conns", 0, "TOKENS_DB_MAX_CONNS for every worker process (0: the worker's default)")
	fs.IntVar(&o.ratioRows, "ratio-rows", 10_000, "ratio: due rows")
	fs.IntVar(&o.ratioConc, "ratio-concurrency", 64, "ratio: TOKENS_CONCURRENCY")
	fs.IntVar(&o.steadyRows, "steady-rows", 30_000, "steady: rows")
	fs.DurationVar(&o.steadyDuration, "steady-duration", 3*time.Minute, "steady: how long the worker runs")
	fs.DurationVar(&o.steadyLifetime, "steady-lifetime", 60*time.Second, "steady: access token lifetime (and spread of the initial expiries)")
	fs.DurationVar(&o.steadyBefore, "steady-refresh-before", 20*time.Second, "steady: TOKENS_REFRESH_BEFORE")
	fs.IntVar(&o.steadyConc, "steady-concurrency", 64, "steady: TOKENS_CONCURRENCY")
	fs.IntVar(&o.wakeReps, "wake-reps", 1000, "wake: blocked Get wake-ups")
	fs.IntVar(&o.invalidateReps, "invalidate-reps", 1000, "wake: Invalidate round trips")
	fs.IntVar(&o.readCalls, "read-calls", 10_000, "read: timed Get calls per mode")
	fs.IntVar(&o.scaleDue, "scale-due", 100, "scale: due rows")
	fs.IntVar(&o.scaleSmall, "scale-small", 10_000, "scale: total rows, small table")
	fs.IntVar(&o.scaleLarge, "scale-large", 1_000_000, "scale: total rows, large table")
	fs.IntVar(&o.scaleReps, "scale-reps", 5, "scale: passes per table size (the median is reported)")
	fs.DurationVar(&o.scaleLatency, "scale-latency", time.Millisecond, "scale: provider latency")
	fs.IntVar(&o.replicaRows, "replicas-rows", 30_000, "replicas: due rows")
	fs.IntVar(&o.replicaConc, "replicas-concurrency", 64, "replicas: TOKENS_CONCURRENCY of each process")
	fs.IntVar(&o.replicaProcs, "replicas", 3, "replicas: worker processes in the multi-replica run")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "worker.pprof", "profile: CPU profile of the in-process pass")
	fs.DurationVar(&o.flushInterval, "flush-interval", 0, "profile and the in-process worker of wake: refresh.Config.FlushInterval (0: the default)")
	fs.IntVar(&o.claimBatch, "claim-batch", 0, "profile: refresh.Config.ClaimBatch (0: the default)")
	var workerEnvFlag string
	fs.StringVar(&workerEnvFlag, "worker-env", "", "extra environment for every worker process, as KEY=VALUE[,KEY=VALUE...] (e.g. GOGC=200); recorded in the report's command line")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	env, err := parseWorkerEnv(workerEnvFlag)
	if err != nil {
		return nil, err
	}
	o.workerEnv = env
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	for _, s := range o.list() {
		if scenarioFuncs[s] == nil {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(allScenarios, ","))
		}
	}
	return o, nil
}

// parseWorkerEnv reads -worker-env. TOKENS_* and DATABASE_URL are refused:
// each scenario sets those itself, and a silent override would make its
// table describe a run that did not happen.
func parseWorkerEnv(s string) (workerEnv, error) {
	env := workerEnv{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-worker-env: %q is not KEY=VALUE", kv)
		}
		if k == "DATABASE_URL" || strings.HasPrefix(k, "TOKENS_") {
			return nil, fmt.Errorf("-worker-env: %s is set by the scenarios; use their own flags", k)
		}
		env[k] = v
	}
	return env, nil
}

func (o *options) list() []string {
	var out []string
	for _, s := range strings.Split(o.scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// scenarioFuncs run one scenario each and return its tables.
var scenarioFuncs = map[string]func(context.Context, *bench) ([]*table, error){
	"burst":    runBurst,
	"ratio":    runRatio,
	"steady":   runSteady,
	"wake":     runWake,
	"read":     runRead,
	"scale":    runScale,
	"replicas": runReplicas,
	"profile":  runProfile, // not in the default list: diagnostics
	"floor":    runFloor,
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == floorClientCommand {
		os.Exit(floorClient(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	b, err := setup(ctx, o)
	if b != nil {
		defer b.cleanup()
	}
	if err != nil {
		return err
	}
	rep := newReport(b, commandLine(args))
	fmt.Print(rep.header())
	failed := 0
	for _, name := range o.list() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logf("scenario %s: starting", name)
		load := loadAverage()
		start := time.Now()
		tables, err := scenarioFuncs[name](ctx, b)
		if err != nil {
			failed++
			tables = append(tables, errorTable(name, err))
		}
		tables[0].note("Load average (1, 5, 15 min) when the scenario started: %s; other processes on the machine compete for the same cores.", load)
		logf("scenario %s: done in %s", name, time.Since(start).Round(time.Millisecond))
		for _, t := range tables {
			fmt.Print(t.markdown())
			rep.add(t)
		}
		if err := b.reset(ctx); err != nil {
			return err
		}
	}
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(rep.markdown()), 0o644); err != nil {
			return err
		}
		logf("report written to %s", o.out)
	}
	if failed > 0 {
		return fmt.Errorf("%d scenario(s) failed", failed)
	}
	return nil
}

// commandLine is how to rerun this benchmark, quoted for a POSIX shell.
func commandLine(args []string) string {
	out := []string{"go", "run", "./cmd/bench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$&|;<>()*?[]#~`\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

// loadAverage returns the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

// logf reports progress on stderr, keeping stdout for the report.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
