package tokens

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// asRole opens a pool on dsn whose connections all act as role.
func asRole(t *testing.T, dsn, role string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["role"] = role
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	return db
}

// Ready says whether the client can work: yes as the consumer role of
// sql/roles.sql, whose grants are all the client's statements need; no,
// saying why, when a grant or the schema is missing.
func TestReady(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{})
	ctx := t.Context()
	if err := e.c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if err := e.st.ApplyRoles(ctx); err != nil {
		t.Fatal(err)
	}
	e.insert(t, "a", time.Hour)
	e.insert(t, "expired", -time.Minute)
	c, err := Open(ctx, "", &Options{DB: asRole(t, e.dsn, "tokenwarden_consumer"), PollOnly: true, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready as the consumer role: %v", err)
	}
	// Everything the client does, as the consumer role.
	if tok := get(t, c, "a"); tok.AccessToken != "at-a" {
		t.Fatalf("Get as the consumer role: %+v", tok)
	}
	if err := c.Invalidate(ctx, "a", "at-a"); err != nil {
		t.Fatalf("Invalidate as the consumer role: %v", err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.Get(waitCtx, "expired"); !strings.Contains(err.Error(), "gave up waiting for a refresh") {
		t.Fatalf("Get of an expired token as the consumer role (asks for a refresh): %v", err)
	}

	for _, tc := range []struct{ sql, want string }{
		{"REVOKE EXECUTE ON FUNCTION tokenwarden_request_refresh(text) FROM tokenwarden_consumer", "may not call"},
		{"REVOKE SELECT (json_data) ON oauth_tokens FROM tokenwarden_consumer", "lacks tokenwarden_consumer's grants"},
	} {
		e.exec(t, tc.sql)
		if err := c.Ready(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("after %s, Ready = %v; want %q", tc.sql, err, tc.want)
		}
	}
	e.exec(t, "DROP TABLE oauth_tokens CASCADE")
	if err := e.c.Ready(ctx); err == nil || !strings.Contains(err.Error(), "schema is not applied") {
		t.Fatalf("Ready without the table: %v", err)
	}
}
