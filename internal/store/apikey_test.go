package store_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), pgtest.New(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx := t.Context()
	hash := bytes.Repeat([]byte{7}, 32)
	if err := st.CreateAPIKey(ctx, "k1", "ci", hash, []string{"xero-*", "hubspot-acme"}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAPIKey(ctx, "k1", "again", hash, []string{"*"}); err == nil {
		t.Fatal("duplicate id accepted")
	}
	k, err := st.APIKeyByID(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if k.Label != "ci" || !bytes.Equal(k.KeyHash, hash) || len(k.Patterns) != 2 || k.Patterns[0] != "xero-*" ||
		k.LastUsedAt != nil || k.RevokedAt != nil || time.Since(k.CreatedAt) > time.Minute {
		t.Fatalf("got %+v", k)
	}
	if _, err := st.APIKeyByID(ctx, "nope"); !errors.Is(err, store.ErrAPIKeyNotFound) {
		t.Fatalf("unknown id: %v", err)
	}

	if err := st.TouchAPIKey(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	k, _ = st.APIKeyByID(ctx, "k1")
	if k.LastUsedAt == nil {
		t.Fatal("last_used_at not set")
	}
	first := *k.LastUsedAt
	if err := st.TouchAPIKey(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if k, _ = st.APIKeyByID(ctx, "k1"); !k.LastUsedAt.Equal(first) {
		t.Fatal("last_used_at rewritten within the minute")
	}

	if err := st.RevokeAPIKey(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	k, _ = st.APIKeyByID(ctx, "k1")
	if k.RevokedAt == nil {
		t.Fatal("not revoked")
	}
	revokedAt := *k.RevokedAt
	if err := st.RevokeAPIKey(ctx, "k1"); err != nil {
		t.Fatalf("revoking again: %v", err)
	}
	if k, _ = st.APIKeyByID(ctx, "k1"); !k.RevokedAt.Equal(revokedAt) {
		t.Fatal("revoking again moved revoked_at")
	}
	if err := st.RevokeAPIKey(ctx, "nope"); !errors.Is(err, store.ErrAPIKeyNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}

	if err := st.CreateAPIKey(ctx, "k2", "", hash, []string{"*"}); err != nil {
		t.Fatal(err)
	}
	keys, err := st.ListAPIKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].ID != "k1" || keys[1].ID != "k2" {
		t.Fatalf("list: %+v, %v", keys, err)
	}
}

func TestReadyNeedsSchema(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	if err := st.Ready(t.Context()); err != nil {
		t.Fatalf("ready: %v", err)
	}
	if err := st.DB().Exec("DROP TABLE api_keys CASCADE").Error; err != nil {
		t.Fatal(err)
	}
	if err := st.Ready(t.Context()); !store.IsUndefinedTable(err) {
		t.Fatalf("ready without api_keys: %v", err)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	s, err := st.Stats(t.Context(), 5*time.Minute)
	if err != nil || s.Due != 0 || s.SoonestExpiry != nil || s.Connections["active"] != 0 {
		t.Fatalf("empty table: %+v, %v", s, err)
	}
	at := func(d time.Duration) *time.Time { v := time.Now().Add(d); return &v }
	str := func(s string) *string { return &s }
	rows := []store.ImportRow{
		{Name: "due", AccessToken: str("a"), RefreshToken: str("r"), AccessTokenExpires: at(time.Minute)},
		{Name: "later", AccessToken: str("a"), RefreshToken: str("r"), AccessTokenExpires: at(time.Hour)},
		{Name: "backoff", AccessToken: str("a"), RefreshToken: str("r"), AccessTokenExpires: at(-time.Hour)},
		{Name: "claimed", AccessToken: str("a"), RefreshToken: str("r"), AccessTokenExpires: at(-time.Hour)},
		{Name: "static", AccessToken: str("a"), AccessTokenExpires: at(-2 * time.Hour)}, // no refresh token
		{Name: "reauth", AccessToken: str("a"), RefreshToken: str("r"), AccessTokenExpires: at(-3 * time.Hour)},
	}
	if err := st.Import(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"UPDATE oauth_tokens SET next_attempt_at = now() + interval '1 minute' WHERE name = 'backoff'",
		"UPDATE oauth_tokens SET updating = true, updating_until = now() + interval '1 minute' WHERE name = 'claimed'",
		"UPDATE oauth_tokens SET status = 'needs_reauth' WHERE name = 'reauth'",
	} {
		if err := st.DB().Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	s, err = st.Stats(t.Context(), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if s.Due != 1 || s.SoonestExpiry == nil || *s.SoonestExpiry > -59*time.Minute || *s.SoonestExpiry < -61*time.Minute ||
		s.Connections["active"] != 5 || s.Connections["needs_reauth"] != 1 || s.Connections["disabled"] != 0 {
		t.Fatalf("stats: due %d soonest %v connections %v", s.Due, s.SoonestExpiry, s.Connections)
	}
}
