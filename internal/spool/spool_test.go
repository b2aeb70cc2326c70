package spool

import (
	"crypto/rand"
	"encoding/base64"
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

	pending, err := sp.Pending()
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending: %v %v", pending, err)
	}
	got := pending[0].Batch
	if got.Successes[0].AccessToken != "at-SECRET" || got.Successes[0].RefreshToken != "rt-SECRET" ||
		!got.Successes[0].AccessTokenExpires.Equal(exp) || got.Failures[0].Delay != time.Second {
		t.Fatalf("batch read back differs: %+v", got)
	}
	if err := sp.Remove(path); err != nil {
		t.Fatal(err)
	}
	if pending, _ := sp.Pending(); len(pending) != 0 {
		t.Fatalf("%d batches after remove", len(pending))
	}
}

func TestPendingRefusesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sealed, _ := Open(dir, newKeys(t))
	if _, err := sealed.Write(Batch{Successes: []store.Success{{ID: uuid.New(), AccessToken: "at"}}}); err != nil {
		t.Fatal(err)
	}
	// Another key cannot open it: an error, never a silent skip, since the
	// file holds answers that exist nowhere else.
	other, _ := Open(dir, newKeys(t))
	if _, err := other.Pending(); err == nil {
		t.Fatal("a batch sealed with another key was read")
	}
	corrupt := t.TempDir()
	os.WriteFile(filepath.Join(corrupt, "1.batch.json"), []byte("{not json"), 0o600)
	sp, _ := Open(corrupt, nil)
	if _, err := sp.Pending(); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt file: %v", err)
	}
}
