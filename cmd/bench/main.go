// Command bench measures the tokenwarden worker and consumer library against
// a real PostgreSQL and an in-process mock OAuth2 provider, and checks the
// results against the project's performance targets (docs/benchmarks.md
// describes each scenario).
//
//	go run ./cmd/bench [-scenarios burst,ratio,...] [-size 1] [-steady-duration 3m]
//
// It runs from the module's root, with DATABASE_URL naming a role that may
// create databases: each run works in a scratch database that it drops at
// the end. The worker is built once from ./cmd/worker as the Dockerfile
// builds it and runs as separate processes, with the bench's environment
// minus DATABASE_URL and TOKENS_* (so GOGC and the like reach it); the
// consumer library runs in-process. -size 0.05 makes a quick check.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	scenarios      []string
	out            string
	latency        time.Duration
	size           float64
	steadyDuration time.Duration
}

// n scales a default count by -size, to at least 1.
func (o *options) n(def int) int { return max(1, int(float64(def)*o.size)) }

// scenarios run one scenario each, filling in its table; names is their order.
var scenarios = map[string]func(context.Context, *bench, *table) error{"burst": runBurst, "ratio": runRatio,
	"steady": runSteady, "wake": runWake, "read": runRead, "scale": runScale, "replicas": runReplicas, "import": runImport, "proxy": runProxy, "console": runConsole}

const names = "burst,ratio,steady,wake,read,scale,replicas,import,proxy,console"

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	list := fs.String("scenarios", names, "comma-separated scenarios to run")
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "also write the report here, keeping its sections this run does not make (empty: stdout only)")
	fs.DurationVar(&o.latency, "latency", 50*time.Millisecond, "provider latency (scale uses 1ms)")
	fs.Float64Var(&o.size, "size", 1, "scale every row count and repetition by this factor")
	fs.DurationVar(&o.steadyDuration, "steady-duration", 3*time.Minute, "steady: how long the worker runs")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 || o.size <= 0 {
		return nil, errors.New("want only flags, with a positive -size (see -help)")
	}
	for _, s := range strings.Split(*list, ",") {
		if scenarios[s] == nil {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", s, names)
		}
		o.scenarios = append(o.scenarios, s)
	}
	return o, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == floorCommand {
		os.Exit(floorChild(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	b, err := setup(ctx, o)
	if b != nil {
		defer b.cleanup()
	}
	if err != nil {
		return err
	}
	// The Go runtime's settings change the figures: the command shows the
	// ones the environment held.
	cmd := append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return !slices.Contains([]string{"GOGC", "GOMEMLIMIT", "GODEBUG", "GOMAXPROCS"}, k)
	}), "go run ./cmd/bench")
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " '\"$") {
			a = strconv.Quote(a)
		}
		cmd = append(cmd, a)
	}
	var rep strings.Builder
	rep.WriteString(header(strings.Join(cmd, " "), b.pgVersion))
	fmt.Print(rep.String())
	failed := 0
	for _, name := range o.scenarios {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logf("scenario %s: starting", name)
		t := &table{title: name}
		load, _ := os.ReadFile("/proc/loadavg")
		start, avg := time.Now(), append(strings.Fields(string(load)), "?", "?", "?")[:3]
		if err := scenarios[name](ctx, b, t); err != nil {
			failed++
			t.title += ": FAILED"
			t.check("scenario", "error: "+strings.ReplaceAll(err.Error(), "|", `\|`), "runs to completion", false)
		}
		t.notes = append(t.notes, "Load average (1, 5, 15 min) when the scenario started: "+strings.Join(avg, ", ")+
			"; other processes on the machine compete for the same cores.")
		logf("scenario %s: done in %s", name, time.Since(start).Round(time.Millisecond))
		fmt.Print(t.markdown())
		rep.WriteString(t.markdown())
		if err := b.reset(ctx); err != nil {
			return err
		}
	}
	if o.out != "" {
		if err := writeReport(o.out, rep.String(), analysis); err != nil {
			return err
		}
		logf("report written to %s", o.out)
	}
	if failed > 0 {
		return fmt.Errorf("%d scenario(s) failed", failed)
	}
	return nil
}

// logf reports progress on stderr, keeping stdout for the report.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// table is one scenario's results: what ran, measurements, and notes.
type table struct {
	title, setup string
	rows         [][4]string // metric, value, target, PASS or MISS
	notes        []string
}

func (t *table) add(metric, value string) { t.rows = append(t.rows, [4]string{metric, value}) }

// check adds a measurement with its target and whether it was met.
func (t *table) check(metric, value, target string, ok bool) {
	t.rows = append(t.rows, [4]string{metric, value, target, map[bool]string{true: "PASS", false: "MISS"}[ok]})
}

func (t *table) markdown() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n## %s\n\n", t.title)
	if t.setup != "" {
		fmt.Fprintf(&sb, "%s\n\n", t.setup)
	}
	sb.WriteString("| Metric | Value | Target | Result |\n|---|---:|---|---|\n")
	for _, r := range t.rows {
		fmt.Fprintf(&sb, "| %s |\n", strings.Join(r[:], " | "))
	}
	for _, n := range t.notes {
		fmt.Fprintf(&sb, "\n%s\n", n)
	}
	return sb.String()
}

// header describes the run: how to repeat it and on what.
func header(cmdline, pgVersion string) string {
	return "# tokenwarden benchmarks\n\nGenerated by `cmd/bench` (see its package documentation); rerun with the command below, or `make bench` for every scenario. " +
		"Each scenario runs in a scratch database against an in-process rotating mock provider; the worker runs as separate processes built from ./cmd/worker as the Dockerfile builds it (CGO_ENABLED=0, -trimpath, -ldflags=\"-s -w\"), with TOKENS_LOG_LEVEL=warn and TOKENS_HTTP_TIMEOUT=30s besides the settings each scenario names. " +
		"Worker CPU is user+sys from the process's rusage; peak RSS is its VmHWM.\n\n" +
		fmt.Sprintf("- Command: `%s`\n- nproc: %d (PostgreSQL, the mock provider, the bench and the workers share them)\n- Go: %s %s/%s\n- PostgreSQL: %s\n- Date: %s\n",
			cmdline, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, pgVersion, time.Now().UTC().Format(time.RFC3339))
}

// analysis explains the misses: prose kept beside the code that measures,
// revised when the figures move, and appended to the report.
//
//go:embed analysis.md
var analysis string

func ms(d time.Duration) string   { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func us(d time.Duration) string   { return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond)) }
func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
func mib(kib int64) string        { return fmt.Sprintf("%.1f MB", float64(kib)/1024) }

// per divides a duration among n events.
func per(d time.Duration, n int) time.Duration { return d / time.Duration(max(n, 1)) }

// percentile returns the p-th percentile (0..100) of ds, nearest rank; ds
// is never empty.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	return s[min(max(int(p/100*float64(len(s))+0.5)-1, 0), len(s)-1)]
}
