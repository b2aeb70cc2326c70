package store_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

func newKeyring(t *testing.T, ids ...string) (*keyring.Keyring, string) {
	t.Helper()
	var parts []string
	for _, id := range ids {
		b := make([]byte, 32)
		rand.Read(b)
		parts = append(parts, id+":"+base64.StdEncoding.EncodeToString(b))
	}
	spec := strings.Join(parts, ",")
	k, err := keyring.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k, spec
}

// raw reads a column as stored, bypassing the keyring.
func raw(t *testing.T, st *store.Store, name, col string) string {
	t.Helper()
	var v *string
	if err := st.DB().Raw("SELECT "+col+" FROM oauth_tokens WHERE name = ?", name).Row().Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v == nil {
		return ""
	}
	return *v
}

func TestSecretsAreSealedAtRest(t *testing.T) {
	t.Parallel()
	plain := setup(t)
	k, _ := newKeyring(t, "k1")
	st := plain.WithKeyring(k)
	ctx := t.Context()
	err := st.Import(ctx, []store.ImportRow{{Name: "a", ClientSecret: ptr("cs-SECRET"), AccessToken: ptr("at-SECRET"),
		RefreshToken: ptr("rt-SECRET"), AccessTokenExpires: ptr(time.Now())}})
	if err != nil {
		t.Fatal(err)
	}
	// The access token is bound to row and column (format v1, which
	// consumers of the first release read); the secrets sent to the token
	// endpoint to the connection's identity too (v2).
	for col, format := range map[string]string{"access_token": "v1", "refresh_token": "v2", "client_secret": "v2"} {
		if v := raw(t, st, "a", col); !strings.HasPrefix(v, keyring.Prefix+format+":k1:") || strings.Contains(v, "SECRET") {
			t.Fatalf("%s stored as %q", col, v)
		}
	}
	row := get(t, st, "a")
	if row.AccessToken.Reveal() != "at-SECRET" || row.RefreshToken.Reveal() != "rt-SECRET" || row.ClientSecret.Reveal() != "cs-SECRET" {
		t.Fatal("sealed secrets do not read back")
	}

	// A refresh stores sealed tokens too.
	claimed, err := st.Claim(ctx, 1, time.Minute, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].UnsealErr != nil || claimed[0].RefreshToken.Reveal() != "rt-SECRET" {
		t.Fatalf("claim: %v %v", err, claimed)
	}
	exp := time.Now().Add(time.Hour)
	if _, err := st.StoreSuccesses(ctx, []store.Success{{ID: claimed[0].ID, ClaimID: *claimed[0].ClaimID, Name: "a",
		AccessToken: "at-NEW-SECRET", RefreshToken: "rt-NEW-SECRET", AccessTokenExpires: &exp}}, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if v := raw(t, st, "a", "refresh_token"); strings.Contains(v, "SECRET") {
		t.Fatalf("refreshed token stored in plaintext: %q", v)
	}
	if got := get(t, st, "a").RefreshToken.Reveal(); got != "rt-NEW-SECRET" {
		t.Fatalf("read %q", got)
	}

	// The sealed token's hash is stored with it, for consumers' Invalidate.
	if got := raw(t, st, "a", "encode(access_token_sha256, 'hex')"); got != sha256Hex("at-NEW-SECRET") {
		t.Fatalf("access_token_sha256 = %q, want the refreshed token's", got)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestCiphertextCopiedToAnotherRowDoesNotOpen(t *testing.T) {
	t.Parallel()
	k, _ := newKeyring(t, "k1")
	st := setup(t).WithKeyring(k)
	for _, n := range []string{"a", "b"} {
		if err := st.Import(t.Context(), []store.ImportRow{{Name: n, RefreshToken: ptr("rt-" + n)}}); err != nil {
			t.Fatal(err)
		}
	}
	exec(t, st, "UPDATE oauth_tokens SET refresh_token = (SELECT refresh_token FROM oauth_tokens WHERE name = 'a') WHERE name = 'b'")
	if _, err := st.Get(t.Context(), "b"); err == nil || !strings.Contains(err.Error(), "another row") {
		t.Fatalf("a ciphertext copied from another row opened: %v", err)
	}
	claimed, err := st.Claim(t.Context(), 10, time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range claimed {
		if (c.Name == "b") != (c.UnsealErr != nil) {
			t.Fatalf("%s: unseal error %v", c.Name, c.UnsealErr)
		}
	}
}

func TestMissingKeyIsReported(t *testing.T) {
	t.Parallel()
	k, _ := newKeyring(t, "k1")
	plain := setup(t)
	if err := plain.WithKeyring(k).Import(t.Context(), []store.ImportRow{{Name: "a", RefreshToken: ptr("rt-a")}}); err != nil {
		t.Fatal(err)
	}
	if ids, err := plain.SealedKeyIDs(t.Context()); err != nil || len(ids) != 1 || ids[0] != "k1" {
		t.Fatalf("key ids %v %v", ids, err)
	}
	if _, err := plain.Get(t.Context(), "a"); !errors.Is(err, keyring.ErrUnknownKey) {
		t.Fatalf("read without the key: %v", err)
	}
	other, _ := newKeyring(t, "k2")
	if _, err := plain.WithKeyring(other).Get(t.Context(), "a"); !errors.Is(err, keyring.ErrUnknownKey) {
		t.Fatalf("read with another key: %v", err)
	}
}

func TestRekeyMovesEveryRowToThePrimaryKey(t *testing.T) {
	t.Parallel()
	plain := setup(t)
	ctx := t.Context()
	// Rows from before encryption, and rows under an old key.
	if err := plain.Import(ctx, []store.ImportRow{{Name: "legacy", RefreshToken: ptr("rt-legacy"), ClientSecret: ptr("cs-legacy")}}); err != nil {
		t.Fatal(err)
	}
	old, oldSpec := newKeyring(t, "old")
	if err := plain.WithKeyring(old).Import(ctx, []store.ImportRow{{Name: "sealed", RefreshToken: ptr("rt-sealed"), AccessToken: ptr("at-sealed")}}); err != nil {
		t.Fatal(err)
	}
	_, newSpec := newKeyring(t, "new")
	both := rotated(t, newSpec, oldSpec)
	st := plain.WithKeyring(both)
	res, err := st.Rekey(ctx, false, nil)
	if err != nil || res.Resealed != 2 {
		t.Fatalf("rekey rewrote %d rows (%v), want 2", res.Resealed, err)
	}
	if ids, _ := st.SealedKeyIDs(ctx); len(ids) != 1 || ids[0] != "new" {
		t.Fatalf("keys in use after rekey: %v", ids)
	}
	if got := get(t, st, "legacy").ClientSecret.Reveal(); got != "cs-legacy" {
		t.Fatalf("legacy secret after rekey: %q", got)
	}
	if got := get(t, st, "sealed").RefreshToken.Reveal(); got != "rt-sealed" {
		t.Fatalf("sealed token after rekey: %q", got)
	}
	newOnly, _ := keyring.Parse(newSpec)
	if _, err := plain.WithKeyring(newOnly).Get(ctx, "sealed"); err != nil {
		t.Fatalf("the old key is still needed after rekey: %v", err)
	}
	if res, err := st.Rekey(ctx, false, nil); err != nil || res.Resealed != 0 {
		t.Fatalf("second rekey rewrote %d (%v), want 0", res.Resealed, err)
	}
}

// Consumers invalidate a token by its SHA-256 (pkg/tokens), so every stored
// access token has its hash: the store writes it with the tokens it seals,
// and the trigger with plaintext ones (an operator's SQL included).
func TestAccessTokenHashIsStored(t *testing.T) {
	t.Parallel()
	k, _ := newKeyring(t, "k1")
	st := setup(t).WithKeyring(k)
	ctx := t.Context()
	for _, n := range []string{"sealed", "operator"} {
		if err := st.Import(ctx, []store.ImportRow{{Name: n, AccessToken: ptr("at-" + n), RefreshToken: ptr("rt-" + n), AccessTokenExpires: ptr(time.Now().Add(time.Hour))}}); err != nil {
			t.Fatal(err)
		}
	}
	exec(t, st, "UPDATE oauth_tokens SET access_token = 'at-typed-by-hand' WHERE name = 'operator'")
	for name, plain := range map[string]string{"sealed": "at-sealed", "operator": "at-typed-by-hand"} {
		if got := raw(t, st, name, "encode(access_token_sha256, 'hex')"); got != sha256Hex(plain) {
			t.Errorf("%s: access_token_sha256 = %q, want the token's", name, got)
		}
	}
}

// An import that changes where a connection's secrets go while a refresh
// of it is in flight is refused: the refresh's result would be sealed for
// the old identity. Once the result is stored, the same import re-seals.
func TestImportWaitsForARefreshInFlight(t *testing.T) {
	t.Parallel()
	k, _ := newKeyring(t, "k1")
	st := setup(t).WithKeyring(k)
	ctx := t.Context()
	if err := st.Import(ctx, []store.ImportRow{{Name: "a", TokenURL: ptr("https://old.example/token"),
		ClientSecret: ptr("cs-SECRET"), RefreshToken: ptr("rt-SECRET")}}); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.Claim(ctx, 1, time.Minute, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].UnsealErr != nil {
		t.Fatalf("claim: %v %v", err, claimed)
	}
	moved := []store.ImportRow{{Name: "a", TokenURL: ptr("https://new.example/token")}}
	if err := st.Import(ctx, moved); err == nil || !strings.Contains(err.Error(), "in flight") {
		t.Fatalf("import of a new token_url during a refresh: %v", err)
	}
	c := claimed[0]
	exp := time.Now().Add(time.Hour)
	if _, err := st.StoreSuccesses(ctx, []store.Success{{ID: c.ID, ClaimID: *c.ClaimID, Name: "a", AccessToken: "at-SECRET",
		RefreshToken: "rt-NEW-SECRET", AccessTokenExpires: &exp, Identity: store.IdentityOf(&c.OAuthToken)}}, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.Import(ctx, moved); err != nil {
		t.Fatal(err)
	}
	row := get(t, st, "a")
	if *row.TokenURL != "https://new.example/token" || row.RefreshToken.Reveal() != "rt-NEW-SECRET" || row.ClientSecret.Reveal() != "cs-SECRET" {
		t.Fatalf("after the import: %s %q %q", *row.TokenURL, row.RefreshToken.Reveal(), row.ClientSecret.Reveal())
	}
}

// A refresh result spooled by the release before identities were carried
// is sealed for the row's identity when it is stored.
func TestResultWithoutIdentityIsSealedForTheRow(t *testing.T) {
	t.Parallel()
	k, _ := newKeyring(t, "k1")
	st := setup(t).WithKeyring(k)
	ctx := t.Context()
	if err := st.Import(ctx, []store.ImportRow{{Name: "a", TokenURL: ptr("https://auth.example/token"), ClientID: ptr("cid"),
		Params: ptr(`{"tenant": "x", "n": 1.0}`), RefreshToken: ptr("rt-SECRET")}}); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.Claim(ctx, 1, time.Minute, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].UnsealErr != nil {
		t.Fatalf("claim: %v %v", err, claimed)
	}
	exp := time.Now().Add(time.Hour)
	if _, err := st.StoreSuccesses(ctx, []store.Success{{ID: claimed[0].ID, ClaimID: *claimed[0].ClaimID, Name: "a",
		AccessToken: "at-SECRET", RefreshToken: "rt-NEW-SECRET", AccessTokenExpires: &exp}}, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := get(t, st, "a").RefreshToken.Reveal(); got != "rt-NEW-SECRET" {
		t.Fatalf("read %q", got)
	}
}

// A key recorded before check values existed is checked by opening the
// values sealed under it: wrong bytes are refused and record nothing, the
// right ones record the check value, which decides from then on.
func TestKeyCheckValueTrustOnFirstUse(t *testing.T) {
	t.Parallel()
	plain := setup(t)
	right, spec := newKeyring(t, "k1")
	wrong, _ := newKeyring(t, "k1")
	ctx := t.Context()
	if err := plain.WithKeyring(right).Import(ctx, []store.ImportRow{{Name: "a", RefreshToken: ptr("rt-SECRET")}}); err != nil {
		t.Fatal(err)
	}
	check := func() *string {
		var v *string
		if err := plain.DB().Raw("SELECT check_value FROM oauth_token_keys WHERE key_id = 'k1'").Row().Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if check() == nil {
		t.Fatal("the first seal under k1 recorded no check value")
	}
	exec(t, plain, "UPDATE oauth_token_keys SET check_value = NULL")
	if err := plain.WithKeyring(wrong).CheckKeys(ctx); err == nil || !strings.Contains(err.Error(), `key "k1"`) {
		t.Fatalf("wrong bytes, no check value: %v", err)
	}
	if check() != nil {
		t.Fatal("wrong bytes recorded a check value")
	}
	again, _ := keyring.Parse(spec)
	if err := plain.WithKeyring(again).CheckKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if check() == nil {
		t.Fatal("the right bytes did not record their check value")
	}
	// Now the check value alone refuses the wrong bytes, even with no
	// value left to open.
	exec(t, plain, "DELETE FROM oauth_tokens")
	if _, err := plain.WithKeyring(wrong).Claim(ctx, 1, time.Minute, time.Minute); err == nil || !strings.Contains(err.Error(), "different bytes") {
		t.Fatalf("claim with wrong bytes: %v", err)
	}
}

// SealResults seals every token of a batch of results with the binding it
// is given, salvaged refresh tokens included, leaves the batch it was
// handed as it was, and OpenResults opens what it sealed; a value sealed
// for the identity the result carries does not open for the row alone.
func TestSealResultsAndOpenResults(t *testing.T) {
	t.Parallel()
	k, _ := newKeyring(t, "k1")
	ident := &store.Identity{Provider: "xero", ClientID: "cid"}
	bind := func(id uuid.UUID, ident *store.Identity, col string) keyring.Binding {
		return keyring.AAD(id.String(), col, keyring.Field{Name: "provider", Value: ident.Provider})
	}
	successes := []store.Success{{ID: uuid.New(), AccessToken: "at-SECRET", RefreshToken: "rt-SECRET", Identity: ident}}
	failures := []store.Failure{{ID: uuid.New(), RefreshToken: "rt-SALVAGED", Identity: ident}, {ID: uuid.New(), LastError: "HTTP 500"}}

	sealedS, sealedF, err := store.SealResults(k, bind, successes, failures)
	if err != nil {
		t.Fatal(err)
	}
	if successes[0].AccessToken != "at-SECRET" || failures[0].RefreshToken != "rt-SALVAGED" {
		t.Fatal("SealResults changed the batch it was handed")
	}
	for _, v := range []string{sealedS[0].AccessToken, sealedS[0].RefreshToken, sealedF[0].RefreshToken} {
		if !strings.HasPrefix(v, keyring.Prefix) || strings.Contains(v, "SECRET") || strings.Contains(v, "SALVAGED") {
			t.Fatalf("not sealed: %q", v)
		}
	}
	if sealedF[1].RefreshToken != "" {
		t.Fatalf("a failure without a salvaged token got %q", sealedF[1].RefreshToken)
	}
	if _, err := k.Open(sealedS[0].RefreshToken, store.RowBinding(sealedS[0].ID, nil, "refresh_token")); err == nil {
		t.Fatal("a token sealed for the identity opens for the row alone")
	}
	if err := store.OpenResults(k, bind, sealedS, sealedF); err != nil {
		t.Fatal(err)
	}
	if sealedS[0].AccessToken != "at-SECRET" || sealedS[0].RefreshToken != "rt-SECRET" || sealedF[0].RefreshToken != "rt-SALVAGED" {
		t.Fatalf("opened: %+v %+v", sealedS[0], sealedF[0])
	}
	// Opened with the wrong binding, the error says so without the value.
	again, _, _ := store.SealResults(k, bind, successes, nil)
	err = store.OpenResults(k, store.RowBinding, again, nil)
	if !errors.Is(err, keyring.ErrMismatch) || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("open with the wrong binding: %v", err)
	}
}
