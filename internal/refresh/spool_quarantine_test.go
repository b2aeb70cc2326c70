package refresh_test

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/metrics"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/spool"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

func newKeyring(t *testing.T, id string) *keyring.Keyring {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	k, err := keyring.Parse(id + ":" + base64.StdEncoding.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func quarantinedMetric(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	v, ok := testutil.Scrape(t, m.Handler())["tokenwarden_spool_quarantined_total"]
	if !ok {
		t.Fatal("tokenwarden_spool_quarantined_total is not exported")
	}
	return v
}

// strayBatch is a spooled success for a row that does not exist.
func strayBatch() spool.Batch {
	exp := time.Now().Add(time.Hour)
	return spool.Batch{Successes: []store.Success{{ID: uuid.New(), ClaimID: uuid.New(), Name: "stray",
		AccessToken: "at-stray-secret", RefreshToken: "rt-stray-secret", AccessTokenExpires: &exp}}}
}

// Spool files the worker cannot read (garbage, a truncated batch, a batch
// sealed with a key it lacks) must not stop it: each is moved to
// quarantine/, logged as an error and counted, the readable batch is
// replayed, and every due row is refreshed.
func TestUnreadableSpoolFilesAreQuarantinedAndRefreshingGoesOn(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	e.insert(t, -time.Hour, "spooled")
	e.insert(t, 0, "b", "c")

	// A worker refreshed "spooled" and spooled the answer, then died.
	claimed, err := e.st.Claim(t.Context(), 1, 5*time.Minute, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].Name != "spooled" {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	dir := t.TempDir()
	keys := newKeyring(t, "k1")
	sp, err := spool.Open(dir, keys)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if _, err := sp.Write(spool.Batch{Successes: []store.Success{{ID: claimed[0].ID, ClaimID: *claimed[0].ClaimID,
		Name: "spooled", AccessToken: "at-from-spool", RefreshToken: "rt-from-spool", AccessTokenExpires: &exp}}}); err != nil {
		t.Fatal(err)
	}

	// The unreadable ones.
	if err := os.WriteFile(filepath.Join(dir, "1-garbage.batch.json"), []byte("not a batch at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	truncated, err := sp.Write(strayBatch())
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(truncated)
	if err := os.Truncate(truncated, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	foreign, err := spool.Open(dir, newKeyring(t, "k2"))
	if err != nil {
		t.Fatal(err)
	}
	unknownKey, err := foreign.Write(strayBatch())
	if err != nil {
		t.Fatal(err)
	}
	unreadable := []string{"1-garbage.batch.json", filepath.Base(truncated), filepath.Base(unknownKey)}

	var logs lockedBuffer
	ex := provider.NewRefresher(provider.NewCatalogue(), e.srv.Client(), nil)
	w := refresh.New(e.st, ex, refresh.Config{Spool: sp}, slog.New(slog.NewTextHandler(&logs, nil)))
	stats, err := w.Pass(t.Context())
	if err != nil {
		t.Fatalf("pass: %v", err)
	}
	if stats.Refreshed != 2 || e.prov.Calls() != 2 {
		t.Fatalf("stats = %+v, provider calls %d; want b and c refreshed", stats, e.prov.Calls())
	}
	e.assertHoldsIssued(t, "b")
	e.assertHoldsIssued(t, "c")
	if r := e.row(t, "spooled"); r.AccessToken.Reveal() != "at-from-spool" || r.RefreshToken.Reveal() != "rt-from-spool" || r.Updating {
		t.Fatal("the readable spooled batch was not replayed")
	}

	if files := batchFiles(t, dir); len(files) != 0 {
		t.Fatalf("left in the spool: %v", files)
	}
	for _, name := range unreadable {
		if _, err := os.Stat(filepath.Join(dir, "quarantine", name)); err != nil {
			t.Errorf("%s not in quarantine: %v", name, err)
		}
		if !strings.Contains(logs.String(), name) {
			t.Errorf("%s not logged", name)
		}
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != len(unreadable) {
		t.Errorf("%d errors logged, want one per quarantined file:\n%s", n, logs.String())
	}
	for _, secret := range []string{"at-stray-secret", "rt-stray-secret", "rt-from-spool"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("a spooled token reached the log:\n%s", logs.String())
		}
	}
	// Counted, as an operator's alert would see it.
	m := metrics.New()
	m.WatchSpool(sp)
	if got := quarantinedMetric(t, m); got != float64(len(unreadable)) {
		t.Errorf("tokenwarden_spool_quarantined_total = %v, want %d", got, len(unreadable))
	}
	// Refreshing goes on in the next passes too.
	if _, err := w.Pass(t.Context()); err != nil {
		t.Fatalf("second pass: %v", err)
	}
}
