package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/spool"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// A spool file sealed with a key the worker lacks holds rotated tokens only
// that key opens: like a table key that is missing, the worker refuses to
// start, names the file and the key, and sends nothing. Unreadable garbage
// in the spool does not stop it: the first pass sets it aside in
// quarantine/ and refreshes the rest.
func TestWorkerChecksTheSpoolsKeysAtStart(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	prov, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	k1, k2 := newKeySpec("k1"), newKeySpec("k2")
	env := envFor(dsn)
	env["TOKENS_ENCRYPTION_KEYS"] = k1
	mustRun(t, env, record("a", tokenURL, "", "rt-a", ""), "import", "-")

	dir := t.TempDir()
	env["TOKENS_SPOOL_DIR"] = dir
	foreignKeys, err := keyring.Parse(k2)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := spool.Open(dir, foreignKeys)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	path, err := foreign.Write(spool.Batch{Successes: []store.Success{{ID: uuid.New(), ClaimID: uuid.New(), Name: "gone",
		AccessToken: "at-" + secretMark, RefreshToken: "rt-" + secretMark, AccessTokenExpires: &exp}}})
	if err != nil {
		t.Fatal(err)
	}

	r := run(t, env, "", "once")
	if line := r.oneLine(t); r.code != 1 || !strings.Contains(line, path) || !strings.Contains(line, `key "k2"`) {
		t.Fatalf("start with a spool file under a missing key: %s", r)
	}
	if _, err := os.Stat(path); err != nil || prov.Calls() != 0 {
		t.Fatalf("refused start moved the file (%v) or sent %d requests", err, prov.Calls())
	}

	// With the key it starts and replays the file (refused by the fence:
	// its row is gone), leaving the spool empty.
	withBoth := envFor(dsn)
	withBoth["TOKENS_ENCRYPTION_KEYS"] = k1 + "," + k2
	withBoth["TOKENS_SPOOL_DIR"] = dir
	mustRun(t, withBoth, "", "once")
	if _, err := os.Stat(path); !os.IsNotExist(err) || prov.Calls() != 1 {
		t.Fatalf("with the key: file %v, %d requests", err, prov.Calls())
	}

	// Garbage is not a reason to refuse: it is quarantined and the rest
	// is refreshed.
	garbage := filepath.Join(dir, "1-garbage.batch.json")
	if err := os.WriteFile(garbage, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := connect(t, dsn)
	if _, err := db.Exec(t.Context(), "UPDATE oauth_tokens SET access_token_expires = now()"); err != nil {
		t.Fatal(err)
	}
	r = run(t, env, "", "once")
	if r.code != 0 || prov.Calls() != 2 || !strings.Contains(r.stderr, "set aside") {
		t.Fatalf("start with garbage in the spool: %s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, spool.QuarantineDir, filepath.Base(garbage))); err != nil {
		t.Fatalf("garbage not quarantined: %v", err)
	}
}
