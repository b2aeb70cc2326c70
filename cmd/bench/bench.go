package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
)

// bench is the state the scenarios share: the scratch database, a pool on it
// for setup and checks, and the worker binary.
type bench struct {
	opts      *options
	baseURL   string // DATABASE_URL: the server's maintenance database
	dbName    string // the scratch database
	dbURL     string // the scratch database, as the worker and client see it
	pool      *pgxpool.Pool
	workerBin string // in a temporary directory of its own
	pgVersion string
}

func setup(ctx context.Context, o *options) (*bench, error) {
	u, err := url.Parse(os.Getenv("DATABASE_URL"))
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, errors.New("DATABASE_URL must be a postgres:// URL (scripts/pg.sh start prints one)")
	}
	b := &bench{opts: o, baseURL: u.String(), dbName: "bench_" + strings.ToLower(rand.Text()[:12])}
	u.Path = "/" + b.dbName
	tmp, err := os.MkdirTemp("", "twbench")
	if err != nil {
		return nil, err
	}
	b.workerBin = filepath.Join(tmp, "worker")
	logf("building ./cmd/worker")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", b.workerBin, "./cmd/worker")
	build.Env, build.Stderr = append(os.Environ(), "CGO_ENABLED=0"), os.Stderr
	if err := build.Run(); err != nil {
		return b, fmt.Errorf("build worker: %w", err)
	}
	if err := adminExec(ctx, b.baseURL, "CREATE DATABASE "+b.dbName); err != nil {
		return b, fmt.Errorf("create scratch database: %w", err)
	}
	b.dbURL = u.String()
	if r := b.runWorker(ctx, "migrate", 1); r.err != nil {
		return b, r.err
	}
	if b.pool, err = pgxpool.New(ctx, b.dbURL); err != nil {
		return b, err
	}
	return b, b.pool.QueryRow(ctx, "SELECT version()").Scan(&b.pgVersion)
}

// cleanup drops the scratch database whatever happened before, so it does
// not use the (possibly cancelled) run context.
func (b *bench) cleanup() {
	if b.pool != nil {
		b.pool.Close()
	}
	if b.dbURL != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, b.baseURL, "DROP DATABASE IF EXISTS "+b.dbName+" WITH (FORCE)"); err != nil {
			logf("drop database %s: %v", b.dbName, err)
		}
	}
	os.RemoveAll(filepath.Dir(b.workerBin))
}

func adminExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// reset empties the tables, and writes a checkpoint and returns the bench's
// garbage, so that neither one scenario's writes nor its mock's tokens are
// flushed or collected during the next one's measurements.
func (b *bench) reset(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	if _, err := b.pool.Exec(ctx, "TRUNCATE oauth_tokens, oauth_token_events CASCADE"); err != nil {
		return err
	}
	if _, err := b.pool.Exec(ctx, "CHECKPOINT"); err != nil {
		logf("CHECKPOINT between scenarios failed (%v); continuing without it", err)
	}
	debug.FreeOSMemory()
	return nil
}

// seed inserts n rows named bench-000001... with refresh tokens rt-1...;
// expires is an SQL expression over g (the row number) and now(). It skips
// the table's triggers, so that a million rows queue no notifications, and
// sets what the before-write trigger would: the access token's hash.
func (b *bench) seed(ctx context.Context, n int, tokenURL, expires string) error {
	return b.seedAs(ctx, n, tokenURL, expires, "'oauth2'", "'active'")
}

// seedAs is seed with each row's provider and status given as SQL
// expressions over g too.
func (b *bench) seedAs(ctx context.Context, n int, tokenURL, expires, provider, status string) error {
	q := fmt.Sprintf(`
INSERT INTO oauth_tokens (id, name, provider, token_url, client_id, client_secret,
                          access_token, access_token_sha256, refresh_token, access_token_expires, status)
SELECT gen_random_uuid(), 'bench-' || lpad(g::text, %d, '0'), %s, $1, 'bench', 'bench-secret',
       'at-initial-' || g, sha256(convert_to('at-initial-' || g, 'UTF8')), 'rt-' || g, %s, %s
FROM generate_series(1, $2::int) AS g`, max(6, len(strconv.Itoa(n))), provider, expires, status)
	start := time.Now()
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica")
		if err == nil {
			_, err = tx.Exec(ctx, q, tokenURL, n)
		}
		return err
	})
	if err == nil {
		_, err = b.pool.Exec(ctx, "VACUUM ANALYZE oauth_tokens")
	}
	if err != nil {
		return fmt.Errorf("seed %d rows: %w", n, err)
	}
	logf("seeded %d rows in %s", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// startProvider starts a rotating mock token endpoint on 127.0.0.1. It
// records what it issued per presented refresh token (for the lost-answer
// check), and counts calls and reuses of rotated refresh tokens.
func startProvider(lifetime, latency time.Duration) (*mockprovider.Server, string, func()) {
	m := mockprovider.New(mockprovider.Options{Rotate: true, Lifetime: lifetime, Latency: latency})
	srv := httptest.NewServer(m)
	return m, srv.URL + "/token", srv.Close
}

// countRows counts the rows for which bad holds, given the row's initial
// refresh token (rt-<n> for bench-<n>) and its stored tokens.
func (b *bench) countRows(ctx context.Context, bad func(initial, at, rt string) bool) (int, error) {
	rows, err := b.pool.Query(ctx, `SELECT 'rt-' || ltrim(substr(name, 7), '0'),
		coalesce(access_token, ''), coalesce(refresh_token, '') FROM oauth_tokens`)
	if err != nil {
		return 0, err
	}
	n := 0
	var initial, at, rt string
	_, err = pgx.ForEachRow(rows, []any{&initial, &at, &rt}, func() error {
		if bad(initial, at, rt) {
			n++
		}
		return nil
	})
	return n, err
}

// lostAnswers counts rows whose tokens differ from what the provider issued
// for the row's initial refresh token: an answer the worker received but did
// not store (or stored for the wrong row).
func (b *bench) lostAnswers(ctx context.Context, p *mockprovider.Server) (int, error) {
	return b.countRows(ctx, func(initial, at, rt string) bool {
		iss, ok := p.Issued(initial)
		return !ok || iss.AccessToken != at || iss.RefreshToken != rt
	})
}

// env is a child process's environment: the bench's own without any
// DATABASE_URL or TOKENS_* variable (Go runtime settings such as GOGC pass
// through), the worker settings every scenario shares, and extra.
func (b *bench) env(concurrency int, extra ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, "TOKENS_")
	})
	return append(append(env, "DATABASE_URL="+b.dbURL, "TOKENS_CONCURRENCY="+strconv.Itoa(concurrency),
		"TOKENS_HTTP_TIMEOUT=30s", "TOKENS_LOG_LEVEL=warn"), extra...)
}

// proc is a running child process whose peak resident set is watched.
type proc struct {
	cmd    *exec.Cmd
	start  time.Time
	out    bytes.Buffer // its output, read once Wait has ended the copying
	exited chan struct{}
	peak   chan int64 // VmHWM in KiB, once the process has exited
}

// procResult is what a finished process cost. maxRSS is VmHWM in KiB:
// Rusage.Maxrss cannot be used, because Go starts children with vfork and
// the child's figure starts from the bench's own resident set.
type procResult struct {
	wall, cpu, sys time.Duration // cpu is user + system
	maxRSS         int64
	err            error
}

// startWorker starts `worker command` with the scenario's settings.
func (b *bench) startWorker(ctx context.Context, command string, concurrency int, extra ...string) (*proc, error) {
	cmd := exec.CommandContext(ctx, b.workerBin, command)
	cmd.Env = b.env(concurrency, extra...)
	return startProc(cmd)
}

// runWorker runs `worker command` to completion.
func (b *bench) runWorker(ctx context.Context, command string, concurrency int) procResult {
	p, err := b.startWorker(ctx, command, concurrency)
	if err != nil {
		return procResult{err: err}
	}
	return p.wait()
}

func startProc(cmd *exec.Cmd) (*proc, error) {
	p := &proc{cmd: cmd, exited: make(chan struct{}), peak: make(chan int64, 1)}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	// An interrupted bench stops its children the way operators do.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go p.watchRSS(cmd.Process.Pid)
	return p, nil
}

// watchRSS samples VmHWM every 10 ms until the process exits. VmHWM only
// grows, so the samples miss at most the growth of the last 10 ms.
func (p *proc) watchRSS(pid int) {
	var peak int64
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		peak = max(peak, procStatusKiB(pid, "VmHWM"))
		select {
		case <-p.exited:
			p.peak <- peak
			return
		case <-t.C:
		}
	}
}

// procStatusKiB is the field (VmRSS, the resident set now; VmHWM, its
// peak) of process pid in /proc/PID/status, in KiB; 0 once it has exited.
func procStatusKiB(pid int, field string) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib
		}
	}
	return 0
}

// stop asks the process to finish, as operators do.
func (p *proc) stop() error { return p.cmd.Process.Signal(syscall.SIGTERM) }

func (p *proc) wait() procResult {
	err := p.cmd.Wait()
	close(p.exited)
	r := procResult{wall: time.Since(p.start), maxRSS: <-p.peak}
	if out := strings.TrimSpace(p.out.String()); err != nil {
		r.err = fmt.Errorf("%s %s: %w: %s", filepath.Base(p.cmd.Path), p.cmd.Args[1], err, out[strings.LastIndex(out, "\n")+1:])
	}
	if st := p.cmd.ProcessState; st != nil {
		ru := st.SysUsage().(*syscall.Rusage)
		r.cpu, r.sys = time.Duration(ru.Utime.Nano()+ru.Stime.Nano()), time.Duration(ru.Stime.Nano())
	}
	return r
}
