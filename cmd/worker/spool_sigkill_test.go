package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/spool"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// PostgreSQL stops in the middle of a burst and the worker is then killed
// with SIGKILL, as in issue 11's report of lost connections. Every answer
// the provider gave before the kill must be in the spool by then, without
// waiting for a stop or a lease, and the next start stores it: no row is
// left holding a refresh token the provider has rotated, and none is sent
// again.
func TestSIGKILLDuringADatabaseOutageLosesNoAnswer(t *testing.T) {
	t.Parallel()
	srv := pgtest.NewServer(t)
	dsn := srv.DSN()
	mustRun(t, envFor(dsn), "", "migrate")

	// The provider holds every request until the database is down.
	prov := mockprovider.New(mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	var arrived atomic.Int32
	release := make(chan struct{})
	var mu sync.Mutex
	answered := map[string]bool{} // initial refresh tokens answered
	gated := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-release:
		case <-t.Context().Done():
			return
		}
		r.ParseForm()
		rt := r.PostForm.Get("refresh_token")
		prov.ServeHTTP(w, r)
		mu.Lock()
		answered[rt] = true
		mu.Unlock()
	}))
	t.Cleanup(gated.Close)

	const concurrency, rows = 8, 16 // every row claimed at once: 2 x concurrency
	keys := newKeySpec("k1")
	env := envFor(dsn)
	env["TOKENS_ENCRYPTION_KEYS"] = keys
	var b strings.Builder
	for i := range rows {
		b.WriteString(record(fmt.Sprintf("outage-%02d", i), gated.URL+"/token", "", fmt.Sprintf("rt-%02d", i), "") + "\n")
	}
	mustRun(t, env, b.String(), "import", "-")

	dir := t.TempDir()
	workerEnv := []string{"TOKENS_ENCRYPTION_KEYS=" + keys, "TOKENS_SPOOL_DIR=" + dir,
		fmt.Sprintf("TOKENS_CONCURRENCY=%d", concurrency), "TOKENS_POLL_INTERVAL=1h"}
	p := startWorkerEnv(t, dsn, workerEnv...)
	db := connect(t, dsn)
	testutil.Eventually(t, 30*time.Second, "every row claimed and a request for each refresher", func() bool {
		var claimed int
		db.QueryRow(t.Context(), "SELECT count(*) FROM oauth_tokens WHERE updating").Scan(&claimed)
		return claimed == rows && arrived.Load() == concurrency
	})
	db.Close(t.Context())
	srv.Stop()
	close(release)

	// The answers reach the spool while the database is down: the lease
	// (2m) is far beyond this deadline.
	kr, err := keyring.Parse(keys)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(dir, kr)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "every answer in the spool", func() bool {
		entries, bad, err := sp.Pending()
		if err != nil || len(bad) > 0 {
			t.Fatalf("spool: %v %v", err, bad)
		}
		n := 0
		for _, e := range entries {
			n += len(e.Batch.Successes)
		}
		mu.Lock()
		defer mu.Unlock()
		return len(answered) == rows && n == rows
	})
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done

	srv.Start()
	next := startWorkerEnv(t, dsn, workerEnv...)
	st, err := store.Open(t.Context(), dsn, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st = st.WithKeyring(kr)
	for i := range rows {
		name := fmt.Sprintf("outage-%02d", i)
		issued, ok := prov.Issued(fmt.Sprintf("rt-%02d", i))
		if !ok {
			t.Fatalf("%s: the provider never answered", name)
		}
		testutil.Eventually(t, 30*time.Second, name+" stored", func() bool {
			r, err := st.Get(t.Context(), name)
			return err == nil && r.Version == 1 && !r.Updating
		})
		r, _ := st.Get(t.Context(), name)
		if r.RefreshToken.Reveal() != issued.RefreshToken || r.AccessToken.Reveal() != issued.AccessToken {
			t.Errorf("%s does not hold the provider's answer", name)
		}
	}
	if prov.Calls() != rows || prov.Reuses() != 0 {
		t.Fatalf("provider: %d calls, %d reusing a rotated token; want %d and 0", prov.Calls(), prov.Reuses(), rows)
	}
	// A replayed file is removed after its batch is stored: wait for it.
	testutil.Eventually(t, 30*time.Second, "the spool empty after the replay", func() bool {
		entries, _, err := sp.Pending()
		return err == nil && len(entries) == 0
	})
	next.cmd.Process.Signal(syscall.SIGTERM)
	if code := next.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("worker exited %d:\n%s", code, next.output.String())
	}
}
