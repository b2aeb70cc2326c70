// Package scripts_test runs the developer scripts the way make does, and
// checks that they leave nothing running that they started.
package scripts_test

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// environ is this process's environment without DATABASE_URL, plus extra.
func environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// copyFiles copies the repository's files at rel (relative paths) into dir.
func copyFiles(t *testing.T, dir string, rel ...string) {
	t.Helper()
	for _, r := range rel {
		b, err := os.ReadFile(filepath.Join("..", r))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(r)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, r), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMakeTestStopsTheDatabaseItStarted runs the Makefile's test target in a
// copy of the Makefile and scripts, with a go that records whether the
// database was up and then fails as failing tests do. The cluster make
// started must be stopped afterwards; one that was running before, or a
// DATABASE_URL of the caller's, must be left alone.
func TestMakeTestStopsTheDatabaseItStarted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyFiles(t, dir, "Makefile", "scripts/pg.sh", "scripts/with-db.sh", "scripts/chromium.sh")
	report := filepath.Join(dir, "go-saw")
	fakeGo := filepath.Join(dir, "fakego")
	// The go make calls: vet passes; test records DATABASE_URL and whether
	// the cluster answers, then fails.
	script := "#!/usr/bin/env bash\n[ \"$1\" = test ] || exit 0\n" +
		"echo \"$DATABASE_URL\" > " + report + "\n" +
		"bash " + filepath.Join(dir, "scripts/pg.sh") + " status 2>/dev/null && echo up >> " + report + "\n" +
		"exit 1\n"
	if err := os.WriteFile(fakeGo, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	env := environ("TOKENWARDEN_PG_PORT=" + port)
	pg := func(cmd string) int {
		c := exec.Command("bash", filepath.Join(dir, "scripts/pg.sh"), cmd)
		c.Env = env
		out, err := c.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("pg.sh %s: %v\n%s", cmd, err, out)
		}
		return c.ProcessState.ExitCode()
	}
	t.Cleanup(func() { pg("stop") })
	makeTest := func(env []string) (saw string) {
		t.Helper()
		os.Remove(report)
		c := exec.Command("make", "-s", "-C", dir, "test", "GO="+fakeGo)
		c.Env = env
		out, err := c.CombinedOutput()
		if err == nil {
			t.Fatalf("make test passed although the tests failed:\n%s", out)
		}
		b, err := os.ReadFile(report)
		if err != nil {
			t.Fatalf("make test never ran go test: %v\n%s", err, out)
		}
		return string(b)
	}

	saw := makeTest(env)
	if want := "postgres://tokenwarden@127.0.0.1:" + port + "/tokenwarden?sslmode=disable\nup\n"; saw != want {
		t.Fatalf("go test saw %q, want %q", saw, want)
	}
	if code := pg("status"); code != 3 {
		t.Fatalf("after make test, the cluster it started is still running (pg.sh status exit %d)", code)
	}

	// A cluster already running is the developer's: left running.
	if code := pg("start"); code != 0 {
		t.Fatalf("pg.sh start exit %d", code)
	}
	if saw := makeTest(env); !strings.HasSuffix(saw, "up\n") {
		t.Fatalf("go test saw %q", saw)
	}
	if code := pg("status"); code != 0 {
		t.Fatalf("make test stopped a cluster it did not start (pg.sh status exit %d)", code)
	}
	pg("stop")

	// With DATABASE_URL set nothing is started.
	given := "postgres://someone@127.0.0.1:1/elsewhere"
	if saw := makeTest(append(env, "DATABASE_URL="+given)); saw != given+"\n" {
		t.Fatalf("with DATABASE_URL set go test saw %q", saw)
	}
}

// TestDevRunStopsOnSignal runs scripts/dev-run.sh (make run) against a test
// database and sends SIGTERM or SIGINT to the script's process alone, as a
// process manager or `kill` does: the script must stop the worker and the
// mock provider, wait for them and exit 0, leaving no process behind.
func TestDevRunStopsOnSignal(t *testing.T) {
	t.Parallel()
	// One after the other: both runs build into the repository's .dev/bin.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		dsn := pgtest.New(t)
		var out testutil.Buffer
		c := exec.Command("bash", "dev-run.sh")
		c.Env = environ("DATABASE_URL="+dsn, "TOKENWARDEN_MOCK_ADDR=127.0.0.1:"+freePort(t),
			"TOKENS_HTTP_ADDR=127.0.0.1:"+freePort(t), "TOKENS_SPOOL_DIR="+t.TempDir())
		c.Stdout, c.Stderr = &out, &out
		// Its own process group, so that afterwards the test can tell
		// whether anything the script started is still alive.
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		pgid := c.Process.Pid
		t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGKILL) })

		deadline := time.After(2 * time.Minute)
		// The banner comes once the console answers: the worker has started.
		for !strings.Contains(out.String(), "/console/  admin key: tw_") {
			select {
			case err := <-done:
				t.Fatalf("dev-run.sh exited before the worker started: %v\n%s", err, out.String())
			case <-deadline:
				t.Fatalf("the worker did not start:\n%s", out.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
		if err := c.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: dev-run.sh: %v\n%s", sig, err, out.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: dev-run.sh did not stop within 30s:\n%s", sig, out.String())
		}
		if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s: processes dev-run.sh started are still running (kill -0: %v)", sig, err)
		}
		if !strings.Contains(out.String(), "worker stopped") {
			t.Errorf("%s: the worker did not stop cleanly:\n%s", sig, out.String())
		}
	}
}
