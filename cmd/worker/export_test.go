package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

// exportRecords are connections with every field import takes, in the
// forms it takes them; their secrets carry "SECRET".
const exportRecords = `{"name":"a-full","provider":"oauth2","token_url":"https://auth.example.com/token","client_id":"cid-a","client_secret":"cs-SECRET-a","scopes":"read write","auth_style":"basic","access_token":"at-SECRET-a","refresh_token":"rt-SECRET-a","expires_at":"2031-02-03T04:05:06.123456Z","params":{"tenant":"t1","lifetime":7200}}
{"name":"b-never","token_url":"https://auth.example.com/token","client_id":"cid-b","access_token":"at-SECRET-b","expires_in":0}
{"name":"c-bare","token_url":"https://auth.example.com/token","refresh_token":"rt-SECRET-c"}
`

// readLines reads a JSON Lines file into one map per line.
func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v", len(out)+1, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An export without secrets has every other field and no secret; with
// --include-secrets the file is 0600, stderr warns in one line and holds
// no secret; importing it into a fresh database under other keys gives
// back the same connections (the second database's export is the same
// bytes), and re-importing the export without secrets into the first
// database leaves every stored secret, expiry and status as it was.
func TestExportRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env1 := envFor(pgtest.New(t))
	env1["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k1")
	mustRun(t, env1, exportRecords, "import", "-")

	plain := filepath.Join(dir, "plain.jsonl")
	r := mustRun(t, env1, "", "export", "-o", plain)
	if r.stderr != "exported 3 connection(s)\n" || r.stdout != "" {
		t.Fatalf("export: %s", r)
	}
	if s := readFile(t, plain); strings.Contains(s, secretMark) {
		t.Fatalf("export without --include-secrets holds a secret: %s", s)
	}
	got := readLines(t, plain)
	want := []map[string]any{
		{"name": "a-full", "provider": "oauth2", "token_url": "https://auth.example.com/token", "client_id": "cid-a",
			"scopes": "read write", "auth_style": "basic", "expires_at": "2031-02-03T04:05:06.123456Z",
			"params": map[string]any{"tenant": "t1", "lifetime": float64(7200)}, "status": "active"},
		{"name": "b-never", "provider": "oauth2", "token_url": "https://auth.example.com/token", "client_id": "cid-b", "expires_in": float64(0), "status": "active"},
		{"name": "c-bare", "provider": "oauth2", "token_url": "https://auth.example.com/token", "status": "active"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if i == 2 {
			delete(got[i], "expires_at") // the import's time: due now
		}
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("line %d:\n got %v\nwant %v", i+1, got[i], want[i])
		}
	}

	// A status goes across as it is: a disabled connection must not come
	// back active (the byte-for-byte comparison below checks it).
	mustRun(t, env1, "", "disable", "c-bare")
	full := filepath.Join(dir, "full.jsonl")
	r = mustRun(t, env1, "", "export", "--include-secrets", "-o", full)
	if !strings.HasPrefix(r.stderr, "worker: warning: ") || strings.Count(r.stderr, "\n") != 2 {
		t.Fatalf("export --include-secrets: %s", r)
	}
	if fi, err := os.Stat(full); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v, %v", fi, err)
	}
	for _, s := range []string{"cs-SECRET-a", "at-SECRET-a", "rt-SECRET-a", "at-SECRET-b", "rt-SECRET-c"} {
		if !strings.Contains(readFile(t, full), `"`+s+`"`) {
			t.Errorf("export --include-secrets lacks %s", s)
		}
	}

	// Into a fresh database under another key: the same export back.
	dsn2 := pgtest.New(t)
	env2 := envFor(dsn2)
	env2["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k2")
	mustRun(t, env2, readFile(t, full), "import", "-")
	again := filepath.Join(dir, "again.jsonl")
	mustRun(t, env2, "", "export", "--include-secrets", "-o", again)
	if a, b := readFile(t, full), readFile(t, again); a != b || !strings.Contains(b, `"c-bare"`) || !strings.Contains(b, `"status":"disabled"`) {
		t.Fatalf("round trip changed the export:\n%s\n%s", a, b)
	}
	consumerGets(t, dsn2, env2["TOKENS_ENCRYPTION_KEYS"], map[string]string{"a-full": "at-SECRET-a", "b-never": "at-SECRET-b"})

	// The export without secrets, imported over the connections, keeps
	// their secrets.
	c := connect(t, env1["DATABASE_URL"])
	mustRun(t, env1, "", "disable", "b-never")
	mustRun(t, env1, "", "export", "-o", plain)
	before := secretsSnapshot(t, c)
	mustRun(t, env1, readFile(t, plain), "import", "-")
	if after := secretsSnapshot(t, c); after != before {
		t.Fatalf("re-importing an export without secrets changed the stored secrets, expiry or status")
	}
}

// secretsSnapshot returns the stored (sealed) secrets, the expiry and the
// status of every row.
func secretsSnapshot(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	var s string
	err := c.QueryRow(context.Background(), `SELECT COALESCE(string_agg(concat_ws('|', name, client_secret, access_token, refresh_token, access_token_expires, status), E'\n' ORDER BY name), '') FROM oauth_tokens`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// consumerGets checks that a consumer with keys gets each access token.
func consumerGets(t *testing.T, dsn, keys string, want map[string]string) {
	t.Helper()
	ks, err := tokens.ParseKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := tokens.Open(ctx, dsn, &tokens.Options{EncryptionKeys: ks, PollOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, at := range want {
		tok, err := c.Get(ctx, name)
		if err != nil {
			t.Fatalf("consumer get %s: %v", name, err)
		}
		if tok.AccessToken != at {
			t.Errorf("consumer get %s: another access token", name)
		}
	}
}

// --names and --status choose the connections exported.
func TestExportFilters(t *testing.T) {
	t.Parallel()
	env := envFor(pgtest.New(t))
	mustRun(t, env, exportRecords, "import", "-")
	mustRun(t, env, "", "disable", "b-never")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--names", "a-*,c-bare"}, "a-full c-bare"},
		{[]string{"--status", "disabled"}, "b-never"},
		{[]string{"--status", "active", "--names", "?-*"}, "a-full c-bare"},
		{[]string{"--names", "z*"}, ""},
	} {
		r := mustRun(t, env, "", append([]string{"export"}, tc.args...)...)
		var names []string
		for line := range strings.Lines(r.stdout) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%v: %v", tc.args, err)
			}
			names = append(names, m["name"].(string))
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("export %v: %q, want %q", tc.args, got, tc.want)
		}
	}
}

// A wrong command line is one line and exit 2, before the database is
// opened (there is none here) or a file created.
func TestExportUsage(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out.jsonl")
	env := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}
	for _, args := range [][]string{
		{"--bogus"},
		{"--status", "paused", "-o", out},
		{"--names", "[", "-o", out},
		{"extra", "-o", out},
		{"--include-secrets=maybe"},
	} {
		r := run(t, env, "", append([]string{"export"}, args...)...)
		if r.code != 2 {
			t.Errorf("export %v: %s", args, r)
		}
		r.oneLine(t)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a refused export created its file: %v", err)
	}
}

// An export without secrets needs no key (nothing is opened); one with
// secrets refuses without the key in one line that holds no secret, and
// leaves no file.
func TestExportKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dsn := pgtest.New(t)
	sealed := envFor(dsn)
	sealed["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k1")
	mustRun(t, sealed, exportRecords, "import", "-")

	keyless := envFor(dsn)
	if r := mustRun(t, keyless, "", "export"); strings.Count(r.stdout, "\n") != 3 {
		t.Fatalf("export without a key: %s", r)
	}
	out := filepath.Join(dir, "out.jsonl")
	r := run(t, keyless, "", "export", "--include-secrets", "-o", out)
	if r.code != 1 || !strings.Contains(r.lastLine(), `key "k1"`) {
		t.Fatalf("export --include-secrets without the key: %s", r)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a failed export left its file: %v", err)
	}
}

// On a terminal, export draws its bar on stderr (rows of the total), then
// its summary; --quiet leaves only the summary.
func TestExportProgress(t *testing.T) {
	t.Parallel()
	env := envFor(pgtest.New(t))
	mustRun(t, env, exportRecords, "import", "-")
	if r := mustRun(t, env, "", "export", "--quiet", "-o", filepath.Join(t.TempDir(), "q.jsonl")); r.stderr != "exported 3 connection(s)\n" {
		t.Fatalf("export --quiet: %s", r)
	}

	ptm, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	read := make(chan string)
	go func() {
		b, _ := io.ReadAll(ptm) // ends when tty is closed
		read <- string(b)
	}()
	var stdout syncBuffer
	a := &invocation{stdin: strings.NewReader(""), stdout: &stdout, stderr: tty, environ: env}
	code := a.main(t.Context(), []string{"export"})
	tty.Close()
	var out string
	select {
	case out = <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing read from the terminal")
	}
	if code != 0 || strings.Count(stdout.String(), "\n") != 3 {
		t.Fatalf("export on a terminal: exit %d, stdout %q", code, stdout.String())
	}
	for _, want := range []string{"export", "3/3", "rows/s", "exported 3 connection(s)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("terminal shows %q, want %q in it", out, want)
		}
	}
}
