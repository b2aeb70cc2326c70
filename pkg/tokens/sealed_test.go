package tokens

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// An access token sealed by the release before bindings (twenc:v1), under
// key "old" (bytes 0 to 31), for the row with id sealedV1ID.
const (
	sealedV1Key = "old:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	sealedV1ID  = "0190f1b2-7c3e-7000-8000-000000000001"
	sealedV1    = "twenc:v1:old:0/p5lYQRAHD6d+3OLOJtifWX3Fo9miR9TTB1BnfCSOIaRUXGi6wXgQ"
)

// A consumer reads the access tokens of rows written by either release:
// one sealed by the previous release, and one sealed by this one, whose
// refresh token and client secret are bound to the connection's identity
// (twenc:v2) while its access token is bound only to what a consumer reads,
// its row and column, in the format the previous release's consumers read
// too (twenc:v1).
func TestConsumerReadsBothSealedFormats(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	ctx := t.Context()
	keys, err := keyring.Parse(sealedV1Key)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := store.Open(ctx, dsn, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	if err := plain.DB().Exec(`INSERT INTO oauth_tokens (id, name, token_url, access_token, refresh_token, access_token_expires)
		VALUES (?, 'v1', 'https://auth.example/token', ?, 'rt-plain', now() + interval '1 hour')`, sealedV1ID, sealedV1).Error; err != nil {
		t.Fatal(err)
	}
	err = plain.WithKeyring(keys).Import(ctx, []store.ImportRow{{Name: "v2", TokenURL: ptr("https://auth.example/token"),
		ClientID: ptr("cid"), ClientSecret: ptr("cs-SECRET"), AccessToken: ptr("at-v2-SECRET"), RefreshToken: ptr("rt-SECRET"),
		AccessTokenExpires: ptr(time.Now().Add(time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	var at, rt string
	if err := plain.DB().Raw(`SELECT access_token, refresh_token FROM oauth_tokens WHERE name = 'v2'`).Row().Scan(&at, &rt); err != nil ||
		!strings.HasPrefix(at, "twenc:v1:old:") || !strings.HasPrefix(rt, "twenc:v2:old:") {
		t.Fatalf("stored as %.14s... and %.14s... (%v)", at, rt, err)
	}

	consumerKeys, err := ParseKeys(sealedV1Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, dsn, &Options{EncryptionKeys: consumerKeys, PollInterval: time.Hour, WaitTimeout: time.Minute, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for name, want := range map[string]string{"v1": "at-v1-SECRET", "v2": "at-v2-SECRET"} {
		getCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		tok, err := c.Get(getCtx, name)
		cancel()
		if err != nil || tok.AccessToken != want {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if err := c.Invalidate(ctx, "v2", "at-v2-SECRET"); err != nil {
		t.Fatal(err)
	}
	var due bool
	if err := plain.DB().Raw(`SELECT access_token_expires <= now() FROM oauth_tokens WHERE name = 'v2'`).Row().Scan(&due); err != nil || !due {
		t.Fatalf("Invalidate of a v2-sealed token did not make it due (%v)", err)
	}
}
