package main

import (
	"errors"
	"io/fs"
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
	if _, err := c.Exec(t.Context(), `DROP TABLE api_keys`); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"once", "run"} {
		r := run(t, env, "", cmd)
		if r.code != 1 || r.lastLine() != "worker: the schema is not applied; run `worker migrate` first" {
			t.Errorf("worker %s without api_keys: %s", cmd, r)
		}
	}
}
