package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// workerBinary builds the worker once per test binary.
func workerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "worker-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "worker")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a worker process.
type proc struct {
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{}
	err    error
}

func startWorker(t *testing.T, dsn string, args ...string) *proc {
	t.Helper()
	return startWith(t, map[string]string{
		"DATABASE_URL":         dsn,
		"TOKENS_POLL_INTERVAL": "1h",
		"TOKENS_LOG_LEVEL":     "debug",
	}, args...)
}

// startWith starts the worker binary with exactly the environment env.
func startWith(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(workerBinary(t), args...), output: &syncBuffer{}, done: make(chan struct{})}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("worker did not exit within %s after the signal; output:\n%s", timeout, p.output.String())
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		t.Fatalf("wait: %v", p.err)
	}
	return p.cmd.ProcessState.ExitCode()
}

// TestRunFinishesRefreshOnSIGTERM stops the worker while a refresh is at the
// provider: the refresh, whose answer rotates the refresh token, must still
// be stored before the process exits 0.
func TestRunFinishesRefreshOnSIGTERM(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	c := connect(t, dsn)
	mp := mockprovider.New(mockprovider.Options{Rotate: true, Latency: time.Second})
	arrived := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(arrived) })
		mp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	const rt = "rt-SECRET-sigterm"
	mustRun(t, envFor(dsn), record("s1", srv.URL+"/token", "at-SECRET-sigterm", rt, `"expires_at":"2020-01-01T00:00:00Z"`), "import")

	p := startWorker(t, dsn, "run")
	select {
	case <-arrived:
	case <-p.done:
		t.Fatalf("worker exited before refreshing: %v\n%s", p.err, p.output.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the provider got no request; output:\n%s", p.output.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal: %v", err)
	}
	code := p.wait(t, 30*time.Second)
	out := p.output.String()
	if code != 0 {
		t.Errorf("worker exited %d after SIGTERM; output:\n%s", code, out)
	}
	iss, ok := mp.Issued(rt)
	if !ok {
		t.Fatalf("the provider issued nothing (calls %d); output:\n%s", mp.Calls(), out)
	}
	for _, secret := range []string{secretMark, iss.AccessToken, iss.RefreshToken} {
		if strings.Contains(out, secret) {
			t.Errorf("worker output repeats a secret %q:\n%s", secret, out)
		}
	}
	row := getRow(t, c, "s1")
	if str(row.AccessToken) != iss.AccessToken || str(row.RefreshToken) != iss.RefreshToken || iss.RefreshToken == rt {
		t.Errorf("row holds %s/%s, provider issued %s/%s", str(row.AccessToken), str(row.RefreshToken), iss.AccessToken, iss.RefreshToken)
	}
	if row.Version != 1 || row.Updating || row.ClaimID != nil || row.Status != "active" || row.Due {
		t.Errorf("after SIGTERM: %+v", row)
	}
	if mp.Calls() != 1 || mp.Reuses() != 0 {
		t.Errorf("provider calls %d reuses %d, want 1, 0", mp.Calls(), mp.Reuses())
	}
	if !strings.Contains(out, "worker stopped") {
		t.Errorf("no \"worker stopped\" in the output:\n%s", out)
	}
}

// TestRunStopsWhenIdle checks that an idle worker stops at once on SIGTERM
// and SIGINT, with exit code 0.
func TestRunStopsWhenIdle(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.New(t)
			p := startWorker(t, dsn, "run")
			testutil.Eventually(t, 30*time.Second, "the worker to start", func() bool {
				return strings.Contains(p.output.String(), "worker started")
			})
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatalf("signal: %v", err)
			}
			if code := p.wait(t, 30*time.Second); code != 0 {
				t.Errorf("worker exited %d after %s; output:\n%s", code, sig, p.output.String())
			}
		})
	}
}

// TestRunWithoutSchema checks that the process refuses to start on a
// database without the schema, with one line and exit 1.
func TestRunWithoutSchema(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	c := connect(t, dsn)
	if _, err := c.Exec(t.Context(), `DROP TABLE oauth_tokens CASCADE`); err != nil {
		t.Fatal(err)
	}
	p := startWorker(t, dsn, "run")
	if code := p.wait(t, 30*time.Second); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if out := p.output.String(); out != "worker: the schema is not applied; run `worker migrate` first\n" {
		t.Errorf("output %q", out)
	}
}
