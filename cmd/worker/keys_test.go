package main

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

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
