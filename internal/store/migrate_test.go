package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/store"
	twsql "github.com/tokenwarden/tokenwarden/sql"
)

// openEmpty returns a Store on a database of its own without any schema.
func openEmpty(t *testing.T) (*store.Store, string) {
	t.Helper()
	dsn := pgtest.NewEmpty(t)
	st, err := store.Open(t.Context(), dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dsn
}

// execFile runs a file of SQL statements on the database at dsn.
func execFile(t *testing.T, dsn, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatal(err)
	}
}

// The migrations, run in order on an empty database, build exactly the
// schema sql/schema.sql describes: the catalogs' dumps (tables, columns,
// defaults, constraints, indexes, functions' text, triggers) are equal,
// goose's version table aside.
func TestMigrationsBuildSchemaSQL(t *testing.T) {
	t.Parallel()
	migrated, migratedDSN := openEmpty(t)
	if _, err := migrated.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	freshDSN := pgtest.NewEmpty(t)
	execFile(t, freshDSN, twsql.Schema)
	want := pgtest.DumpSchema(t, freshDSN)
	got := pgtest.DumpSchema(t, migratedDSN, "goose_db_version")
	if got != want {
		t.Fatalf("the migrations do not build sql/schema.sql:\n%s", lineDiff(want, got))
	}
}

// lineDiff lists, in order, the lines only in want (-) or only in got
// (+), by a longest common subsequence of the two dumps' lines.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	// lcs[i][j]: length of the longest common subsequence of w[i:], g[j:].
	lcs := make([][]int, len(w)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(g)+1)
	}
	for i := len(w) - 1; i >= 0; i-- {
		for j := len(g) - 1; j >= 0; j-- {
			if w[i] == g[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(w) || j < len(g) {
		switch {
		case i < len(w) && j < len(g) && w[i] == g[j]:
			i, j = i+1, j+1
		case j < len(g) && (i == len(w) || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, "+ migrations: "+g[j])
			j++
		default:
			out = append(out, "- schema.sql: "+w[i])
			i++
		}
	}
	return strings.Join(out, "\n")
}

// Migrate applies what is pending and reports it; a second run applies
// nothing; the status lists every migration as applied, in order.
func TestMigrateRecordsWhatItApplied(t *testing.T) {
	t.Parallel()
	st, _ := openEmpty(t)
	ctx := t.Context()
	before, err := st.MigrationStatus(ctx)
	if err != nil || len(before) < 2 {
		t.Fatalf("status before: %v %v", before, err)
	}
	for i, m := range before {
		if m.Applied() || m.Version != int64(i+1) {
			t.Fatalf("before migrating, migration %d: %+v", i, m)
		}
	}
	if before[0].String() != "00001_release_0afbbf5" {
		t.Errorf("first migration %q", before[0])
	}
	applied, err := st.Migrate(ctx)
	if err != nil || len(applied) != len(before) {
		t.Fatalf("applied %v (%v), want all %d", applied, err, len(before))
	}
	again, err := st.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate applied %v (%v)", again, err)
	}
	after, err := st.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range after {
		if !m.Applied() || m.String() != applied[i].String() {
			t.Errorf("after migrating, migration %d: %+v", i, m)
		}
	}
}
