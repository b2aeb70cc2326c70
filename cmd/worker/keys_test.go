package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
)

func newKeySpec(id string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return id + ":" + base64.StdEncoding.EncodeToString(b)
}

// Sealed rows and a worker without their key: it must refuse to start with
// a clear error, and send nothing to the provider.
func TestWorkerRefusesToStartWithoutTheKey(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	prov, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	env := envFor(dsn)
	env["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k1")
	mustRun(t, env, record("a", tokenURL, "", "rt-a", ""), "import", "-")

	for _, tc := range []struct {
		keys, want string
	}{
		{"", `key "k1" but TOKENS_ENCRYPTION_KEYS is not set`},
		{newKeySpec("k2"), `key "k1", which is not in TOKENS_ENCRYPTION_KEYS`},
	} {
		env := envFor(dsn)
		if tc.keys != "" {
			env["TOKENS_ENCRYPTION_KEYS"] = tc.keys
		}
		r := run(t, env, "", "once")
		if r.code != 1 || !strings.Contains(r.oneLine(t), tc.want) {
			t.Errorf("keys %q: exit %d, %s", tc.keys, r.code, r)
		}
	}
	if prov.Calls() != 0 {
		t.Fatalf("%d requests reached the provider", prov.Calls())
	}
	// With the key it works, and rekey onto a new key keeps it working.
	if r := run(t, env, "", "once"); r.code != 0 || prov.Calls() != 1 {
		t.Fatalf("with the key: exit %d, %d calls: %s", r.code, prov.Calls(), r)
	}
	rotated := envFor(dsn)
	rotated["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k2") + "," + env["TOKENS_ENCRYPTION_KEYS"]
	mustRun(t, rotated, "", "rekey")
	onlyNew := envFor(dsn)
	onlyNew["TOKENS_ENCRYPTION_KEYS"] = strings.Split(rotated["TOKENS_ENCRYPTION_KEYS"], ",")[0]
	mustRun(t, onlyNew, "", "refresh", "a")
}

// keysSnapshot returns the keys table as JSON, to prove a command wrote
// nothing there either.
func keysSnapshot(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	var s string
	err := c.QueryRow(context.Background(),
		`SELECT COALESCE(json_agg(k ORDER BY key_id)::text, '[]') FROM oauth_token_keys k`).Scan(&s)
	if err != nil {
		t.Fatalf("snapshot of the keys: %v", err)
	}
	return s
}

// writeProviders writes a TOKENS_PROVIDERS_FILE and returns its path.
func writeProviders(t *testing.T, templates string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "providers.json")
	if err := os.WriteFile(path, []byte(templates), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A database writer without the key points a connection's secrets
// somewhere else with SQL: another token_url, client_id, provider or
// params (which fill the template's host here). The worker must send
// nothing to any endpoint for such a row, and take it out of rotation with
// an error that says what changed; an untouched row refreshes as usual.
func TestRowChangedOutsideTheWorkerSendsNothing(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	prov, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	var stolen atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"at-stolen","token_type":"bearer","expires_in":3600}`)
	}))
	t.Cleanup(attacker.Close)
	legitHost := strings.TrimSuffix(strings.TrimPrefix(tokenURL, "http://"), "/token")
	attackerHost := strings.TrimPrefix(attacker.URL, "http://")

	env := envFor(dsn)
	env["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k1")
	env["TOKENS_PROVIDERS_FILE"] = writeProviders(t, `[
		{"name": "hosted", "token_url": "http://{host}/token", "auth": "basic", "default_lifetime": "1h"},
		{"name": "elsewhere", "token_url": "`+attacker.URL+`/token", "auth": "basic", "default_lifetime": "1h"}]`)
	tampers := map[string]string{
		"token_url": "token_url = '" + attacker.URL + "/token'",
		"client_id": "client_id = 'cid-attacker'",
		"provider":  "provider = 'elsewhere'",
		"params":    `params = '{"host": "` + attackerHost + `"}'`,
	}
	var file strings.Builder
	for _, name := range []string{"token_url", "client_id", "provider", "params", "intact"} {
		fmt.Fprintf(&file, `{"name": %q, "provider": "hosted", "params": {"host": %q}, "client_id": "cid",`+
			` "client_secret": "cs-SECRET-%s", "refresh_token": "rt-SECRET-%s"}`+"\n", name, legitHost, name, name)
	}
	mustRun(t, env, file.String(), "import")
	c := connect(t, dsn)
	for name, set := range tampers {
		if _, err := c.Exec(context.Background(), "UPDATE oauth_tokens SET "+set+" WHERE name = $1", name); err != nil {
			t.Fatal(err)
		}
	}

	r := run(t, env, "", "once")
	if r.code != 1 {
		t.Errorf("once over changed rows: %s", r)
	}
	if n := stolen.Load(); n != 0 {
		t.Fatalf("the attacker's endpoint received %d requests", n)
	}
	if n := prov.Calls(); n != 1 {
		t.Fatalf("the provider received %d requests, want 1 (the intact row only)", n)
	}
	if row := getRow(t, c, "intact"); row.Status != "active" || row.Version != 1 {
		t.Errorf("intact row: %+v", row)
	}
	for field := range tampers {
		row := getRow(t, c, field)
		msg := str(row.LastError)
		if row.Status != "needs_reauth" || !strings.Contains(msg, field+" changed") || !strings.Contains(msg, "changed outside tokenwarden") {
			t.Errorf("row whose %s changed: status %s, last_error %q", field, row.Status, msg)
		}
	}
}

// worker import is the legitimate way to change where a connection's
// secrets go: it re-seals the stored secrets for the new identity, so the
// next refresh goes to the new endpoint with them.
func TestImportReSealsAChangedConnection(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	_, oldURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	prov, newURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour, ClientID: "cid-new", ClientSecret: "cs-SECRET-a"})
	env := envFor(dsn)
	env["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k1")
	mustRun(t, env, record("a", oldURL, "", "rt-SECRET-a", ""), "import")
	mustRun(t, env, fmt.Sprintf(`{"name": "a", "token_url": %q, "client_id": "cid-new"}`, newURL), "import")
	mustRun(t, env, "", "refresh", "a")
	if prov.Successes() != 1 {
		t.Fatalf("the new endpoint answered %d refreshes, want 1", prov.Successes())
	}
}

// A key whose id the table knows but whose bytes differ (a typo, the
// staging key): every command that uses keys refuses it before doing
// anything, naming the key, and nothing changes.
func TestWrongKeyBytesAreRefused(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	prov, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	env := envFor(dsn)
	env["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k1")
	mustRun(t, env, record("a", tokenURL, "", "rt-SECRET-a", ""), "import")
	c := connect(t, dsn)
	before, keysBefore := snapshot(t, c), keysSnapshot(t, c)

	wrong := envFor(dsn)
	wrong["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k1")
	for _, args := range [][]string{{"once"}, {"refresh", "a"}, {"check", "a"}, {"rekey"}, {"import", "-"}} {
		r := run(t, wrong, record("b", tokenURL, "", "rt-SECRET-b", ""), args...)
		if line := r.oneLine(t); r.code != 1 || !strings.Contains(line, `key "k1"`) || !strings.Contains(line, "different bytes") {
			t.Errorf("%v with the wrong bytes for k1: %s", args, r)
		}
	}
	if prov.Calls() != 0 {
		t.Fatalf("%d requests reached the provider", prov.Calls())
	}
	if snapshot(t, c) != before || keysSnapshot(t, c) != keysBefore {
		t.Fatal("a command with the wrong key changed the database")
	}
	mustRun(t, env, "", "once")
}

// worker rekey names every row it cannot open, and fails; with
// --skip-unreadable it re-seals the rest, takes those rows out of rotation
// and forgets the keys only they name, so that a lost key can be retired.
func TestRekeyNamesUnreadableRows(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	prov, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	lost, k1 := newKeySpec("lost"), newKeySpec("k1")
	withLost := envFor(dsn)
	withLost["TOKENS_ENCRYPTION_KEYS"] = lost
	mustRun(t, withLost, record("lost-key", tokenURL, "", "rt-SECRET-l", ""), "import")
	env := envFor(dsn)
	env["TOKENS_ENCRYPTION_KEYS"] = k1
	mustRun(t, env, record("changed", tokenURL, "", "rt-SECRET-c", "")+record("good", tokenURL, "", "rt-SECRET-g", ""), "import")
	c := connect(t, dsn)
	if _, err := c.Exec(context.Background(), "UPDATE oauth_tokens SET client_id = 'cid-other' WHERE name = 'changed'"); err != nil {
		t.Fatal(err)
	}

	rotated := envFor(dsn)
	rotated["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k2") + "," + k1
	r := run(t, rotated, "", "rekey")
	line := r.lastLine()
	if r.code != 1 || !strings.Contains(line, "lost-key") || !strings.Contains(line, "changed") || strings.Contains(line, "good") {
		t.Fatalf("rekey over unreadable rows: %s", r)
	}
	if getRow(t, c, "lost-key").Status != "active" {
		t.Fatal("rekey without --skip-unreadable changed an unreadable row")
	}

	r = mustRun(t, rotated, "", "rekey", "--skip-unreadable")
	if !strings.Contains(r.stdout, "lost-key") || !strings.Contains(r.stdout, "changed") {
		t.Fatalf("rekey --skip-unreadable does not list what it skipped: %s", r)
	}
	for _, name := range []string{"lost-key", "changed"} {
		if row := getRow(t, c, name); row.Status != "needs_reauth" || !strings.Contains(str(row.LastError), "rekey") {
			t.Errorf("skipped row %s: %+v", name, row)
		}
	}
	if keys := keysSnapshot(t, c); strings.Contains(keys, `"lost"`) {
		t.Fatalf("the lost key is still recorded after rekey --skip-unreadable: %s", keys)
	}
	// The lost key is retired: a worker without it starts and refreshes.
	onlyNew := envFor(dsn)
	onlyNew["TOKENS_ENCRYPTION_KEYS"] = strings.Split(rotated["TOKENS_ENCRYPTION_KEYS"], ",")[0]
	mustRun(t, onlyNew, "", "once")
	if prov.Calls() != 1 || getRow(t, c, "good").Version != 1 {
		t.Fatalf("after retiring the lost key: %d calls, good %+v", prov.Calls(), getRow(t, c, "good"))
	}
}

// goldenV1 is a refresh token sealed by the release before bindings
// (format twenc:v1, bound to its row and column only), under key "old"
// (bytes 0 to 31), for the row with id goldenID.
const (
	goldenKey = "old:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	goldenID  = "0190f1b2-7c3e-7000-8000-000000000001"
	goldenV1  = "twenc:v1:old:j/Cw1aUdr4eAnFuuliwYkQ9a2YBjDh76y+mbSONSivGPYeLMQNyFNA"
)

// A table sealed by the previous release: its values still open, its key
// (recorded without a check value) is checked by opening one of them and
// then recorded with one, and worker rekey binds the values to their
// connection, after which a change made with SQL is refused.
func TestValuesSealedBeforeBindingsStayReadableAndRekeyBindsThem(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	prov, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	var stolen atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { stolen.Add(1) }))
	t.Cleanup(attacker.Close)
	c := connect(t, dsn)
	ctx := context.Background()
	if _, err := c.Exec(ctx, `INSERT INTO oauth_tokens (id, name, token_url, client_id, refresh_token, access_token_expires)
		VALUES ($1, 'legacy', $2, 'cid', $3, now())`, goldenID, tokenURL, goldenV1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `INSERT INTO oauth_token_keys (key_id) VALUES ('old')`); err != nil {
		t.Fatal(err)
	}
	wrong := envFor(dsn)
	wrong["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("old")
	if r := run(t, wrong, "", "once"); r.code != 1 || !strings.Contains(r.oneLine(t), `key "old"`) {
		t.Fatalf("once with the wrong bytes for a key recorded before check values: %s", r)
	}
	env := envFor(dsn)
	env["TOKENS_ENCRYPTION_KEYS"] = goldenKey
	mustRun(t, env, "", "refresh", "legacy")
	if prov.Successes() != 1 {
		t.Fatalf("the v1 refresh token did not reach the provider: %d successes", prov.Successes())
	}
	var check *string
	if err := c.QueryRow(ctx, `SELECT check_value FROM oauth_token_keys WHERE key_id = 'old'`).Scan(&check); err != nil || check == nil {
		t.Fatalf("the key's check value was not recorded on first use: %v", err)
	}

	mustRun(t, env, "", "rekey")
	if rt := str(getRow(t, c, "legacy").RefreshToken); !strings.HasPrefix(rt, "twenc:v2:old:") {
		t.Fatalf("rekey left the refresh token as %.12s...", rt)
	}
	if _, err := c.Exec(ctx, `UPDATE oauth_tokens SET token_url = $1, access_token_expires = now() WHERE name = 'legacy'`, attacker.URL+"/token"); err != nil {
		t.Fatal(err)
	}
	if r := run(t, env, "", "refresh", "legacy"); r.code != 1 || !strings.Contains(r.lastLine(), "token_url changed") {
		t.Fatalf("refresh after token_url was changed with SQL: %s", r)
	}
	if stolen.Load() != 0 {
		t.Fatal("the changed token_url received the refresh token")
	}
}
