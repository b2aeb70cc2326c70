package refresh_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/spool"
)

// spooledTokens returns the refresh token of every success in the spool,
// by row name.
func spooledTokens(t *testing.T, sp *spool.Spool) map[string]string {
	t.Helper()
	entries, bad, err := sp.Pending()
	if err != nil || len(bad) > 0 {
		t.Fatalf("reading the spool: %v, unreadable %v", err, bad)
	}
	out := map[string]string{}
	for _, e := range entries {
		for _, s := range e.Batch.Successes {
			out[s.Name] = s.RefreshToken
		}
	}
	return out
}

// notifyingSpool tells the test of every batch the worker spools.
type notifyingSpool struct {
	*spool.Spool
	wrote chan struct{}
}

func (s notifyingSpool) Write(b spool.Batch) (string, error) {
	path, err := s.Spool.Write(b)
	if err == nil {
		select {
		case s.wrote <- struct{}{}:
		default: // the test is no longer counting
		}
	}
	return path, err
}

// batchFiles lists the batch files in dir, quarantine excluded.
func batchFiles(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".batch.json") {
			out = append(out, de.Name())
		}
	}
	return out
}

// PostgreSQL stops in the middle of a burst. Every answer the provider gave
// must be on disk as soon as its store fails, not at stop or after a lease:
// a SIGKILL from then on must lose nothing. First one answer arrives and its
// store fails; then the others arrive while the worker waits to retry. Once
// the database is back the batch is stored and the spool emptied.
func TestFailedStoreSpoolsEveryAnswerAtOnce(t *testing.T) {
	t.Parallel()
	srv := migratedServer(t)
	e := setupOn(t, srv.DSN(), mockprovider.Options{Rotate: true, Lifetime: time.Hour}, 2)
	names := []string{"a", "b", "c"}
	arrived, proceed := make(chan struct{}, len(names)), make(chan struct{})
	prov := e.prov
	gated := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-proceed: // one answer per send
		case <-t.Context().Done():
			return
		}
		prov.ServeHTTP(w, r)
	}))
	t.Cleanup(gated.Close)
	e.srv = gated
	e.insert(t, 0, names...)

	dir := t.TempDir()
	sp, err := spool.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	obs := newRetryObserver()
	// The default lease (2m) is far beyond this test's deadlines: nothing
	// waits for it. A claim batch larger than the rows takes them all in
	// one statement, so that no second claim meets the database stopped.
	wrote := make(chan struct{}, len(names))
	w := e.worker(refresh.Config{Observer: obs, Spool: notifyingSpool{sp, wrote}, Concurrency: len(names),
		ClaimBatch: len(names) + 1})
	done := make(chan refresh.Stats, 1)
	go func() {
		stats, err := w.Pass(t.Context())
		if err != nil {
			t.Error(err)
		}
		done <- stats
	}()
	for range names {
		<-arrived
	}
	srv.Stop()

	proceed <- struct{}{}
	<-obs.first // the first store has failed
	got := spooledTokens(t, sp)
	if len(got) != 1 {
		t.Fatalf("after the first failed store the spool holds %d answers, want 1", len(got))
	}
	for name, rt := range got {
		if issued, ok := prov.Issued("rt-" + name); !ok || issued.RefreshToken != rt {
			t.Fatalf("spooled %s does not hold the provider's rotated refresh token", name)
		}
	}

	// The other answers arrive while the store is failing: each is on disk
	// within milliseconds, long before the next retry would spool it.
	proceed <- struct{}{}
	proceed <- struct{}{}
	timeout := time.After(10 * time.Second)
	for len(spooledTokens(t, sp)) < len(names) {
		select {
		case <-wrote:
		case <-timeout:
			t.Fatalf("the spool holds %d of %d answers", len(spooledTokens(t, sp)), len(names))
		}
	}
	for name, rt := range spooledTokens(t, sp) {
		if issued, _ := prov.Issued("rt-" + name); issued.RefreshToken != rt {
			t.Fatalf("spooled %s does not hold the provider's rotated refresh token", name)
		}
	}

	srv.Start()
	stats := <-done
	if stats.Refreshed != len(names) {
		t.Fatalf("stats = %+v, want every answer stored", stats)
	}
	for _, n := range names {
		e.assertHoldsIssued(t, n)
	}
	if files := batchFiles(t, dir); len(files) != 0 {
		t.Fatalf("stored batches left in the spool: %v", files)
	}
	if _, err := os.Stat(filepath.Join(dir, "quarantine")); !os.IsNotExist(err) {
		t.Fatalf("quarantine: %v", err)
	}
}
