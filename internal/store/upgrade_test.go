package store_test

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

// release0afbbf5 is sql/schema.sql as the last release before versioned
// migrations shipped it (commit 0afbbf5), which its `worker migrate`
// applied on every deploy.
//
//go:embed testdata/schema_0afbbf5.sql
var release0afbbf5 string

// oldRow is a connection as release 0afbbf5 wrote it.
type oldRow struct {
	name string
	// sealed: the secrets in that release's format, twenc:v1 bound to row
	// and column only; else plaintext.
	sealed bool
	// unhashed: no access_token_sha256, as for a row written before that
	// column existed.
	unhashed bool
	status   string
}

// writeOld inserts r as release 0afbbf5 did: plaintext hashed by its
// trigger, sealed tokens with the hash its store computed (or none).
func writeOld(t *testing.T, conn *pgx.Conn, k *keyring.Keyring, r oldRow) {
	t.Helper()
	id := uuid.New()
	at, rt, cs := "at-"+r.name, "rt-"+r.name, "cs-"+r.name
	var sum []byte
	if r.sealed {
		s := sha256.Sum256([]byte(at))
		sum = s[:]
		seal := func(col, v string) string {
			out, err := k.Seal(v, keyring.AAD(id.String(), col))
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		at, rt, cs = seal("access_token", at), seal("refresh_token", rt), seal("client_secret", cs)
	}
	_, err := conn.Exec(t.Context(), `INSERT INTO oauth_tokens
		(id, name, token_url, client_id, client_secret, access_token, access_token_sha256, refresh_token, access_token_expires, status)
		VALUES ($1, $2, 'https://auth.example.com/token', 'cid', $3, $4, $5, $6, now() + interval '1 hour', $7)`,
		id, r.name, cs, at, sum, rt, r.status)
	if err != nil {
		t.Fatal(err)
	}
	if r.unhashed {
		if _, err := conn.Exec(t.Context(), `UPDATE oauth_tokens SET access_token_sha256 = NULL WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
}

// A database at the last release's schema, holding plaintext and sealed
// rows with and without the access token's hash, is migrated: every secret
// still opens (store.Get, and pkg/tokens' Get with the keys), Invalidate
// works on every row by hash alone, and a sealed token the release never
// hashed is made due, so that its refresh stores one with a hash.
func TestUpgradeFromRelease0afbbf5(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	k, spec := newKeyring(t, "k1")
	dsn := pgtest.NewEmpty(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, release0afbbf5); err != nil {
		t.Fatal(err)
	}
	old := []oldRow{
		{name: "plain", status: "active"},
		{name: "plain-unhashed", unhashed: true, status: "active"},
		{name: "sealed", sealed: true, status: "active"},
		{name: "sealed-unhashed", sealed: true, unhashed: true, status: "active"},
		{name: "sealed-unhashed-reauth", sealed: true, unhashed: true, status: "needs_reauth"},
	}
	for _, r := range old {
		writeOld(t, conn, k, r)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO oauth_token_keys (key_id) VALUES ('k1')`); err != nil {
		t.Fatal(err)
	}

	plain, err := store.Open(ctx, dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	applied, err := plain.Migrate(ctx)
	if err != nil || len(applied) < 4 {
		t.Fatalf("migrate applied %v: %v", applied, err)
	}
	st := plain.WithKeyring(k)

	for _, r := range old {
		row, err := st.Get(ctx, r.name)
		if err != nil {
			t.Fatalf("%s after the upgrade: %v", r.name, err)
		}
		if row.AccessToken.Reveal() != "at-"+r.name || row.RefreshToken.Reveal() != "rt-"+r.name || row.ClientSecret.Reveal() != "cs-"+r.name {
			t.Errorf("%s after the upgrade: access %q refresh %q secret %q", r.name, row.AccessToken.Reveal(), row.RefreshToken.Reveal(), row.ClientSecret.Reveal())
		}
	}

	keys, err := tokens.ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	client, err := tokens.Open(ctx, dsn, &tokens.Options{EncryptionKeys: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, name := range []string{"plain", "plain-unhashed", "sealed"} {
		tok, err := client.Get(ctx, name)
		if err != nil || tok.AccessToken != "at-"+name {
			t.Errorf("tokens.Get(%s) after the upgrade: %v", name, err)
		}
	}

	// The sealed token without a hash is due now; nothing else is.
	claimed, err := st.Claim(ctx, 10, time.Minute, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].Name != "sealed-unhashed" || claimed[0].UnsealErr != nil {
		t.Fatalf("claimed %v (%v), want only sealed-unhashed, opened", names(claimed), err)
	}
	c := claimed[0]
	if c.RefreshToken.Reveal() != "rt-sealed-unhashed" {
		t.Fatalf("claimed refresh token %q", c.RefreshToken.Reveal())
	}
	exp := time.Now().Add(time.Hour)
	if _, err := st.StoreSuccesses(ctx, []store.Success{{ID: c.ID, ClaimID: *c.ClaimID, Name: c.Name,
		AccessToken: "at-new", AccessTokenExpires: &exp, Identity: store.IdentityOf(&c.OAuthToken)}}, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if tok, err := client.Get(ctx, "sealed-unhashed"); err != nil || tok.AccessToken != "at-new" {
		t.Errorf("tokens.Get(sealed-unhashed) after its refresh: %v", err)
	}

	// One Invalidate, by hash, for every refreshable row.
	due := func(name string) bool {
		var d bool
		if err := conn.QueryRow(ctx, `SELECT COALESCE(access_token_expires <= now(), false) FROM oauth_tokens WHERE name = $1`, name).Scan(&d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	for name, stale := range map[string]string{"plain": "at-plain", "plain-unhashed": "at-plain-unhashed",
		"sealed": "at-sealed", "sealed-unhashed": "at-new"} {
		if err := client.Invalidate(ctx, name, "not-"+stale); err != nil || due(name) {
			t.Errorf("%s: a foreign token marked the row (%v)", name, err)
		}
		if err := client.Invalidate(ctx, name, stale); err != nil || !due(name) {
			t.Errorf("%s: Invalidate did not mark the row (%v)", name, err)
		}
	}
	var unhashed int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM oauth_tokens WHERE access_token IS NOT NULL
		AND access_token_sha256 IS NULL AND status = 'active'`).Scan(&unhashed); err != nil || unhashed != 0 {
		t.Errorf("%d active rows left without a hash (%v)", unhashed, err)
	}
}
