package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReportKeepsTheSectionsItDidNotRun(t *testing.T) {
	t.Parallel()
	analysis := "\n## Where targets are missed, and why\n\nnew analysis\n"
	previous := "# tokenwarden benchmarks\n\n- Command: `go run ./cmd/bench`\n\n## burst\n\nold burst\n\n## export\n\nby hand\n\n## proxy\n\nold proxy\n" +
		"\n## Where targets are missed, and why\n\nold analysis\n"
	report := "# tokenwarden benchmarks\n\n- Command: `go run ./cmd/bench -scenarios proxy,console`\n\n## proxy: FAILED\n\nnew proxy\n\n## console\n\nnew console\n"
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := os.WriteFile(path, []byte(previous), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, report, analysis); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "# tokenwarden benchmarks\n\n- Command: `go run ./cmd/bench -scenarios proxy,console`\n" + keptNote +
		"\n## burst\n\nold burst\n\n## export\n\nby hand\n\n## proxy: FAILED\n\nnew proxy\n\n## console\n\nnew console\n" + analysis
	if got := string(b); got != want {
		t.Errorf("merged report:\n%s\nwant:\n%s", got, want)
	}

	// A run of every section keeps nothing, and says nothing of it.
	fresh := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := writeReport(fresh, report, analysis); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(fresh); string(b) != report+analysis || strings.Contains(string(b), keptNote) {
		t.Errorf("report without a previous one:\n%s", b)
	}
}
