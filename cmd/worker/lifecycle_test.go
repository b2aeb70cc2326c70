package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

// TestDisableAndEnable takes a due connection out of service and puts it
// back: while disabled no worker refreshes it and consumers get
// ErrDisabled, a consumer already waiting included; enable clears the
// failure state and wakes a running worker, which refreshes it at once.
func TestDisableAndEnable(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	c := connect(t, dsn)
	prov, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	env := envFor(dsn)
	mustRun(t, env, record("d", tokenURL, "at-SECRET-d", "rt-SECRET-d", `"expires_at":"2020-01-01T00:00:00Z"`), "import", "-")
	// A failing connection in backoff, as an operator would disable it.
	if _, err := c.Exec(t.Context(), `UPDATE oauth_tokens SET failure_count = 4, last_error = 'HTTP 503',
		next_attempt_at = now() + interval '1 hour' WHERE name = 'd'`); err != nil {
		t.Fatal(err)
	}

	client, err := tokens.Open(t.Context(), dsn, &tokens.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	// The token has expired and the row is in backoff: this Get waits
	// until the disable wakes it.
	waiting := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := client.Get(ctx, "d")
		waiting <- err
	}()

	if r := mustRun(t, env, "", "disable", "d"); !strings.Contains(r.stdout, "disabled d (was active)") {
		t.Fatalf("disable: %s", r)
	}
	if err := <-waiting; !errors.Is(err, tokens.ErrDisabled) {
		t.Fatalf("a waiting Get returned %v, want ErrDisabled", err)
	}
	if _, err := client.Get(t.Context(), "d"); !errors.Is(err, tokens.ErrDisabled) {
		t.Fatalf("Get of a disabled connection: %v, want ErrDisabled", err)
	}
	if r := mustRun(t, env, "", "disable", "d"); !strings.Contains(r.stdout, "d was already disabled") {
		t.Fatalf("disable twice: %s", r)
	}
	if r := getRow(t, c, "d"); r.Status != "disabled" || r.FailureCount != 4 || str(r.LastError) != "HTTP 503" {
		t.Fatalf("disable changed more than the status: %+v", r)
	}
	if _, err := c.Exec(t.Context(), `UPDATE oauth_tokens SET next_attempt_at = NULL WHERE name = 'd'`); err != nil {
		t.Fatal(err)
	}
	mustRun(t, env, "", "once")
	if prov.Calls() != 0 {
		t.Fatalf("a disabled connection was refreshed (%d calls)", prov.Calls())
	}
	if _, err := c.Exec(t.Context(), `UPDATE oauth_tokens SET next_attempt_at = now() + interval '1 hour' WHERE name = 'd'`); err != nil {
		t.Fatal(err)
	}

	// A worker polling once an hour: only enable's wake-up makes it look.
	p := startWorker(t, dsn, "run")
	testutil.Eventually(t, 30*time.Second, "the worker to start", func() bool {
		return strings.Contains(p.output.String(), "worker started")
	})
	if r := mustRun(t, env, "", "enable", "d"); !strings.Contains(r.stdout, "enabled d (was disabled)") {
		t.Fatalf("enable: %s", r)
	}
	testutil.Eventually(t, 30*time.Second, "the enabled connection to be refreshed", func() bool { return getRow(t, c, "d").Version == 1 })
	if r := getRow(t, c, "d"); r.Status != "active" || r.FailureCount != 0 || r.LastError != nil {
		t.Fatalf("after enable and a refresh: %+v", r)
	}
	if tok, err := client.Get(t.Context(), "d"); err != nil || tok.Version != 1 {
		t.Fatalf("Get after enable: %v, %v", tok, err)
	}
	if r := mustRun(t, env, "", "enable", "d"); !strings.Contains(r.stdout, "d is already active") {
		t.Fatalf("enable twice: %s", r)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("worker exit %d:\n%s", code, p.output.String())
	}

	// enable also revives a connection the provider refused, for an
	// operator who knows the refusal was not about the grant.
	if _, err := c.Exec(t.Context(), `UPDATE oauth_tokens SET status = 'needs_reauth', last_error = 'invalid_grant' WHERE name = 'd'`); err != nil {
		t.Fatal(err)
	}
	if r := mustRun(t, env, "", "enable", "d"); !strings.Contains(r.stdout, "enabled d (was needs_reauth)") {
		t.Fatalf("enable a needs_reauth connection: %s", r)
	}
	if r := getRow(t, c, "d"); r.Status != "active" || r.LastError != nil {
		t.Fatalf("after enable: %+v", r)
	}
}

// TestDeleteNeedsConfirmation: without --yes, delete refuses with a usage
// error and changes nothing; with it the row is gone and its events stay.
func TestDeleteNeedsConfirmation(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	c := connect(t, dsn)
	_, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	env := envFor(dsn)
	mustRun(t, env, record("x", tokenURL, "at-SECRET-x", "rt-SECRET-x", `"expires_at":"2020-01-01T00:00:00Z"`)+"\n"+
		record("keep", tokenURL, "at-SECRET-k", "rt-SECRET-k", `"expires_in":3600`), "import", "-")
	mustRun(t, env, "", "refresh", "x")
	before := snapshot(t, c)

	r := run(t, env, "", "delete", "x")
	if r.code != 2 || !strings.Contains(r.oneLine(t), "--yes") {
		t.Fatalf("delete without --yes: %s", r)
	}
	if snapshot(t, c) != before {
		t.Fatal("delete without --yes changed the table")
	}

	if r := mustRun(t, env, "", "delete", "x", "--yes"); !strings.Contains(r.stdout, "deleted x") {
		t.Fatalf("delete: %s", r)
	}
	var names []string
	rows, err := c.Query(t.Context(), `SELECT name FROM oauth_tokens ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	if rows.Close(); rows.Err() != nil || strings.Join(names, ",") != "keep" {
		t.Fatalf("after delete the table holds %v (%v), want only keep", names, rows.Err())
	}
	var events int
	if err := c.QueryRow(t.Context(), `SELECT count(*) FROM oauth_token_events WHERE name = 'x'`).Scan(&events); err != nil || events != 1 {
		t.Fatalf("x's events after delete: %d, %v; want the one refresh", events, err)
	}
	// They are the record of why it was deleted: `worker events` shows them.
	if r := mustRun(t, env, "", "events", "x"); !strings.Contains(r.stdout, "success") {
		t.Fatalf("events of the deleted connection: %s", r)
	}
}

// Unknown names and wrong command lines: one line, nothing changed.
func TestLifecycleErrors(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	c := connect(t, dsn)
	env := envFor(dsn)
	mustRun(t, env, record("here", "https://example.com/token", "at-SECRET-h", "rt-SECRET-h", `"expires_in":3600`), "import", "-")
	before := snapshot(t, c)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"disable", "nosuch"}, 1, "no such connection: nosuch"},
		{[]string{"enable", "nosuch"}, 1, "no such connection: nosuch"},
		{[]string{"delete", "nosuch", "--yes"}, 1, "no such connection: nosuch"},
		{[]string{"delete", "nosuch"}, 2, "--yes"},
		{[]string{"disable"}, 2, "disable takes one connection name"},
		{[]string{"enable", "here", "there"}, 2, "enable takes one connection name"},
		{[]string{"delete", "--yes"}, 2, "delete takes one connection name"},
	} {
		r := run(t, env, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.oneLine(t), tc.want) {
			t.Errorf("worker %s: %s; want exit %d mentioning %q", strings.Join(tc.args, " "), r, tc.code, tc.want)
		}
	}
	if snapshot(t, c) != before {
		t.Fatal("a refused command changed the table")
	}
}
