package provider

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadCatalogueIsBounded: TOKENS_PROVIDERS_FILE=/dev/zero used to be
// read until the process was killed for memory. A file past the bound is
// refused with one line; one at the bound loads.
func TestLoadCatalogueIsBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	over := filepath.Join(dir, "over.json")
	if err := os.WriteFile(over, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(over, MaxProvidersFileSize+1); err != nil {
		t.Fatal(err)
	}
	at := filepath.Join(dir, "at.json")
	body := `[{"name":"extra","auth":"post","default_lifetime":"1h"}]`
	if err := os.WriteFile(at, []byte(body+strings.Repeat(" ", MaxProvidersFileSize-len(body))), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{over, "/dev/zero"} {
		_, err := LoadCatalogue(path)
		if want := "TOKENS_PROVIDERS_FILE: " + path + ": larger than 1 MiB"; err == nil || err.Error() != want {
			t.Errorf("%s: err = %v, want %q", path, err, want)
		}
	}
	c, err := LoadCatalogue(at)
	if err != nil {
		t.Fatalf("a file of exactly %d bytes: %v", MaxProvidersFileSize, err)
	}
	if _, ok := c.Lookup("extra"); !ok {
		t.Error("the file's template is not in the catalogue")
	}
}
