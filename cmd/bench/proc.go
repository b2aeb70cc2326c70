package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// workerEnv is the environment of one worker process, on top of the bench's
// own environment without any DATABASE_URL or TOKENS_* variable, and the
// -worker-env variables.
type workerEnv map[string]string

func (b *bench) env(concurrency int, extra workerEnv) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "TOKENS_") {
			env = append(env, kv)
		}
	}
	vars := workerEnv{
		"DATABASE_URL":        b.dbURL,
		"TOKENS_CONCURRENCY":  strconv.Itoa(concurrency),
		"TOKENS_HTTP_TIMEOUT": "30s",
		"TOKENS_LOG_LEVEL":    "warn",
	}
	if b.opts.dbMaxConns > 0 {
		vars["TOKENS_DB_MAX_CONNS"] = strconv.Itoa(b.opts.dbMaxConns)
	}
	for k, v := range b.opts.workerEnv {
		vars[k] = v
	}
	for k, v := range extra {
		vars[k] = v
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// dbMaxConnsText says which TOKENS_DB_MAX_CONNS the workers ran with.
func (b *bench) dbMaxConnsText() string {
	if b.opts.dbMaxConns > 0 {
		return strconv.Itoa(b.opts.dbMaxConns)
	}
	return "4 (worker default)"
}

// workerProc is one running worker process.
type workerProc struct {
	cmd     *exec.Cmd
	start   time.Time
	stderr  *syncBuffer
	peakRSS atomic.Int64 // KiB, VmHWM
	exited  chan struct{}
	watched sync.WaitGroup
}

// procResult is what a finished worker process cost.
type procResult struct {
	wall time.Duration
	cpu  time.Duration // user + system
	sys  time.Duration // the system part of cpu: the kernel's work for the process
	// maxRSS is the peak resident set (VmHWM) in KiB. Rusage.Maxrss cannot
	// be used: Go starts children with vfork, so the child's figure starts
	// from the bench's own resident set.
	maxRSS int64
	err    error
	stderr string
}

func (b *bench) startWorker(ctx context.Context, command string, concurrency int, extra workerEnv) (*workerProc, error) {
	cmd := exec.CommandContext(ctx, b.workerBin, command)
	cmd.Env = b.env(concurrency, extra)
	p, err := startProc(cmd)
	if err != nil {
		return nil, fmt.Errorf("start worker %s: %w", command, err)
	}
	return p, nil
}

// startProc starts cmd and watches its resident set until it exits.
func startProc(cmd *exec.Cmd) (*workerProc, error) {
	p := &workerProc{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.Stdout = p.stderr
	// Interrupted benchmarks stop their workers the way operators do.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p.watched.Add(1)
	go p.watchRSS()
	return p, nil
}

// watchRSS samples the process's peak resident set until it exits.
func (p *workerProc) watchRSS() {
	defer p.watched.Done()
	path := fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if kib := vmHWM(path); kib > p.peakRSS.Load() {
			p.peakRSS.Store(kib)
		}
		select {
		case <-p.exited:
			return
		case <-t.C:
		}
	}
}

// vmHWM reads the VmHWM line of /proc/PID/status, in KiB; 0 if unreadable.
func vmHWM(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib
		}
	}
	return 0
}

// stop asks the worker to finish (SIGTERM).
func (p *workerProc) stop() error { return p.cmd.Process.Signal(syscall.SIGTERM) }

func (p *workerProc) wait() procResult {
	// VmHWM only grows, so samples every 10 ms miss at most the growth of
	// the last 10 ms before exit.
	err := p.cmd.Wait()
	close(p.exited)
	p.watched.Wait()
	r := procResult{wall: time.Since(p.start), stderr: p.stderr.String(), maxRSS: p.peakRSS.Load()}
	if err != nil {
		r.err = fmt.Errorf("worker: %w: %s", err, lastLines(r.stderr, 5))
	}
	if st := p.cmd.ProcessState; st != nil {
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			r.sys = time.Duration(ru.Stime.Nano())
		}
	}
	return r
}

// runWorker runs one worker process to completion.
func (b *bench) runWorker(ctx context.Context, command string, concurrency int, extra workerEnv) procResult {
	p, err := b.startWorker(ctx, command, concurrency, extra)
	if err != nil {
		return procResult{err: err}
	}
	return p.wait()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// syncBuffer collects a process's output; the exec package copies into it
// from another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Bound the memory a chatty worker can take.
	if s.buf.Len() > 1<<20 {
		return len(p), nil
	}
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
