package app_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/connfile"
	"github.com/tokenwarden/tokenwarden/internal/provider"
)

// recorder is a progress.Reporter that keeps what it is told.
type recorder struct {
	total int
	done  []int
}

func (r *recorder) SetTotal(total int) { r.total = total }
func (r *recorder) Set(done int)       { r.done = append(r.done, done) }
func (r *recorder) Finish()            {}

// Import and rekey report their progress to the reporter they are handed:
// import the records written as it goes, rekey the rows to visit and the
// rows visited.
func TestImportAndRekeyReportProgress(t *testing.T) {
	t.Parallel()
	a, _ := open(t, map[string]string{"TOKENS_ENCRYPTION_KEYS": "k1:" + strings.Repeat("A", 43) + "="}, nil)
	var file strings.Builder
	for i := range 12000 {
		fmt.Fprintf(&file, `{"name":"p-%d","token_url":"https://auth.example.com/token","refresh_token":"rt-%d"}`+"\n", i, i)
	}
	rd := connfile.NewReader(strings.NewReader(file.String()), provider.NewCatalogue(), time.Now())
	imp := &recorder{}
	n, err := a.Import(t.Context(), rd.Next, app.ImportOptions{Progress: imp})
	if err != nil || n != 12000 {
		t.Fatalf("import: %d, %v", n, err)
	}
	if !slices.Equal(imp.done, []int{5000, 10000, 12000}) {
		t.Fatalf("import reported %v", imp.done)
	}
	rk := &recorder{}
	if _, _, err := a.Rekey(t.Context(), false, rk); err != nil {
		t.Fatal(err)
	}
	if rk.total != 12000 || rk.done[0] != 0 || rk.done[len(rk.done)-1] != 12000 || !slices.IsSorted(rk.done) {
		t.Fatalf("rekey reported %d rows to visit, then %v", rk.total, rk.done)
	}
}
