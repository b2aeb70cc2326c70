package main

import (
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
)

// `worker import --from` moves a seed system's store in one command, and
// the next `worker once` refreshes what it moved; a bad --from, or a file
// with it, is refused before anything is written.
func TestImportFrom(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	mp, url := newProvider(t, mockprovider.Options{Rotate: true, ClientID: "xero-client-id", ClientSecret: "xero-cs-SECRET"})
	const fixtures = "../../internal/seedimport/testdata/"
	r := mustRun(t, env, "", "import", "--from", "nifi-xero", "--file", fixtures+"xero-credentials.json",
		"--credentials", fixtures+"xero-client.json", "--token-url", url)
	if !strings.Contains(r.stdout, "imported 1 connection(s)") {
		t.Fatalf("import --from: %s", r)
	}
	mustRun(t, env, "", "once")
	if _, ok := mp.Issued("xero-rt-SECRET-1"); !ok {
		t.Fatal("the moved connection was not refreshed by once")
	}
	c := connect(t, dsn)
	for _, args := range [][]string{
		{"import", "--from", "nowhere"},
		{"import", "--from", "nifi-xero", "file.json"},
		{"import", "--from", "nifi-xero", "--file", fixtures + "missing.json", "--credentials", fixtures + "xero-client.json"},
	} {
		r := run(t, env, "", args...)
		if r.code == 0 || r.lastLine() == "" {
			t.Errorf("%v: %s", args, r)
		}
		r.leaks(t, "xero-cs-SECRET", "xero-rt-SECRET")
	}
	if n := count(t, c); n != 1 {
		t.Fatalf("%d rows after refused imports, want 1", n)
	}
}
