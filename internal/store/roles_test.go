package store_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// The consumer role reads access tokens and asks for refreshes, but can
// neither read refresh tokens or client secrets nor change a row.
func TestConsumerRoleIsLeastPrivilege(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	admin, err := store.Open(t.Context(), dsn, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx := t.Context()
	if err := admin.ApplyRoles(ctx); err != nil {
		t.Fatal(err)
	}
	insert(t, admin, "a", time.Hour)

	// Roles are cluster-wide: a login role of this test's own.
	login := "tw_consumer_" + strings.ReplaceAll(strings.TrimPrefix(mustDB(t, dsn), "tw_test_"), "-", "")
	exec(t, admin, fmt.Sprintf("CREATE ROLE %s LOGIN IN ROLE tokenwarden_consumer", login))
	t.Cleanup(func() {
		admin2, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			admin2.Exec(context.Background(), "DROP OWNED BY "+login)
			admin2.Close(context.Background())
		}
		// The role is dropped after the database; ignore a failure here.
		c, err := pgx.Connect(context.Background(), pgtest.WithDatabase(dsn, "postgres"))
		if err == nil {
			defer c.Close(context.Background())
			c.Exec(context.Background(), "DROP ROLE IF EXISTS "+login)
		}
	})
	u, _ := url.Parse(dsn)
	u.User = url.User(login)
	consumer, err := store.Open(ctx, u.String(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()

	// What pkg/tokens does (its TestReady runs its own statements so).
	var token, outcome string
	var refreshable bool
	if err := consumer.DB().Raw("SELECT access_token, has_refresh_token FROM oauth_tokens WHERE name = 'a'").Row().Scan(&token, &refreshable); err != nil ||
		token != "at-a" || !refreshable {
		t.Fatalf("consumer read: %v", err)
	}
	if err := consumer.DB().Exec("SELECT tokenwarden_request_refresh('a')").Error; err != nil {
		t.Fatalf("request refresh: %v", err)
	}
	if err := consumer.DB().Raw("SELECT tokenwarden_invalidate_hash('a', sha256('at-a'))").Row().Scan(&outcome); err != nil || outcome != "marked" {
		t.Fatalf("invalidate as consumer: %q %v", outcome, err)
	}
	for _, q := range []string{
		"SELECT refresh_token FROM oauth_tokens",
		"SELECT client_secret FROM oauth_tokens",
		"UPDATE oauth_tokens SET access_token = 'x'",
		"DELETE FROM oauth_tokens",
		"INSERT INTO oauth_tokens (id, name) VALUES (gen_random_uuid(), 'evil')",
	} {
		if err := consumer.DB().Exec(q).Error; err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s: %v, want permission denied", q, err)
		}
	}
}

func mustDB(t *testing.T, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}
