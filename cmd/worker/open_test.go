package main

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
)

// TestCommandsOpenOnlyWhatTheyUse: every command used to open the spool,
// creating TOKENS_SPOOL_DIR, and a webhook notifier, even `apikey list`.
// Only the commands that refresh open them now.
func TestCommandsOpenOnlyWhatTheyUse(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	_, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	env := envFor(dsn)
	dir := filepath.Join(t.TempDir(), "spool")
	env["TOKENS_SPOOL_DIR"] = dir
	env["TOKENS_WEBHOOK_URL"] = "http://127.0.0.1:1/hook"
	env["TOKENS_WEBHOOK_SECRET"] = "whsec"
	env["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k1")
	for _, c := range []struct{ stdin, args string }{
		{record("a", tokenURL, "at-SECRET-a", "rt-SECRET-a", `"expires_in":3600`), "import"},
		{"", "list"}, {"", "list --json"}, {"", "events a"}, {"", "clear a"}, {"", "disable a"}, {"", "enable a"},
		{"", "apikey list"}, {"", "apikey create --names a"}, {"", "migrate"}, {"", "rekey"}, {"", "providers"},
	} {
		mustRun(t, env, c.stdin, strings.Fields(c.args)...)
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("worker %s created the spool directory (%v)", c.args, err)
		}
	}
	// A refresh may need the spool: it is opened, creating the directory.
	mustRun(t, env, "", "refresh", "a")
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("worker refresh did not open the spool: %v", err)
	}
}

// TestStartUpAsksWhatReadyzAsks: `worker once` and `run` checked for the
// schema by reading oauth_tokens, while /readyz also wants api_keys, so a
// worker started on a database that /readyz called not ready. Both ask one
// check now.
func TestStartUpAsksWhatReadyzAsks(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	c := connect(t, dsn)
	env := envFor(dsn)
	mustRun(t, env, "", "once")
	if _, err := c.Exec(t.Context(), `DROP TABLE api_keys CASCADE`); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"once", "run"} {
		r := run(t, env, "", cmd)
		if r.code != 1 || r.lastLine() != "worker: the schema is not applied; run `worker migrate` first" {
			t.Errorf("worker %s without api_keys: %s", cmd, r)
		}
	}
}

// TestRunSharesOnePoolAndOneListener: with TOKENS_HTTP_ADDR, `worker run`
// gave its token HTTP API a second pool and a second LISTEN connection.
// The API now reads on the worker's pool and wakes on its listener, so the
// process holds at most TOKENS_DB_MAX_CONNS connections plus one LISTEN.
func TestRunSharesOnePoolAndOneListener(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	c := connect(t, dsn)
	_, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	env := envFor(dsn)
	env["TOKENS_DB_MAX_CONNS"] = "2"
	env["TOKENS_POLL_INTERVAL"] = "1h"
	mustRun(t, env, record("a", tokenURL, "at-SECRET-a", "rt-SECRET-a", `"expires_in":3600`), "import")
	key := strings.TrimSpace(mustRun(t, env, "", "apikey", "create", "--names", "a").stdout)

	// The daemon's connections are told apart from the commands' by name.
	denv := maps.Clone(env)
	denv["DATABASE_URL"] = addParam(dsn, "application_name=twdaemon")
	d := startDaemon(t, denv, "run")
	d.stderr.wait(t, "msg=\"worker started\"")
	// The API reads a token, and the worker, sleeping for an hour, wakes
	// on the refresh request that clear sends: both are connected.
	if code, body := d.get(t, "/v1/tokens/a", key); code != 200 || body["access_token"] != "at-SECRET-a" {
		t.Fatalf("GET: %d %v", code, body)
	}
	mustRun(t, env, "", "clear", "a")
	d.stderr.wait(t, "msg=refreshed")
	if code, body := d.get(t, "/v1/tokens/a?wait=10s", key); code != 200 || body["version"] != float64(1) {
		t.Fatalf("GET after the refresh: %d %v", code, body)
	}

	var listening, all int
	if err := c.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE query ILIKE 'listen %'), count(*)
		FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'twdaemon'`).Scan(&listening, &all); err != nil {
		t.Fatal(err)
	}
	if listening != 1 || all > 2+1 {
		t.Errorf("worker run with the HTTP API holds %d connections, %d of them listening; want at most 2 + 1, one listening", all, listening)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("run exited %d:\n%s", code, d.stderr.String())
	}
}

// addParam adds a query parameter to a database URL.
func addParam(dsn, kv string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&" + kv
	}
	return dsn + "?" + kv
}
