package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/pgtest"
)

// roundTripRows is the size of the round trip the issue asks for.
const roundTripRows = 100_000

// seedSQL makes roundTripRows connections with plaintext secrets and every
// shape export meets: with and without params, scopes, auth_style, a
// refresh token, an expiry (NULL: never expires). `worker rekey` then
// seals them as the worker does.
const seedSQL = `INSERT INTO oauth_tokens (id, name, provider, token_url, client_id, client_secret, scopes, auth_style,
	access_token, refresh_token, access_token_expires, params)
SELECT gen_random_uuid(), 'rt-' || lpad(i::text, 6, '0'), 'oauth2', 'https://auth.example.com/token', 'cid-' || i,
       'cs-SECRET-' || md5(i::text),
       CASE WHEN i % 3 = 0 THEN NULL ELSE 'read write:' || i END,
       CASE i % 4 WHEN 0 THEN 'basic' WHEN 1 THEN 'post' END,
       'at-SECRET-' || md5('a' || i),
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'rt-SECRET-' || md5('r' || i) END,
       CASE WHEN i % 7 = 0 THEN NULL ELSE now() + interval '2 hours' + (i % 3600) * interval '1.000001 second' END,
       CASE WHEN i % 2 = 0 THEN jsonb_build_object('tenant', 't' || (i % 10), 'lifetime', i) END
FROM generate_series(1, $1::int) i`

// workerExec runs the built worker binary (fast, without the race detector:
// this test moves 100,000 rows) and returns its stderr.
func workerExec(t *testing.T, dsn, keys, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, workerBinary(t), args...)
	cmd.Env = []string{"DATABASE_URL=" + dsn, "TOKENS_ENCRYPTION_KEYS=" + keys}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if strings.Contains(stdout.String()+stderr.String(), secretMark) {
		t.Fatalf("worker %s: output holds a secret", args[0])
	}
	if err != nil {
		t.Fatalf("worker %s: %v: %s", args[0], err, stderr.String())
	}
	return stderr.String()
}

// 100,000 connections sealed under K1 are exported with their secrets and
// imported into a fresh database under K2: the second database exports
// the same file, so every field and secret is the same, and a consumer
// with K2 gets the same access tokens.
func TestExportImportRoundTrip100k(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dsn1, dsn2 := pgtest.New(t), pgtest.New(t)
	k1, k2 := newKeySpec("k1"), newKeySpec("k2")
	if _, err := connect(t, dsn1).Exec(context.Background(), seedSQL, roundTripRows); err != nil {
		t.Fatal(err)
	}
	workerExec(t, dsn1, k1, "", "rekey")

	file1 := filepath.Join(dir, "db1.jsonl")
	if msg := workerExec(t, dsn1, k1, "", "export", "--include-secrets", "-o", file1); !strings.HasSuffix(msg, fmt.Sprintf("exported %d connection(s)\n", roundTripRows)) {
		t.Fatalf("export: %s", msg)
	}
	checkSeedSecrets(t, file1)
	workerExec(t, dsn2, k2, "", "import", "--quiet", file1)
	file2 := filepath.Join(dir, "db2.jsonl")
	workerExec(t, dsn2, k2, "", "export", "--include-secrets", "-o", file2)
	if a, b := readFile(t, file1), readFile(t, file2); a != b {
		t.Fatalf("the imported database exports another file (%d and %d bytes)", len(a), len(b))
	}
	// Nothing is left in plaintext in the second database.
	var plain int
	err := connect(t, dsn2).QueryRow(context.Background(), `SELECT count(*) FROM oauth_tokens
		WHERE access_token NOT LIKE 'twenc:%' OR refresh_token NOT LIKE 'twenc:%' OR client_secret NOT LIKE 'twenc:%'`).Scan(&plain)
	if err != nil || plain != 0 {
		t.Fatalf("%d rows hold plaintext secrets (%v)", plain, err)
	}

	// A consumer with K2 gets the tokens the seed wrote, one in 100.
	want := map[string]string{}
	rows, err := connect(t, dsn1).Query(context.Background(),
		`SELECT 'rt-' || lpad(i::text, 6, '0'), 'at-SECRET-' || md5('a' || i) FROM generate_series(1, $1::int, 100) i`, roundTripRows)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, at string
		if err := rows.Scan(&name, &at); err != nil {
			t.Fatal(err)
		}
		want[name] = at
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	consumerGets(t, dsn2, k2, want)
}

// checkSeedSecrets checks that every line of an export of seedSQL's rows
// holds the secrets the seed wrote, opened.
func checkSeedSecrets(t *testing.T, path string) {
	t.Helper()
	md5hex := func(s string) string { return fmt.Sprintf("%x", md5.Sum([]byte(s))) }
	for i, line := range strings.SplitAfter(strings.TrimSuffix(readFile(t, path), "\n"), "\n") {
		n := i + 1
		var rec struct {
			Name         *string `json:"name"`
			AccessToken  *string `json:"access_token"`
			RefreshToken *string `json:"refresh_token"`
			ClientSecret *string `json:"client_secret"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		wantRT := "rt-SECRET-" + md5hex(fmt.Sprint("r", n))
		if n%5 == 0 {
			wantRT = "<nil>"
		}
		if str(rec.Name) != fmt.Sprintf("rt-%06d", n) || str(rec.AccessToken) != "at-SECRET-"+md5hex(fmt.Sprint("a", n)) ||
			str(rec.RefreshToken) != wantRT || str(rec.ClientSecret) != "cs-SECRET-"+md5hex(fmt.Sprint(n)) {
			t.Fatalf("line %d (%s) does not hold the seed's secrets", n, str(rec.Name))
		}
	}
}
