package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
)

// logWatch collects a running command's stderr and lets a test wait for a
// line, instead of sleeping.
type logWatch struct {
	mu    sync.Mutex
	b     strings.Builder
	waits map[string]chan string
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	for sub, ch := range w.waits {
		if line, ok := lineWith(w.b.String(), sub); ok {
			ch <- line
			delete(w.waits, sub)
		}
	}
	return len(p), nil
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func lineWith(s, sub string) (string, bool) {
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			return line, true
		}
	}
	return "", false
}

// wait returns the first line containing sub, waiting for it to be written.
func (w *logWatch) wait(t *testing.T, sub string) string {
	t.Helper()
	ch := make(chan string, 1)
	w.mu.Lock()
	if line, ok := lineWith(w.b.String(), sub); ok {
		w.mu.Unlock()
		return line
	}
	if w.waits == nil {
		w.waits = map[string]chan string{}
	}
	w.waits[sub] = ch
	w.mu.Unlock()
	select {
	case line := <-ch:
		return line
	case <-time.After(30 * time.Second): // a guard against hanging, not synchronisation
		t.Fatalf("no log line with %q; stderr:\n%s", sub, w.String())
		return ""
	}
}

// daemon is a long-running command (serve, run) started in-process.
type daemon struct {
	stdout *syncBuffer
	stderr *logWatch
	cancel context.CancelFunc
	code   chan int
	base   string // http://addr of its HTTP API
}

// startDaemon runs `worker args...` with TOKENS_HTTP_ADDR on a free port
// and waits until it listens.
func startDaemon(t *testing.T, environ map[string]string, args ...string) *daemon {
	t.Helper()
	environ = maps.Clone(environ)
	environ["TOKENS_HTTP_ADDR"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{stdout: &syncBuffer{}, stderr: &logWatch{}, cancel: cancel, code: make(chan int, 1)}
	a := &invocation{stdin: strings.NewReader(""), stdout: d.stdout, stderr: d.stderr, environ: environ}
	go func() { d.code <- a.main(ctx, args) }()
	t.Cleanup(func() { d.stop(t) })
	line := d.stderr.wait(t, "HTTP API listening")
	m := regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no address in %q", line)
	}
	d.base = "http://" + m[1]
	return d
}

// stop ends the daemon as SIGTERM would and returns its exit code.
func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	d.cancel()
	select {
	case c := <-d.code:
		d.code <- c // for a second stop (the cleanup)
		return c
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not stop; stderr:\n%s", d.stderr.String())
		return -1
	}
}

// get sends GET path with key and returns the status and JSON body.
func (d *daemon) get(t *testing.T, path, key string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", d.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("GET %s: %q: %v", path, b, err)
		}
	} else {
		body = map[string]any{"text": string(b)}
	}
	return resp.StatusCode, body
}

func TestAPIKeyCommands(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	mustRun(t, env, record("xero-acme", "http://127.0.0.1:1/token", "at-SECRET-xero", "rt-SECRET-xero", `"expires_in":3600`)+"\n"+
		record("hubspot-acme", "http://127.0.0.1:1/token", "at-SECRET-hub", "rt-SECRET-hub", `"expires_in":3600`), "import")

	// Command-line mistakes.
	for _, args := range [][]string{
		{"apikey"}, {"apikey", "frob"}, {"apikey", "create"}, {"apikey", "create", "--names", "xero-["},
		{"apikey", "create", "--names", " , "}, {"apikey", "revoke"}, {"apikey", "list", "extra"},
	} {
		if r := run(t, env, "", args...); r.code != 2 {
			t.Errorf("worker %s: %s; want exit 2", strings.Join(args, " "), r)
		}
	}

	r := mustRun(t, env, "", "apikey", "create", "--names", "xero-*, hubspot-acme", "--label", "billing app")
	key := strings.TrimSuffix(r.stdout, "\n")
	id, ok := apikey.ID(key)
	if !ok || strings.Contains(key, "\n") {
		t.Fatalf("stdout is not one key: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, id) || strings.Contains(r.stderr, key) {
		t.Errorf("stderr should name the id, not the key: %q", r.stderr)
	}
	other := strings.TrimSpace(mustRun(t, env, "", "apikey", "create", "--names", "nothing-*").stdout)

	// list shows everything but the key and its hash.
	// The part after "tw_<id>_": its base64url alphabet includes '_', so
	// cutting at the last '_' could leave a few characters that appear in
	// any output by chance.
	secretPart := strings.TrimPrefix(key, "tw_"+id+"_")
	hashHex := hex.EncodeToString(apikey.Hash(key))
	checkList := func(lastUsed bool) {
		t.Helper()
		for _, args := range [][]string{{"apikey", "list"}, {"apikey", "list", "--json"}} {
			r := mustRun(t, env, "", args...)
			for _, leak := range []string{key, secretPart, hashHex, other} {
				if strings.Contains(r.stdout+r.stderr, leak) {
					t.Fatalf("worker %s prints a key or hash:\n%s", strings.Join(args, " "), r)
				}
			}
			for _, want := range []string{id, "billing app", "xero-*", "hubspot-acme"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("worker %s lacks %q:\n%s", strings.Join(args, " "), want, r.stdout)
				}
			}
		}
		var entries []apikeyEntry
		if err := json.Unmarshal([]byte(mustRun(t, env, "", "apikey", "list", "--json").stdout), &entries); err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 || entries[0].ID != id || (entries[0].LastUsedAt != nil) != lastUsed || entries[0].RevokedAt != nil {
			t.Errorf("list --json: %+v (want last used %v)", entries, lastUsed)
		}
	}
	checkList(false)

	// The printed key works against the API that `worker serve` runs.
	d := startDaemon(t, env, "serve")
	if code, body := d.get(t, "/v1/tokens/xero-acme", key); code != 200 || body["access_token"] != "at-SECRET-xero" {
		t.Fatalf("GET with the new key: %d %v", code, body)
	}
	if code, _ := d.get(t, "/v1/tokens/hubspot-acme", key); code != 200 {
		t.Errorf("GET hubspot-acme: %d", code)
	}
	if code, _ := d.get(t, "/v1/tokens/xero-acme", other); code != 403 {
		t.Errorf("GET with a key for nothing-*: %d, want 403", code)
	}
	if code, _ := d.get(t, "/readyz", ""); code != 200 {
		t.Errorf("readyz: %d", code)
	}
	if code, body := d.get(t, "/metrics", ""); code != 200 || !strings.Contains(body["text"].(string), `tokenwarden_connections{status="active"} 2`) {
		t.Errorf("metrics: %d %v", code, body)
	}
	checkList(true)

	r = mustRun(t, env, "", "apikey", "revoke", id)
	if !strings.Contains(r.stdout, "revoked API key "+id) {
		t.Errorf("revoke: %s", r)
	}
	if code, body := d.get(t, "/v1/tokens/xero-acme", key); code != 401 {
		t.Errorf("GET with the revoked key: %d %v", code, body)
	}
	r = mustRun(t, env, "", "apikey", "list")
	if !regexp.MustCompile(id + `.*\d{4}-\d\d-\d\dT.*\d{4}-\d\d-\d\dT.*\d{4}-\d\d-\d\dT`).MatchString(r.stdout) {
		t.Errorf("list does not show created, last used and revoked:\n%s", r.stdout)
	}
	if r := run(t, env, "", "apikey", "revoke", "0000000000000000"); r.code != 1 || !strings.Contains(r.oneLine(t), "no such API key") {
		t.Errorf("revoke unknown: %s", r)
	}

	if code := d.stop(t); code != 0 {
		t.Errorf("serve exited %d after the signal; stderr:\n%s", code, d.stderr.String())
	}
	logs := d.stderr.String() + d.stdout.String()
	for _, leak := range []string{key, secretPart, other, "SECRET"} {
		if strings.Contains(logs, leak) {
			t.Errorf("serve's output holds a key or token:\n%s", logs)
		}
	}
}

func TestServeNeedsAddress(t *testing.T) {
	t.Parallel()
	r := run(t, map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:1/db"}, "", "serve")
	if r.code != 1 || !strings.Contains(r.oneLine(t), "TOKENS_HTTP_ADDR is not set") {
		t.Errorf("serve without TOKENS_HTTP_ADDR: %s", r)
	}
	if r := run(t, map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:1/db", "TOKENS_HTTP_ADDR": ":1"}, "", "serve", "extra"); r.code != 2 {
		t.Errorf("serve with an argument: %s", r)
	}
}

func TestRunServesAPIAndMetrics(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	prov, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	mustRun(t, env, record("xero-acme", tokenURL, "at-SECRET-old", "rt-SECRET-1", `"expires_at":"2000-01-01T00:00:00Z"`), "import")
	key := strings.TrimSpace(mustRun(t, env, "", "apikey", "create", "--names", "xero-*").stdout)

	d := startDaemon(t, env, "run")
	// The "refreshed" line is logged after the worker reported to the
	// metrics, in the same goroutine.
	d.stderr.wait(t, "msg=refreshed")
	issued, ok := prov.Issued("rt-SECRET-1")
	if !ok {
		t.Fatal("the provider issued nothing")
	}
	code, body := d.get(t, "/v1/tokens/xero-acme?wait=10s", key)
	if code != 200 || body["access_token"] != issued.AccessToken || body["version"] != float64(1) {
		t.Fatalf("GET after the refresh: %d %v", code, body)
	}
	_, m := d.get(t, "/metrics", "")
	text := m["text"].(string)
	for _, want := range []string{
		`tokenwarden_refresh_attempts_total{outcome="success",provider="oauth2"} 1`,
		`tokenwarden_refresh_duration_seconds_count{provider="oauth2"} 1`,
		`tokenwarden_lease_takeovers_total 0`,
		`tokenwarden_connections{status="active"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("run exited %d; stderr:\n%s", code, d.stderr.String())
	}
	if logs := d.stderr.String(); strings.Contains(logs, "SECRET") || strings.Contains(logs, issued.AccessToken) || strings.Contains(logs, key) {
		t.Errorf("run's log holds a secret:\n%s", logs)
	}
}
