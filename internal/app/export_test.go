package app_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/app"
)

// Export tells its progress the total before the first row (in its own
// snapshot, after the status filter) and the rows written as it goes and
// at the end; with a name filter the total is not known and not told.
// The rows come across page boundaries in name order, each once.
func TestExportReportsProgress(t *testing.T) {
	t.Parallel()
	a, dsn := open(t, map[string]string{}, nil)
	exec(t, dsn, `INSERT INTO oauth_tokens (id, name, token_url, status)
		SELECT gen_random_uuid(), 'p-' || lpad(i::text, 5, '0'), 'https://auth.example.com/token',
		       CASE WHEN i % 4 = 0 THEN 'disabled' ELSE 'active' END
		FROM generate_series(1, 12000) i`)

	for _, tc := range []struct {
		opts  app.ExportOptions
		total int
		done  []int
		n     int
	}{
		{app.ExportOptions{}, 12000, []int{1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000, 12000}, 12000},
		{app.ExportOptions{Status: "disabled"}, 3000, []int{1000, 2000, 3000, 3000}, 3000},
		{app.ExportOptions{Match: func(n string) bool { return strings.HasSuffix(n, "7") }}, 0, []int{1000, 1200}, 1200},
	} {
		rep := &recorder{}
		tc.opts.Progress = rep
		var out strings.Builder
		n, err := a.Export(t.Context(), &out, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if n != tc.n || len(lines) != tc.n || !slices.IsSorted(lines) || rep.total != tc.total || !slices.Equal(rep.done, tc.done) {
			t.Errorf("%+v: %d rows, %d lines (sorted %v), total %d, done %v", tc.opts.Status, n, len(lines), slices.IsSorted(lines), rep.total, rep.done)
		}
	}
}
