package atomicfile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/atomicfile"
)

// WriteFrom streams the content in with the mode asked for; a fill that
// fails after writing part of it leaves the old file as it was, nothing
// else behind, and its own error.
func TestWriteFromStreamsOrLeavesTheOldFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "export.jsonl")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := atomicfile.WriteFrom(path, 0o600, func(w io.Writer) error {
		if _, err := io.WriteString(w, "part"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" || !slices.Equal(entries(t, dir), []string{"export.jsonl"}) {
		t.Fatalf("after a failed fill: %q, entries %v", got, entries(t, dir))
	}
	err = atomicfile.WriteFrom(path, 0o600, func(w io.Writer) error {
		for range 3 {
			if _, err := io.WriteString(w, "line\n"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "line\nline\nline\n" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("got %q mode %v", got, fi.Mode().Perm())
	}
}
