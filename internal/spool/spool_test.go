package spool

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

func newKeys(t *testing.T) *keyring.Keyring {
	b := make([]byte, 32)
	rand.Read(b)
	k, err := keyring.Parse("k1:" + base64.StdEncoding.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestWriteSealsAndPendingOpens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, err := Open(dir, newKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	id := uuid.New()
	b := Batch{
		Successes: []store.Success{{ID: id, ClaimID: uuid.New(), Name: "a", AccessToken: "at-SECRET", RefreshToken: "rt-SECRET", AccessTokenExpires: &exp}},
		Failures:  []store.Failure{{ID: uuid.New(), ClaimID: uuid.New(), Name: "b", LastError: "HTTP 500", Delay: time.Second}},
	}
	path, err := sp.Write(b)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "SECRET") {
		t.Fatal("the spool file holds a token in plaintext")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("spool file mode %v, want 0600", fi.Mode().Perm())
	}
	// A crash mid-write leaves only a .tmp file, which is not a batch.
	os.WriteFile(filepath.Join(dir, "x.batch.json.tmp"), []byte("{"), 0o600)

	pending, bad, err := sp.Pending()
	if err != nil || len(pending) != 1 || len(bad) != 0 {
		t.Fatalf("pending: %v %v %v", pending, bad, err)
	}
	got := pending[0].Batch
	if got.Successes[0].AccessToken != "at-SECRET" || got.Successes[0].RefreshToken != "rt-SECRET" ||
		!got.Successes[0].AccessTokenExpires.Equal(exp) || got.Failures[0].Delay != time.Second {
		t.Fatalf("batch read back differs: %+v", got)
	}
	if err := sp.Remove(path); err != nil {
		t.Fatal(err)
	}
	if pending, _, _ := sp.Pending(); len(pending) != 0 {
		t.Fatalf("%d batches after remove", len(pending))
	}
}

func newKeysWithID(t *testing.T, id string) *keyring.Keyring {
	b := make([]byte, 32)
	rand.Read(b)
	k, err := keyring.Parse(id + ":" + base64.StdEncoding.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A file the spool cannot read is moved to quarantine/ and reported, never
// skipped silently (it may hold answers found nowhere else) and never an
// error that would stop the readable batches from being stored. Only a
// file sealed with a key the keyring lacks fails the start-up check.
func TestPendingQuarantinesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys := newKeysWithID(t, "k1")
	sp, _ := Open(dir, keys)
	secret := Batch{Successes: []store.Success{{ID: uuid.New(), AccessToken: "at-SECRET", RefreshToken: "rt-SECRET"}}}
	good, err := sp.Write(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.CheckKeys(); err != nil {
		t.Fatalf("check with the key: %v", err)
	}
	write := func(s *Spool, b Batch) string {
		t.Helper()
		path, err := s.Write(b)
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Base(path)
	}
	garbage := "1-garbage.batch.json"
	os.WriteFile(filepath.Join(dir, garbage), []byte(`{"successes": [{"access_token": "at-SECRET"`), 0o600)
	notJSON := "2-not-json.batch.json"
	os.WriteFile(filepath.Join(dir, notJSON), []byte("rt-SECRET"), 0o600)
	truncated := write(sp, secret)
	os.Truncate(filepath.Join(dir, truncated), 40)
	wrongBytes := write(&Spool{dir: dir, keys: newKeysWithID(t, "k1")}, secret) // same id, other key
	otherKey := write(&Spool{dir: dir, keys: newKeysWithID(t, "k2")}, secret)

	// The start-up check names the file only the missing key opens.
	if err := sp.CheckKeys(); err == nil || !strings.Contains(err.Error(), otherKey) || !strings.Contains(err.Error(), `"k2"`) {
		t.Fatalf("check with a foreign file: %v", err)
	}
	pending, bad, err := sp.Pending()
	if err != nil || len(pending) != 1 || pending[0].Path != good {
		t.Fatalf("pending: %v %v", pending, err)
	}
	want := map[string]bool{garbage: true, notJSON: true, truncated: true, wrongBytes: true, otherKey: true}
	for _, u := range bad {
		name := filepath.Base(u.Path)
		if !want[name] || u.Path != filepath.Join(dir, QuarantineDir, name) {
			t.Errorf("unreadable %s", u.Path)
		}
		delete(want, name)
		if u.Err == nil || strings.Contains(u.Err.Error(), "SECRET") {
			t.Errorf("%s: error %v", name, u.Err)
		}
		if _, err := os.Stat(u.Path); err != nil {
			t.Errorf("%s not in quarantine: %v", name, err)
		}
	}
	if len(want) != 0 || sp.Quarantined() != 5 {
		t.Fatalf("not quarantined: %v; counted %d", want, sp.Quarantined())
	}
	if err := sp.CheckKeys(); err != nil {
		t.Fatalf("check after quarantine: %v", err)
	}
	if again, bad, _ := sp.Pending(); len(again) != 1 || len(bad) != 0 {
		t.Fatalf("second read: %d pending, %d unreadable", len(again), len(bad))
	}
}

// fixtureKey is the key testdata's batch file was sealed with: bytes 0 to
// 31, a fixture, not a secret.
const fixtureKey = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// A batch file an earlier release wrote (testdata, sealed before results
// were sealed in one place) is still read back whole: the file format did
// not change. Its success, its plain failure and its failure with a
// salvaged refresh token keep their tokens and their identities.
func TestReadsTheBatchFilesOfEarlierReleases(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const name = "00000000000000000001-fixture.batch.json"
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := keyring.Parse(fixtureKey)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := Open(dir, k)
	if err != nil {
		t.Fatal(err)
	}
	pending, bad, err := sp.Pending()
	if err != nil || len(pending) != 1 || len(bad) != 0 {
		t.Fatalf("pending: %v %v %v", pending, bad, err)
	}
	b := pending[0].Batch
	if len(b.Successes) != 1 || len(b.Failures) != 2 {
		t.Fatalf("batch: %+v", b)
	}
	s, plain, salvaged := b.Successes[0], b.Failures[0], b.Failures[1]
	if s.AccessToken != "at-fixture" || s.RefreshToken != "rt-fixture" || s.Identity == nil ||
		*s.Identity != (store.Identity{Provider: "oauth2", TokenURL: "https://idp.example.com/token", ClientID: "cid"}) {
		t.Errorf("success read back as %+v (identity %+v)", s, s.Identity)
	}
	if plain.RefreshToken != "" || plain.Identity != nil || plain.Delay != time.Second {
		t.Errorf("plain failure read back as %+v", plain)
	}
	if salvaged.RefreshToken != "rt-salvaged" || salvaged.Identity == nil || salvaged.Identity.Provider != "xero" {
		t.Errorf("failure with a salvaged token read back as %+v", salvaged)
	}
}

// A batch file written now seals each token bound to its row and column
// only, as earlier releases did and read: the identity is in the clear
// beside it, for the store to bind the token to when it is replayed.
func TestWriteSealsForRowAndColumn(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	sp, err := Open(t.TempDir(), k)
	if err != nil {
		t.Fatal(err)
	}
	id, failed := uuid.New(), uuid.New()
	ident := &store.Identity{Provider: "xero", ClientID: "cid"}
	path, err := sp.Write(Batch{
		Successes: []store.Success{{ID: id, Name: "a", AccessToken: "at-SECRET", RefreshToken: "rt-SECRET", Identity: ident}},
		Failures:  []store.Failure{{ID: failed, Name: "b", RefreshToken: "rt-SALVAGED", Identity: ident}},
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk Batch
	if err := json.Unmarshal(data, &onDisk); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ sealed, want, row, col string }{
		{onDisk.Successes[0].AccessToken, "at-SECRET", id.String(), "access_token"},
		{onDisk.Successes[0].RefreshToken, "rt-SECRET", id.String(), "refresh_token"},
		{onDisk.Failures[0].RefreshToken, "rt-SALVAGED", failed.String(), "refresh_token"},
	} {
		if !strings.HasPrefix(c.sealed, "twenc:v1:") {
			t.Errorf("%s on disk is not in format v1", c.col)
		}
		if got, err := k.Open(c.sealed, keyring.AAD(c.row, c.col)); err != nil || got != c.want {
			t.Errorf("%s does not open for its row and column: %v", c.col, err)
		}
	}
	if onDisk.Successes[0].Identity == nil || *onDisk.Successes[0].Identity != *ident {
		t.Errorf("identity on disk: %+v", onDisk.Successes[0].Identity)
	}
}
