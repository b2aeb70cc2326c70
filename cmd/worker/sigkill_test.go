package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// startWorkerEnv starts `worker run` with extra environment (KEY=VALUE).
func startWorkerEnv(t *testing.T, dsn string, env ...string) *proc {
	t.Helper()
	m := map[string]string{"DATABASE_URL": dsn, "TOKENS_LOG_LEVEL": "warn"}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return startWith(t, m, "run")
}

// The worker is killed with SIGKILL at random points of a refresh burst,
// again and again. However it dies, no row stays claimed past its lease, and
// once a worker runs to the end every row has been refreshed.
func TestSIGKILLDuringBurstsLosesNoRow(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	prov, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour, Latency: 5 * time.Millisecond})
	const rows = 300
	var b strings.Builder
	for i := range rows {
		b.WriteString(record(fmt.Sprintf("kill-%03d", i), tokenURL, "", fmt.Sprintf("rt-%03d", i), "") + "\n")
	}
	mustRun(t, envFor(dsn), b.String(), "import", "-")
	env := []string{"TOKENS_LEASE=2s", "TOKENS_HTTP_TIMEOUT=1s", "TOKENS_CONCURRENCY=8", "TOKENS_POLL_INTERVAL=1h"}

	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("kill points seeded with %d", seed)
	db := connect(t, dsn)
	for round := range 5 {
		before := prov.Calls()
		p := startWorkerEnv(t, dsn, env...)
		target := before + 1 + rng.Int64N(40)
		testutil.Eventually(t, 30*time.Second, fmt.Sprintf("round %d: %d provider calls", round, target), func() bool {
			return prov.Calls() >= target
		})
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}

	p := startWorkerEnv(t, dsn, env...)
	testutil.Eventually(t, 60*time.Second, "every row refreshed", func() bool {
		var left int
		// A failed count must not read as none left: it would end the
		// wait, and the test, early.
		if err := db.QueryRow(t.Context(), "SELECT count(*) FROM oauth_tokens WHERE version = 0 OR updating").Scan(&left); err != nil {
			t.Fatalf("count the rows left: %v", err)
		}
		return left == 0
	})
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("final worker exited %d:\n%s", code, p.output.String())
	}
	var active, claimed int
	if err := db.QueryRow(t.Context(), "SELECT count(*) FILTER (WHERE status = 'active' AND access_token IS NOT NULL), count(*) FILTER (WHERE updating) FROM oauth_tokens").Scan(&active, &claimed); err != nil {
		t.Fatal(err)
	}
	if active != rows || claimed != 0 {
		t.Fatalf("%d of %d rows active with a token, %d still claimed", active, rows, claimed)
	}
}
