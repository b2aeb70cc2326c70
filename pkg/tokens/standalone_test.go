package tokens

import (
	"os/exec"
	"strings"
	"testing"
)

// The consumer library stands alone: it links none of the worker's
// packages, nor gorm. A consumer binary stays small, and a change to the
// worker's statements cannot change what a consumer does.
func TestLinksNoWorkerPackage(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"/internal/store", "/internal/refresh", "/internal/provider", "gorm.io/"} {
			if strings.Contains(dep, banned) {
				t.Errorf("pkg/tokens depends on %s", dep)
			}
		}
	}
}
