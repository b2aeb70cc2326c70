package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// readToken reads the json file, or reports it is not there (yet).
func readToken(t *testing.T, path string) (fileToken, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return fileToken{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var f fileToken
	if err := json.Unmarshal(b, &f); err != nil {
		// Never a partial file: writes are atomic.
		t.Fatalf("%s holds no JSON token: %v", path, err)
	}
	return f, true
}

func TestWatchMirrorsTheToken(t *testing.T) {
	t.Parallel()
	c, env := setup(t, fresh("xero-acme"))
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")

	w := startWatch(t, env, "get", "xero-acme", "--watch", "--write", path, "--interval", "20ms")

	testutil.Eventually(t, 20*time.Second, "the first token in the file", func() bool {
		f, ok := readToken(t, path)
		return ok && f.AccessToken == "at-SECRET-xero-acme" && f.Version == 0
	})
	f, _ := readToken(t, path)
	if f.TokenType != "Bearer" || f.ExpiresAt == nil || time.Until(*f.ExpiresAt) < 50*time.Minute {
		t.Errorf("file token %+v", f)
	}

	exec(t, c, `UPDATE oauth_tokens SET access_token = 'at-SECRET-new', version = version + 1,
		access_token_expires = now() + interval '2 hours' WHERE name = 'xero-acme'`)
	testutil.Eventually(t, 20*time.Second, "the new token in the file", func() bool {
		f, ok := readToken(t, path)
		return ok && f.AccessToken == "at-SECRET-new" && f.Version == 1
	})

	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v; want only token.json", names)
	}

	w.stop(t)
	if strings.Contains(w.stdout.String()+w.stderr.String(), "SECRET") {
		t.Errorf("output holds a token: stdout %q stderr %q", w.stdout.String(), w.stderr.String())
	}
	if !strings.Contains(w.stdout.String(), "version 1") {
		t.Errorf("stdout %q", w.stdout.String())
	}
}

// watch is a `consumer get --watch` running in the test.
type watch struct {
	stdout, stderr syncBuffer
	cancel         context.CancelFunc
	done           chan int
}

// startWatch runs the consumer with args until stop, or the test's end.
func startWatch(t *testing.T, env map[string]string, args ...string) *watch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watch{cancel: cancel, done: make(chan int, 1)}
	go func() {
		a := &app{stdout: &w.stdout, stderr: &w.stderr, environ: env}
		w.done <- a.main(ctx, args)
	}()
	t.Cleanup(cancel)
	return w
}

// stop cancels the watch, as SIGINT/SIGTERM do, and fails the test unless
// it exits 0 within 20 s.
func (w *watch) stop(t *testing.T) {
	t.Helper()
	w.cancel()
	select {
	case code := <-w.done:
		if code != 0 {
			t.Errorf("exit %d after the signal; stderr %q", code, w.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("watch did not stop")
	}
}

func TestWriteEnvOnce(t *testing.T) {
	t.Parallel()
	_, env := setup(t, fresh("xero-acme.2"))
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, env, "", "get", "xero-acme.2", "--write", path, "--format", "env")
	if r.code != 0 || strings.Contains(r.stdout, "SECRET") {
		t.Fatalf("%s", r)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 4 || lines[0] != "XERO_ACME_2_ACCESS_TOKEN=at-SECRET-xero-acme.2" || lines[1] != "XERO_ACME_2_TOKEN_TYPE=Bearer" ||
		!strings.HasPrefix(lines[2], "XERO_ACME_2_EXPIRES_AT=20") || lines[3] != "XERO_ACME_2_VERSION=0" {
		t.Errorf(".env:\n%s", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode())
	}
}

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	_, env := setup(t)
	path := filepath.Join(t.TempDir(), "t.json")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"get", "a", "--watch"}, 2, "--watch needs --write"},
		{[]string{"get", "a", "--format", "env"}, 2, "--format needs --write"},
		{[]string{"get", "a", "--write", path, "--format", "yaml"}, 2, "json or env"},
		{[]string{"get", "a", "--write", path, "--json"}, 2, "--json"},
		{[]string{"get", "a", "--write", path, "--watch", "--interval", "0s"}, 2, "--interval"},
		// Nothing mirrored yet: a wrong name ends the watch at once.
		{[]string{"get", "missing", "--write", path, "--watch"}, 1, "no such connection"},
		{[]string{"get", "missing", "--write", filepath.Join(path, "nodir", "x")}, 1, "no such connection"},
	} {
		r := run(t, env, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.oneLine(t), tc.want) {
			t.Errorf("%v: %s; want exit %d mentioning %q", tc.args, r, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a failed command wrote %s", path)
	}
}

func TestEnvNaming(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"xero-acme": "XERO_ACME", "a.b/c d": "A_B_C_D", "9lives": "_9LIVES", "Ünï": "__N__"} {
		if got := envPrefix(in); got != want {
			t.Errorf("envPrefix(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"eyJ.a-b_c~+/=": "eyJ.a-b_c~+/=", "a b": `"a b"`, `x"$y`: `"x\"\$y"`, "": ""} {
		if got := envQuote(in); got != want {
			t.Errorf("envQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// A watch wakes on the change notification: with a poll interval of an
// hour and a token valid for two, a stored change still reaches the file
// at once.
func TestWatchWakesOnTheChangeNotification(t *testing.T) {
	t.Parallel()
	c, env := setup(t, fresh("notified"))
	path := filepath.Join(t.TempDir(), "token.json")
	exec(t, c, `UPDATE oauth_tokens SET access_token_expires = now() + interval '2 hours' WHERE name = 'notified'`)

	w := startWatch(t, env, "get", "notified", "--watch", "--write", path, "--interval", "1h")
	testutil.Eventually(t, 20*time.Second, "the first token in the file", func() bool {
		f, ok := readToken(t, path)
		return ok && f.Version == 0
	})

	exec(t, c, `UPDATE oauth_tokens SET access_token = 'at-SECRET-notified', version = version + 1,
		access_token_expires = now() + interval '2 hours' WHERE name = 'notified'`)
	testutil.Eventually(t, 20*time.Second, "the stored token in the file without a poll", func() bool {
		f, ok := readToken(t, path)
		return ok && f.AccessToken == "at-SECRET-notified" && f.Version == 1
	})
	w.stop(t)
}
