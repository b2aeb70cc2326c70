package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// syncBuffer is safe for the goroutines under test to write to.
type syncBuffer = testutil.Buffer

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
}

// oneLine fails the test unless stderr is one line starting "consumer: ".
func (r result) oneLine(t *testing.T) string {
	t.Helper()
	if !strings.HasPrefix(r.stderr, "consumer: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one line starting with \"consumer: \": %q", r.stderr)
	}
	return strings.TrimSuffix(r.stderr, "\n")
}

// run runs a consumer command in-process. Every planted secret contains
// "SECRET"; stderr may never hold one, and stdout only when the command
// succeeded and is meant to print the token.
func run(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, environ: env}
	r := result{code: a.main(ctx, args)}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	if strings.Contains(r.stderr, "SECRET") {
		t.Errorf("stderr repeats a secret: %q", r.stderr)
	}
	if r.code != 0 && strings.Contains(r.stdout, "SECRET") {
		t.Errorf("a failed command printed a secret: %q", r.stdout)
	}
	if len(args) == 0 || args[0] != "get" {
		if strings.Contains(r.stdout, "SECRET") {
			t.Errorf("%v printed a secret: %q", args, r.stdout)
		}
	}
	return r
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func exec(t *testing.T, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func strp(s string) *string { return &s }

// setup returns a fresh database holding the given connections, and its
// environment.
func setup(t *testing.T, rows ...store.ImportRow) (*pgx.Conn, map[string]string) {
	t.Helper()
	dsn := pgtest.New(t)
	if len(rows) > 0 {
		st, err := store.Open(context.Background(), dsn, 2)
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		defer st.Close()
		if err := st.Import(context.Background(), rows); err != nil {
			t.Fatalf("import: %v", err)
		}
	}
	return connect(t, dsn), map[string]string{"DATABASE_URL": dsn}
}

// fresh is a connection whose access token is valid for an hour.
func fresh(name string) store.ImportRow {
	exp := time.Now().Add(time.Hour)
	return store.ImportRow{
		Name: name, TokenURL: strp("https://auth.example.com/token"), ClientID: strp("cid"),
		ClientSecret: strp("cs-SECRET-" + name), AccessToken: strp("at-SECRET-" + name),
		RefreshToken: strp("rt-SECRET-" + name), AccessTokenExpires: &exp,
	}
}

type state struct {
	AccessToken *string
	Due         bool
	Version     int64
	Snapshot    string
}

func rowState(t *testing.T, c *pgx.Conn, name string) state {
	t.Helper()
	var s state
	err := c.QueryRow(context.Background(), `
		SELECT access_token, COALESCE(access_token_expires <= now(), false), version, row_to_json(t)::text
		FROM oauth_tokens t WHERE name = $1`, name).Scan(&s.AccessToken, &s.Due, &s.Version, &s.Snapshot)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return s
}

// getWaiting runs `get NAME --timeout 200ms` for a connection no worker will
// refresh. --timeout also bounds connecting, reading the row and asking for
// a refresh, so on a loaded machine the deadline can pass before the wait
// begins ("gave up reading the token", "request refresh of NAME: timeout");
// only then is it retried, with a longer timeout.
func getWaiting(t *testing.T, env map[string]string, name string) result {
	t.Helper()
	var r result
	for timeout := 200 * time.Millisecond; timeout <= 5*time.Second; timeout *= 2 {
		r = run(t, env, "", "get", name, "--timeout", timeout.String())
		if !strings.Contains(r.stderr, "deadline exceeded") || strings.Contains(r.stderr, "gave up waiting for") {
			return r
		}
		t.Logf("get %s --timeout %s ran out before waiting: %s", name, timeout, r.stderr)
	}
	return r
}

func TestGet(t *testing.T) {
	t.Parallel()
	_, env := setup(t, fresh("acme"))
	r := run(t, env, "", "get", "acme")
	if r.code != 0 || r.stdout != "at-SECRET-acme\n" || r.stderr != "" {
		t.Errorf("get acme: %s", r)
	}
	// A token that never expires is handed out too.
	never := fresh("never")
	never.RefreshToken, never.AccessTokenExpires = nil, nil
	_, env2 := setup(t, never)
	r = run(t, env2, "", "get", "never")
	if r.code != 0 || r.stdout != "at-SECRET-never\n" {
		t.Errorf("get never: %s", r)
	}
}

func TestGetJSON(t *testing.T) {
	t.Parallel()
	c, env := setup(t, fresh("acme"))
	exec(t, c, `UPDATE oauth_tokens SET version = 7, json_data = '{"token_type":"MAC","instance_url":"https://x"}' WHERE name = 'acme'`)
	for _, args := range [][]string{
		{"get", "acme", "--json"},
		{"get", "--json", "acme"},
		{"get", "-json", "acme", "--timeout", "5s"},
		{"get", "--timeout=5s", "acme", "--json"},
	} {
		r := run(t, env, "", args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%v: %s", args, r)
			continue
		}
		var tok struct {
			Name        string         `json:"name"`
			AccessToken string         `json:"access_token"`
			TokenType   string         `json:"token_type"`
			Expiry      time.Time      `json:"expiry"`
			Version     int64          `json:"version"`
			Extra       map[string]any `json:"extra"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil {
			t.Errorf("%v printed invalid JSON %q: %v", args, r.stdout, err)
			continue
		}
		if tok.Name != "acme" || tok.AccessToken != "at-SECRET-acme" || tok.Version != 7 || tok.TokenType != "MAC" ||
			tok.Extra["instance_url"] != "https://x" || time.Until(tok.Expiry) < 50*time.Minute {
			t.Errorf("%v: %+v", args, tok)
		}
		for _, secret := range []string{"rt-SECRET", "cs-SECRET"} {
			if strings.Contains(r.stdout, secret) {
				t.Errorf("%v printed the refresh token or client secret: %s", args, r.stdout)
			}
		}
	}
}

func TestGetErrors(t *testing.T) {
	t.Parallel()
	expired := fresh("expired")
	past := time.Now().Add(-time.Minute)
	expired.AccessTokenExpires = &past
	dead := fresh("dead")
	dead.RefreshToken, dead.AccessTokenExpires = nil, &past
	c, env := setup(t, fresh("reauth"), fresh("disabled"), expired, dead)
	exec(t, c, `UPDATE oauth_tokens SET status = 'needs_reauth', last_error = 'x' WHERE name = 'reauth'`)
	exec(t, c, `UPDATE oauth_tokens SET status = 'disabled' WHERE name = 'disabled'`)

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown name", []string{"get", "nope"}, []string{"no such connection", "nope"}},
		{"needs reauth", []string{"get", "reauth"}, []string{"reauth needs re-authorization", ": x"}},
		{"disabled", []string{"get", "disabled"}, []string{"disabled"}},
		{"expired without refresh token", []string{"get", "dead", "--timeout", "200ms"},
			[]string{"needs re-authorization", "no refresh token"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, env, "", tc.args...)
			if r.code != 1 || r.stdout != "" {
				t.Errorf("%s", r)
			}
			line := r.oneLine(t)
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("error %q does not contain %q", line, w)
				}
			}
		})
	}
	t.Run("expired with no worker", func(t *testing.T) {
		t.Parallel()
		r := getWaiting(t, env, "expired")
		if r.code != 1 || r.stdout != "" {
			t.Errorf("%s", r)
		}
		line := r.oneLine(t)
		for _, w := range []string{"expired: gave up waiting for a refresh of the expired token", "deadline exceeded"} {
			if !strings.Contains(line, w) {
				t.Errorf("error %q does not contain %q", line, w)
			}
		}
	})
	t.Cleanup(func() {
		// Waiting consumers never change the row themselves.
		if s := rowState(t, c, "expired"); s.Version != 0 || s.AccessToken == nil || *s.AccessToken != "at-SECRET-expired" {
			t.Errorf("get changed the expired row: %+v", s)
		}
	})
}

func TestConfigAndUsageErrors(t *testing.T) {
	t.Parallel()
	const pw = "pw-SECRET-db"
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"missing DATABASE_URL", map[string]string{}, []string{"get", "acme"}, 1, "DATABASE_URL is not set"},
		{"missing DATABASE_URL for invalidate", map[string]string{}, []string{"invalidate", "acme"}, 1, "DATABASE_URL is not set"},
		{"malformed DATABASE_URL", map[string]string{"DATABASE_URL": "http://u:" + pw + "@x/db"}, []string{"get", "acme"}, 1, "DATABASE_URL is malformed"},
		{"unreachable database", map[string]string{"DATABASE_URL": "postgres://u:" + pw + "@127.0.0.1:1/db?sslmode=disable"}, []string{"get", "acme", "--timeout", "10s"}, 1, "failed to connect"},
		// Read as the worker reads it: "yes" was silently false here.
		{"TOKENS_POLL_ONLY not a boolean", map[string]string{"DATABASE_URL": "postgres://u:" + pw + "@127.0.0.1:1/db?sslmode=disable", "TOKENS_POLL_ONLY": "yes"}, []string{"get", "acme", "--timeout", "10s"}, 1, "TOKENS_POLL_ONLY: "},
		{"no name", map[string]string{}, []string{"get"}, 2, "get takes one connection name"},
		{"no name with a flag", map[string]string{}, []string{"get", "--json"}, 2, "get takes one connection name"},
		{"two names", map[string]string{}, []string{"get", "a", "b"}, 2, "get takes one connection name"},
		{"zero timeout", map[string]string{}, []string{"get", "a", "--timeout", "0s"}, 2, "--timeout must be positive"},
		{"bad timeout", map[string]string{}, []string{"get", "a", "--timeout", "soon"}, 2, "usage"},
		{"unknown flag", map[string]string{}, []string{"get", "a", "--bogus"}, 2, "usage"},
		{"unknown command", map[string]string{}, []string{"put", "a"}, 2, `unknown command "put"`},
		{"invalidate without a name", map[string]string{}, []string{"invalidate"}, 2, "invalidate takes one connection name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tc.env, "at-SECRET-stdin\n", tc.args...)
			if r.code != tc.code || r.stdout != "" {
				t.Errorf("%s", r)
			}
			if line := r.oneLine(t); !strings.Contains(line, tc.want) || strings.Contains(line, pw) {
				t.Errorf("error %q: want %q and no password", line, tc.want)
			}
		})
	}
	r := run(t, nil, "")
	if r.code != 2 || !strings.Contains(r.stderr, "usage:") {
		t.Errorf("no command: %s", r)
	}
	r = run(t, nil, "", "help")
	if r.code != 0 || !strings.Contains(r.stderr, "consumer get NAME") {
		t.Errorf("help: %s", r)
	}
}

func TestInvalidate(t *testing.T) {
	t.Parallel()
	c, env := setup(t, fresh("acme"), fresh("other"))
	before := rowState(t, c, "acme")
	if before.Due {
		t.Fatal("fresh row is due")
	}
	other := rowState(t, c, "other")

	// A token that is not the current one changes nothing.
	for _, stale := range []string{"at-SECRET-older\n", "at-SECRET-acm\n", "at-SECRET-other\n"} {
		r := run(t, env, stale, "invalidate", "acme")
		if r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Errorf("invalidate with %q: %s", stale, r)
		}
		if s := rowState(t, c, "acme"); s.Snapshot != before.Snapshot {
			t.Errorf("invalidate with a different token changed the row:\nbefore %s\nafter  %s", before.Snapshot, s.Snapshot)
		}
	}

	// The current token makes the row due, and only that row.
	r := run(t, env, "  at-SECRET-acme\r\n", "invalidate", "acme")
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("invalidate with the current token: %s", r)
	}
	s := rowState(t, c, "acme")
	if !s.Due || s.AccessToken == nil || *s.AccessToken != "at-SECRET-acme" || s.Version != before.Version {
		t.Errorf("after invalidate: due %t version %d", s.Due, s.Version)
	}
	if o := rowState(t, c, "other"); o.Snapshot != other.Snapshot {
		t.Errorf("invalidate changed another row")
	}
	// Now a get waits for the refresh instead of handing out the refused token.
	r = getWaiting(t, env, "acme")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.oneLine(t), "gave up waiting for a refresh") {
		t.Errorf("get after invalidate: %s", r)
	}

	r = run(t, env, "at-SECRET-x\n", "invalidate", "nope")
	if r.code != 1 || !strings.Contains(r.oneLine(t), "no such connection") {
		t.Errorf("invalidate of an unknown connection: %s", r)
	}
	for _, stdin := range []string{"", "\n", "   \n"} {
		r = run(t, env, stdin, "invalidate", "acme")
		if r.code != 2 || !strings.Contains(r.oneLine(t), "stale access token on standard input") {
			t.Errorf("invalidate with stdin %q: %s", stdin, r)
		}
	}
}
