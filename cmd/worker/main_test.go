package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// Every secret a test plants contains "SECRET"; no connection name does, so
// no command output may contain it.
const secretMark = "SECRET"

// syncBuffer is safe for the goroutines under test to write to.
type syncBuffer = testutil.Buffer

type result struct {
	code           int
	stdout, stderr string
}

// leaks fails the test if any of the values appears in the outputs.
func (r result) leaks(t *testing.T, values ...string) {
	t.Helper()
	for _, v := range values {
		if v == "" {
			continue
		}
		if strings.Contains(r.stdout, v) || strings.Contains(r.stderr, v) {
			t.Errorf("output repeats the secret %q:\nstdout: %s\nstderr: %s", v, r.stdout, r.stderr)
		}
	}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// oneLine fails the test unless stderr is exactly one line starting with
// "worker: ", and returns that line.
func (r result) oneLine(t *testing.T) string {
	t.Helper()
	if !strings.HasPrefix(r.stderr, "worker: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one line starting with \"worker: \": %q", r.stderr)
	}
	return strings.TrimSuffix(r.stderr, "\n")
}

// lastLine returns stderr's last line, the command's error after any logs.
func (r result) lastLine() string {
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	return lines[len(lines)-1]
}

// envFor is the environment of a worker on database dsn.
func envFor(dsn string) map[string]string {
	return map[string]string{"DATABASE_URL": dsn, "TOKENS_LOG_LEVEL": "debug"}
}

// run runs a worker command in-process and checks that its output holds no
// planted secret.
func run(t *testing.T, environ map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	a := &invocation{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, environ: environ}
	r := result{code: a.main(ctx, args)}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	r.leaks(t, secretMark)
	return r
}

// mustRun runs a command that must succeed.
func mustRun(t *testing.T, environ map[string]string, stdin string, args ...string) result {
	t.Helper()
	r := run(t, environ, stdin, args...)
	if r.code != 0 {
		t.Fatalf("worker %s: %s", strings.Join(args, " "), r)
	}
	return r
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// snapshot returns the whole table as JSON, to prove a command wrote nothing.
func snapshot(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	var s string
	err := c.QueryRow(context.Background(),
		`SELECT COALESCE(json_agg(t ORDER BY name)::text, '[]') FROM oauth_tokens t`).Scan(&s)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}

func count(t *testing.T, c *pgx.Conn) int {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM oauth_tokens`).Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}

// row is what the tests check of a connection.
type row struct {
	AccessToken, RefreshToken, ClientSecret *string
	Expires                                 *time.Time
	Due                                     bool // access_token_expires <= now()
	Status                                  string
	Version                                 int64
	Updating                                bool
	ClaimID                                 *string
	FailureCount                            int
	LastError                               *string
}

func getRow(t *testing.T, c *pgx.Conn, name string) row {
	t.Helper()
	var r row
	err := c.QueryRow(context.Background(), `
		SELECT access_token, refresh_token, client_secret, access_token_expires,
		       COALESCE(access_token_expires <= now(), false), status, version, updating,
		       claim_id::text, failure_count, last_error
		FROM oauth_tokens WHERE name = $1`, name).Scan(
		&r.AccessToken, &r.RefreshToken, &r.ClientSecret, &r.Expires, &r.Due, &r.Status, &r.Version,
		&r.Updating, &r.ClaimID, &r.FailureCount, &r.LastError)
	if err != nil {
		t.Fatalf("read row %s: %v", name, err)
	}
	return r
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// newProvider starts a mock token endpoint.
func newProvider(t *testing.T, opts mockprovider.Options) (*mockprovider.Server, string) {
	t.Helper()
	mp := mockprovider.New(opts)
	srv := httptest.NewServer(mp)
	t.Cleanup(srv.Close)
	return mp, srv.URL + "/token"
}

// record is one connection to import.
func record(name, tokenURL, at, rt string, extra string) string {
	s := fmt.Sprintf(`{"name":%q,"token_url":%q,"client_id":"cid-%s","client_secret":"cs-SECRET-%s"`, name, tokenURL, name, name)
	if at != "" {
		s += fmt.Sprintf(`,"access_token":%q`, at)
	}
	if rt != "" {
		s += fmt.Sprintf(`,"refresh_token":%q`, rt)
	}
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// migrate on a database without the schema applies every migration and
// says so; run again, it applies nothing; --status lists each migration as
// applied; the rows written in between are untouched.
func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewEmpty(t)
	c := connect(t, dsn)
	env := envFor(dsn)
	r := run(t, env, "", "list")
	if r.code != 1 || !strings.Contains(r.oneLine(t), "run `worker migrate` first") {
		t.Fatalf("list without the schema: %s", r)
	}
	if r := run(t, env, "", "migrate", "--status"); r.code != 0 || strings.Count(r.stdout, " pending") < 4 {
		t.Fatalf("migrate --status before migrating: %s", r)
	}
	first := mustRun(t, env, "", "migrate")
	if !strings.HasPrefix(first.stdout, "applied 00001_release_0afbbf5\napplied 00002_") {
		t.Errorf("first migrate printed %q", first.stdout)
	}
	if r := mustRun(t, env, "", "migrate"); r.stdout != "schema up to date\n" {
		t.Errorf("second migrate printed %q", r.stdout)
	}
	mustRun(t, env, record("a", "https://auth.example.com/token", "at-SECRET-a", "rt-SECRET-a", `"expires_in":3600`), "import")
	mustRun(t, env, "", "migrate")
	if n := count(t, c); n != 1 {
		t.Fatalf("after a third migrate the table holds %d rows, want 1", n)
	}
	if r := getRow(t, c, "a"); str(r.AccessToken) != "at-SECRET-a" || str(r.RefreshToken) != "rt-SECRET-a" {
		t.Errorf("migrate changed the row: %+v", r)
	}
	status := mustRun(t, env, "", "migrate", "--status")
	lines := strings.Split(strings.TrimSpace(status.stdout), "\n")
	if len(lines) != strings.Count(first.stdout, "applied ")+1 || strings.Contains(status.stdout, "pending") ||
		!strings.Contains(lines[1], "00001") || !strings.Contains(lines[1], "release_0afbbf5") || !strings.Contains(lines[1], "applied") {
		t.Errorf("migrate --status after migrating:\n%s", status.stdout)
	}
	if r := run(t, env, "", "migrate", "extra"); r.code != 2 {
		t.Errorf("migrate extra: %s", r)
	}
	if r := run(t, env, "", "migrate", "--status", "--roles"); r.code != 2 {
		t.Errorf("migrate --status --roles: %s", r)
	}
}

// listEntries runs list --json and decodes it.
func listEntries(t *testing.T, env map[string]string, args ...string) map[string]listEntry {
	t.Helper()
	r := mustRun(t, env, "", append([]string{"list"}, args...)...)
	var entries []listEntry
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		t.Fatalf("list %v printed invalid JSON: %v\n%s", args, err, r.stdout)
	}
	out := map[string]listEntry{}
	for _, e := range entries {
		out[e.Name] = e
	}
	return out
}

func TestImportFormatsAndList(t *testing.T) {
	t.Parallel()
	const url = "https://auth.example.com/token"
	recA := record("conn-a", url, "at-SECRET-a", "rt-SECRET-a", `"expires_in":3600`)
	recB := record("conn-b", url, "", "rt-SECRET-b", "")
	recC := record("conn-c", url, "at-SECRET-c", "", `"expires_in":0`)
	formats := []struct {
		name  string
		input string
		names []string
	}{
		{"object", recA, []string{"conn-a"}},
		{"array", "[" + recA + ",\n" + recB + "," + recC + "]", []string{"conn-a", "conn-b", "conn-c"}},
		{"jsonlines", recA + "\n" + recB + "\n\n" + recC + "\n", []string{"conn-a", "conn-b", "conn-c"}},
	}
	sources := []string{"stdin-dash", "stdin-default", "file"}
	for _, f := range formats {
		for _, src := range sources {
			t.Run(f.name+"/"+src, func(t *testing.T) {
				t.Parallel()
				dsn := pgtest.New(t)
				env := envFor(dsn)
				var r result
				switch src {
				case "stdin-dash":
					r = mustRun(t, env, f.input, "import", "-")
				case "stdin-default":
					r = mustRun(t, env, f.input, "import")
				case "file":
					path := filepath.Join(t.TempDir(), "conns.json")
					if err := os.WriteFile(path, []byte(f.input), 0o600); err != nil {
						t.Fatal(err)
					}
					r = mustRun(t, env, "", "import", path)
				}
				if want := fmt.Sprintf("imported %d connection(s)\n", len(f.names)); r.stdout != want {
					t.Errorf("import printed %q, want %q", r.stdout, want)
				}
				c := connect(t, dsn)
				if n := count(t, c); n != len(f.names) {
					t.Fatalf("table holds %d rows, want %d", n, len(f.names))
				}
				a := getRow(t, c, "conn-a")
				if str(a.AccessToken) != "at-SECRET-a" || str(a.RefreshToken) != "rt-SECRET-a" || str(a.ClientSecret) != "cs-SECRET-conn-a" ||
					a.Due || a.Expires == nil || a.Status != "active" || a.Version != 0 {
					t.Errorf("conn-a stored as %+v", a)
				}

				// Text listing: every name, no secret (run checks).
				lr := mustRun(t, env, "", "list")
				for _, n := range f.names {
					if !strings.Contains(lr.stdout, n) {
						t.Errorf("list does not show %s:\n%s", n, lr.stdout)
					}
				}
				if !strings.HasPrefix(lr.stdout, "NAME") {
					t.Errorf("list has no header:\n%s", lr.stdout)
				}

				// JSON listing, with the flag spelled several ways.
				for _, args := range [][]string{{"--json"}, {"-json"}, {"--json=true"}} {
					entries := listEntries(t, env, args...)
					if len(entries) != len(f.names) {
						t.Fatalf("list %v: %d entries, want %d", args, len(entries), len(f.names))
					}
					e := entries["conn-a"]
					if e.Provider != "oauth2" || e.Status != "active" || !e.HasAccessToken || !e.HasRefreshToken ||
						e.AccessTokenExpires == nil || e.ExpiresInSeconds == nil || *e.ExpiresInSeconds <= 3000 ||
						*e.ExpiresInSeconds > 3600 || e.Updating || e.Version != 0 {
						t.Errorf("list %v: conn-a = %+v", args, e)
					}
					if len(f.names) > 1 {
						if b := entries["conn-b"]; b.HasAccessToken || !b.HasRefreshToken || b.ExpiresInSeconds == nil || *b.ExpiresInSeconds > 0 {
							t.Errorf("list %v: conn-b = %+v, want due, no access token", args, b)
						}
						if c := entries["conn-c"]; !c.HasAccessToken || c.HasRefreshToken || c.AccessTokenExpires != nil || c.ExpiresInSeconds != nil {
							t.Errorf("list %v: conn-c = %+v, want never expiring", args, c)
						}
					}
				}
			})
		}
	}
}

func TestListFlags(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	// An empty table lists as an empty JSON array.
	if e := listEntries(t, env, "--json"); len(e) != 0 {
		t.Errorf("empty table listed %d entries", len(e))
	}
	r := mustRun(t, env, "", "list", "--json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("list --json of an empty table printed %q", r.stdout)
	}
	// list takes no arguments, whether the flag comes before or after one.
	for _, args := range [][]string{{"list", "--json", "extra"}, {"list", "extra", "--json"}, {"list", "--bogus"}} {
		r := run(t, env, "", args...)
		if r.code != 2 || r.stdout != "" {
			t.Errorf("worker %v: %s", args, r)
		}
		r.oneLine(t)
	}
}

func TestImportRejectsBadInput(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	c := connect(t, dsn)
	const url = "https://auth.example.com/token"
	mustRun(t, env, record("existing", url, "at-SECRET-old", "rt-SECRET-old", `"expires_in":3600`), "import")
	before := snapshot(t, c)
	// Good records that would change the existing row and add one.
	good := record("existing", url, "at-SECRET-new", "rt-SECRET-new", `"expires_in":60`) + "\n" +
		record("fresh", url, "at-SECRET-fresh", "rt-SECRET-fresh", "") + "\n"
	sec := `"access_token":"at-SECRET-bad","refresh_token":"rt-SECRET-bad","client_secret":"cs-SECRET-bad"`
	tests := []struct {
		name, input, want string
	}{
		{"malformed JSON", `{"name":"x",` + sec, "malformed JSON"},
		{"malformed array", `[` + record("x", url, "at-SECRET", "rt-SECRET", "") + `,`, "malformed JSON"},
		{"unknown field", `{"name":"x",` + sec + `,"bogus":"rt-SECRET-bogus"}`, `unknown field "bogus"`},
		{"missing name", `{` + sec + `}`, "name is required"},
		{"bad expires_at", `{"name":"x",` + sec + `,"expires_at":"2030-13-45"}`, "expires_at must be"},
		{"both expires_at and expires_in", `{"name":"x",` + sec + `,"expires_at":"2030-01-01T00:00:00Z","expires_in":5}`, "not both"},
		{"unknown provider", `{"name":"x",` + sec + `,"provider":"nope"}`, `unknown provider "nope"`},
		{"bad token_url", `{"name":"x",` + sec + `,"token_url":"ftp://example.com/token"}`, "token_url must be"},
		{"token_url with credentials", `{"name":"x",` + sec + `,"token_url":"https://cid:cs-SECRET-u@example.com/t"}`, "token_url must be"},
		{"duplicate names", "[" + record("dup", url, "at-SECRET-1", "rt-SECRET-1", "") + "," + record("dup", url, "at-SECRET-2", "rt-SECRET-2", "") + "]", "name appears twice"},
		{"bad record after good ones", good + `{"name":"bad",` + sec + `,"expires_in":-1}`, `record 3 ("bad")`},
		{"malformed record after good ones", good + `{"name":"bad",` + sec, "record 3: malformed JSON"},
		{"duplicate of a good one", good + record("fresh", url, "at-SECRET-again", "rt-SECRET-again", ""), "name appears twice"},
		{"empty input", "", "no connections"},
		// Passes validation, but PostgreSQL refuses NUL in text: the
		// transaction must leave the good records unwritten too.
		{"database refuses a record after good ones", good + `{"name":"nul","token_url":"` + url + `","access_token":"at-SECRET-\u0000","refresh_token":"rt-SECRET-nul"}`, "import nul"},
	}
	for _, tc := range tests {
		for _, src := range []string{"stdin", "file"} {
			t.Run(tc.name+"/"+src, func(t *testing.T) {
				t.Parallel()
				args := []string{"import", "-"}
				if src == "file" {
					path := filepath.Join(t.TempDir(), "bad.json")
					if err := os.WriteFile(path, []byte(tc.input), 0o600); err != nil {
						t.Fatal(err)
					}
					args = []string{"import", path}
				}
				stdin := tc.input
				if src == "file" {
					stdin = ""
				}
				r := run(t, env, stdin, args...)
				if r.code != 1 || r.stdout != "" {
					t.Errorf("import: %s", r)
				}
				if line := r.oneLine(t); !strings.Contains(line, tc.want) {
					t.Errorf("error %q does not contain %q", line, tc.want)
				}
			})
		}
	}
	t.Cleanup(func() {
		// Runs after every subtest: nothing was written.
		if after := snapshot(t, c); after != before {
			t.Errorf("a rejected import changed the table:\nbefore: %s\nafter:  %s", before, after)
		}
		if r := getRow(t, c, "existing"); str(r.AccessToken) != "at-SECRET-old" || str(r.RefreshToken) != "rt-SECRET-old" {
			t.Errorf("existing row changed: %+v", r)
		}
	})
}

func TestImportUsage(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	r := run(t, env, "", "import", "a.json", "b.json")
	if r.code != 2 {
		t.Errorf("import of two files: %s", r)
	}
	r.oneLine(t)
	r = run(t, env, "", "import", filepath.Join(t.TempDir(), "missing.json"))
	if r.code != 1 || !strings.Contains(r.oneLine(t), "no such file") {
		t.Errorf("import of a missing file: %s", r)
	}
}

// TestImportUpdatesExistingRow checks the upsert: new tokens replace the old
// ones and revive the row; fields left out keep their values.
func TestImportUpdatesExistingRow(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	c := connect(t, dsn)
	const url = "https://auth.example.com/token"
	mustRun(t, env, record("a", url, "at-SECRET-1", "rt-SECRET-1", `"expires_in":3600`), "import")
	if _, err := c.Exec(context.Background(), `UPDATE oauth_tokens SET status='needs_reauth', last_error='x', failure_count=3`); err != nil {
		t.Fatal(err)
	}
	mustRun(t, env, `{"name":"a","access_token":"at-SECRET-2","refresh_token":"rt-SECRET-2","expires_in":60}`, "import")
	r := getRow(t, c, "a")
	if str(r.AccessToken) != "at-SECRET-2" || str(r.RefreshToken) != "rt-SECRET-2" || str(r.ClientSecret) != "cs-SECRET-a" ||
		r.Status != "active" || r.FailureCount != 0 || r.LastError != nil || r.Version != 1 {
		t.Errorf("after re-import: %+v", r)
	}
	// A record without tokens only updates configuration.
	mustRun(t, env, `{"name":"a","client_secret":"cs-SECRET-rotated"}`, "import")
	r2 := getRow(t, c, "a")
	if str(r2.AccessToken) != "at-SECRET-2" || str(r2.ClientSecret) != "cs-SECRET-rotated" || r2.Version != 1 ||
		r2.Expires == nil || r.Expires == nil || !r2.Expires.Equal(*r.Expires) {
		t.Errorf("after a configuration-only import: %+v", r2)
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	c := connect(t, dsn)
	mp, url := newProvider(t, mockprovider.Options{Rotate: true, Lifetime: 2 * time.Hour})
	const rt = "rt-SECRET-refresh"
	mustRun(t, env, record("r1", url, "at-SECRET-refresh", rt, `"expires_in":3600`), "import")

	r := mustRun(t, env, "", "refresh", "r1")
	iss, ok := mp.Issued(rt)
	if !ok {
		t.Fatalf("the provider issued nothing for the imported refresh token (calls %d)", mp.Calls())
	}
	r.leaks(t, iss.AccessToken, iss.RefreshToken)
	if !strings.HasPrefix(r.stdout, "refreshed r1: version 1, expires ") {
		t.Errorf("refresh printed %q", r.stdout)
	}
	row := getRow(t, c, "r1")
	if str(row.AccessToken) != iss.AccessToken || str(row.RefreshToken) != iss.RefreshToken || iss.RefreshToken == rt {
		t.Errorf("row holds %s/%s, provider issued %s/%s", str(row.AccessToken), str(row.RefreshToken), iss.AccessToken, iss.RefreshToken)
	}
	if row.Version != 1 || row.Updating || row.ClaimID != nil || row.Status != "active" || row.Due || row.Expires == nil ||
		row.Expires.Before(time.Now().Add(time.Hour)) {
		t.Errorf("after refresh: %+v", row)
	}
	if mp.Calls() != 1 || mp.Reuses() != 0 {
		t.Errorf("provider calls %d, reuses %d; want 1, 0", mp.Calls(), mp.Reuses())
	}

	r = run(t, env, "", "refresh", "unknown-name")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.oneLine(t), "no such connection") {
		t.Errorf("refresh unknown-name: %s", r)
	}
	r = run(t, env, "", "refresh")
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.oneLine(t), "one connection name") {
		t.Errorf("refresh without a name: %s", r)
	}
	r = run(t, env, "", "refresh", "a", "b")
	if r.code != 2 {
		t.Errorf("refresh with two names: %s", r)
	}
	r.oneLine(t)
	if mp.Calls() != 1 {
		t.Errorf("failed commands called the provider: %d calls", mp.Calls())
	}
}

func TestRefreshRefused(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	c := connect(t, dsn)
	mp, url := newProvider(t, mockprovider.Options{Rotate: true})
	const rt = "rt-SECRET-revoked"
	mustRun(t, env, record("r1", url, "at-SECRET-x", rt, `"expires_in":3600`), "import")
	mp.Revoke(rt)
	r := run(t, env, "", "refresh", "r1")
	if r.code != 1 || !strings.Contains(r.lastLine(), "invalid_grant") || !strings.HasPrefix(r.lastLine(), "worker: ") {
		t.Errorf("refresh of a revoked token: %s", r)
	}
	row := getRow(t, c, "r1")
	if row.Status != "needs_reauth" || row.Updating || str(row.AccessToken) != "at-SECRET-x" || row.Version != 0 {
		t.Errorf("after a refused refresh: %+v", row)
	}
	// A needs_reauth row cannot be refreshed by name; the message says why.
	r = run(t, env, "", "refresh", "r1")
	if r.code != 1 || !strings.Contains(r.oneLine(t), "needs_reauth") {
		t.Errorf("refresh of a needs_reauth row: %s", r)
	}
	// Nor can a row without a refresh token.
	mustRun(t, env, `{"name":"plain","access_token":"at-SECRET-plain"}`, "import")
	r = run(t, env, "", "refresh", "plain")
	if r.code != 1 || !strings.Contains(r.oneLine(t), "no refresh token") {
		t.Errorf("refresh of a row without refresh token: %s", r)
	}
	if mp.Calls() != 1 {
		t.Errorf("provider calls %d, want 1", mp.Calls())
	}
}

func TestClear(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	c := connect(t, dsn)
	mustRun(t, env, record("c1", "https://auth.example.com/token", "at-SECRET-c1", "rt-SECRET-c1", `"expires_in":3600`)+
		record("c2", "https://auth.example.com/token", "at-SECRET-c2", "rt-SECRET-c2", `"expires_in":3600`), "import")
	other := getRow(t, c, "c2")

	r := mustRun(t, env, "", "clear", "c1")
	if !strings.HasPrefix(r.stdout, "cleared c1") {
		t.Errorf("clear printed %q", r.stdout)
	}
	row := getRow(t, c, "c1")
	if row.AccessToken != nil || !row.Due || row.Expires == nil || str(row.RefreshToken) != "rt-SECRET-c1" || row.Status != "active" {
		t.Errorf("after clear: %+v", row)
	}
	if got := getRow(t, c, "c2"); str(got.AccessToken) != str(other.AccessToken) || got.Due || !got.Expires.Equal(*other.Expires) {
		t.Errorf("clear touched another row: %+v", got)
	}

	r = run(t, env, "", "clear", "unknown")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.oneLine(t), "no such connection") {
		t.Errorf("clear unknown: %s", r)
	}
	r = run(t, env, "", "clear")
	if r.code != 2 {
		t.Errorf("clear without a name: %s", r)
	}
	r.oneLine(t)
}

func TestOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	c := connect(t, dsn)
	mp, url := newProvider(t, mockprovider.Options{Rotate: true})
	mustRun(t, env, record("due", url, "", "rt-SECRET-due", "")+"\n"+
		record("expired", url, "at-SECRET-expired", "rt-SECRET-expired", `"expires_at":"2020-01-01T00:00:00Z"`)+"\n"+
		record("fresh", url, "at-SECRET-fresh", "rt-SECRET-fresh", `"expires_in":86400`)+"\n"+
		record("never", url, "at-SECRET-never", "", ""), "import")
	fresh := getRow(t, c, "fresh")

	r := mustRun(t, env, "", "once")
	for _, name := range []string{"due", "expired"} {
		rt := "rt-SECRET-" + name
		iss, ok := mp.Issued(rt)
		if !ok {
			t.Fatalf("%s was not refreshed", name)
		}
		r.leaks(t, iss.AccessToken, iss.RefreshToken)
		row := getRow(t, c, name)
		if str(row.AccessToken) != iss.AccessToken || str(row.RefreshToken) != iss.RefreshToken || row.Version != 1 ||
			row.Updating || row.Due || row.Status != "active" {
			t.Errorf("%s after once: %+v; issued %+v", name, row, iss)
		}
	}
	if got := getRow(t, c, "fresh"); got.Version != 0 || str(got.AccessToken) != str(fresh.AccessToken) {
		t.Errorf("once refreshed a fresh row: %+v", got)
	}
	if got := getRow(t, c, "never"); got.Version != 0 || str(got.AccessToken) != "at-SECRET-never" {
		t.Errorf("once touched a row without refresh token: %+v", got)
	}
	if mp.Calls() != 2 || mp.Reuses() != 0 {
		t.Errorf("provider calls %d reuses %d, want 2, 0", mp.Calls(), mp.Reuses())
	}
	// Nothing is due any more: a second pass calls nobody.
	mustRun(t, env, "", "once")
	if mp.Calls() != 2 {
		t.Errorf("second once called the provider: %d calls", mp.Calls())
	}
	if r := run(t, env, "", "once", "extra"); r.code != 2 {
		t.Errorf("once extra: %s", r)
	}
}

func TestOnceInvalidGrant(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	c := connect(t, dsn)
	mp, url := newProvider(t, mockprovider.Options{Rotate: true})
	const rt = "rt-SECRET-revoked"
	mustRun(t, env, record("gone", url, "at-SECRET-gone", rt, `"expires_at":"2020-01-01T00:00:00Z"`), "import")
	mp.Revoke(rt)
	r := run(t, env, "", "once")
	if r.code == 0 {
		t.Fatalf("once with a refused refresh exited 0: %s", r)
	}
	if last := r.lastLine(); !strings.HasPrefix(last, "worker: ") || !strings.Contains(last, "1 of 1 refreshes failed") {
		t.Errorf("once: last line %q", last)
	}
	row := getRow(t, c, "gone")
	if row.Status != "needs_reauth" || row.Updating || row.ClaimID != nil || row.FailureCount != 1 ||
		!strings.Contains(str(row.LastError), "invalid_grant") || str(row.RefreshToken) != rt {
		t.Errorf("after a refused refresh: %+v (last_error %s)", row, str(row.LastError))
	}
	// A needs_reauth row is not retried.
	mustRun(t, env, "", "once")
	if mp.Calls() != 1 {
		t.Errorf("provider calls %d, want 1", mp.Calls())
	}
}

func TestOnceTransientFailure(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	c := connect(t, dsn)
	mp, url := newProvider(t, mockprovider.Options{Rotate: true})
	mustRun(t, env, record("flaky", url, "", "rt-SECRET-flaky", ""), "import")
	mp.FailNext(1, 503, `{"error":"temporarily_unavailable"}`, nil)
	r := run(t, env, "", "once")
	if r.code != 1 || !strings.Contains(r.lastLine(), "1 of 1 refreshes failed") {
		t.Errorf("once with a 503: %s", r)
	}
	row := getRow(t, c, "flaky")
	if row.Status != "active" || row.Updating || row.FailureCount != 1 || str(row.RefreshToken) != "rt-SECRET-flaky" || row.Version != 0 {
		t.Errorf("after a transient failure: %+v", row)
	}
}

func TestDatabaseURLErrors(t *testing.T) {
	t.Parallel()
	const pw = "pw-SECRET-db"
	tests := []struct {
		name    string
		environ map[string]string
		want    string
	}{
		{"missing", map[string]string{}, "DATABASE_URL is not set"},
		{"empty", map[string]string{"DATABASE_URL": "  "}, "DATABASE_URL is not set"},
		{"foo", map[string]string{"DATABASE_URL": "foo"}, "DATABASE_URL is malformed"},
		{"http", map[string]string{"DATABASE_URL": "http://x"}, "DATABASE_URL is malformed"},
		{"http with password", map[string]string{"DATABASE_URL": "http://u:" + pw + "@x/db"}, "DATABASE_URL is malformed"},
		{"no host", map[string]string{"DATABASE_URL": "postgres:///db"}, "DATABASE_URL is malformed"},
		{"bad port", map[string]string{"DATABASE_URL": "postgres://u:" + pw + "@127.0.0.1:port/db"}, "DATABASE_URL is malformed"},
		{"unreachable", map[string]string{"DATABASE_URL": "postgres://tokenwarden:" + pw + "@127.0.0.1:1/tokenwarden?sslmode=disable&connect_timeout=5"}, "failed to connect"},
		{"unparseable by the driver", map[string]string{"DATABASE_URL": "postgres://tokenwarden:" + pw + "@127.0.0.1:1/tokenwarden?sslmode=bogus"}, "database"},
		{"password in the query", map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/tokenwarden?user=tokenwarden&password=" + pw + "&sslmode=disable&connect_timeout=5"}, "failed to connect"},
		{"bad setting", map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x", "TOKENS_CONCURRENCY": "0"}, "TOKENS_CONCURRENCY"},
	}
	for _, tc := range tests {
		for _, cmd := range [][]string{{"list"}, {"migrate"}, {"once"}, {"clear", "x"}, {"refresh", "x"}} {
			t.Run(tc.name+"/"+cmd[0], func(t *testing.T) {
				t.Parallel()
				r := run(t, tc.environ, "", cmd...)
				if r.code != 1 || r.stdout != "" {
					t.Errorf("%s", r)
				}
				line := r.oneLine(t)
				if !strings.Contains(line, tc.want) {
					t.Errorf("error %q does not contain %q", line, tc.want)
				}
				r.leaks(t, pw)
			})
		}
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	env := map[string]string{} // none of these reaches the database
	r := run(t, env, "", "frobnicate")
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.oneLine(t), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %s", r)
	}
	r = run(t, env, "", "--json", "list")
	if r.code != 2 {
		t.Errorf("flag before the command: %s", r)
	}
	r = run(t, env, "")
	if r.code != 2 || !strings.Contains(r.stderr, "usage: worker") {
		t.Errorf("no command: %s", r)
	}
	for _, h := range []string{"help", "-h", "--help"} {
		r = run(t, env, "", h)
		if r.code != 0 || !strings.Contains(r.stderr, "usage: worker") {
			t.Errorf("%s: %s", h, r)
		}
	}
	r = run(t, env, "", "providers")
	if r.code != 0 || !strings.Contains(r.stdout, "oauth2") || !strings.HasPrefix(r.stdout, "PROVIDER") {
		t.Errorf("providers: %s", r)
	}
	r = run(t, env, "", "run", "extra")
	if r.code != 2 {
		t.Errorf("run extra: %s", r)
	}
}
