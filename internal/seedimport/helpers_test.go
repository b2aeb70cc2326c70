package seedimport_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/internal/connfile"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/seedimport"
)

// opts parses an importer's flags as `worker import` does.
func opts(t *testing.T, args ...string) *seedimport.Options {
	t.Helper()
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	o := seedimport.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

// mock starts a mock token endpoint.
func mock(t *testing.T, o mockprovider.Options) (*mockprovider.Server, string) {
	t.Helper()
	mp := mockprovider.New(o)
	srv := httptest.NewServer(mp)
	t.Cleanup(srv.Close)
	return mp, srv.URL + "/token"
}

// migrated opens a worker on a new database, imports what the importer
// from reads through the same reader and Import as `worker import`, runs
// one pass of the worker, and returns the database.
func migrated(t *testing.T, from string, o *seedimport.Options, want int) string {
	t.Helper()
	dsn := pgtest.New(t)
	cfg, err := config.LoadFrom(map[string]string{"DATABASE_URL": dsn})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	in, err := o.Open(t.Context(), from)
	if err != nil {
		t.Fatal(err)
	}
	rd := connfile.NewReader(in, provider.NewCatalogue(), time.Now())
	n, err := a.Import(t.Context(), rd.Next, app.ImportOptions{})
	if err != nil || n != want {
		t.Fatalf("import --from %s: %d connection(s), %v; want %d", from, n, err, want)
	}
	if _, err := a.Once(t.Context()); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// row is what a test checks of a migrated connection.
type row struct {
	provider, status     string
	accessToken, refresh string
	version              int
	params               string
}

func getRow(t *testing.T, dsn, name string) row {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var r row
	err = c.QueryRow(ctx, `SELECT coalesce(provider, ''), status, coalesce(access_token, ''), coalesce(refresh_token, ''), version, coalesce(params::text, '')
		FROM oauth_tokens WHERE name = $1`, name).Scan(&r.provider, &r.status, &r.accessToken, &r.refresh, &r.version, &r.params)
	if err != nil {
		t.Fatalf("row %s: %v", name, err)
	}
	return r
}

// refreshed checks that the connection holds what the mock issued for
// the refresh token it was migrated with.
func refreshed(t *testing.T, mp *mockprovider.Server, dsn, name, rt string) row {
	t.Helper()
	iss, ok := mp.Issued(rt)
	if !ok {
		t.Fatalf("%s was not refreshed on the next pass", name)
	}
	r := getRow(t, dsn, name)
	if r.accessToken != iss.AccessToken || r.refresh != iss.RefreshToken || r.status != "active" || r.version != 1 {
		t.Fatalf("%s after the pass: status %s version %d, tokens match: %v %v", name, r.status, r.version,
			r.accessToken == iss.AccessToken, r.refresh == iss.RefreshToken)
	}
	return r
}

// noSecret fails if err quotes a secret of the fixtures.
func noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("error quotes a secret")
	}
}

// seedDB returns a database holding the seed's table, built by the SQL
// fixture file.
func seedDB(t *testing.T, fixture string) string {
	t.Helper()
	dsn := pgtest.New(t)
	sql, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	pgxExec(t, dsn, string(sql))
	return dsn
}

// pgxExec runs sql on dsn.
func pgxExec(t *testing.T, dsn, sql string) {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(t.Context(), sql); err != nil {
		t.Fatal(err)
	}
}
