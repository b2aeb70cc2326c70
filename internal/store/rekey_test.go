package store_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// rawAuthorization reads a sealed column of the authorization created
// under state, bypassing the keyring.
func rawAuthorization(t *testing.T, st *store.Store, state, col string) string {
	t.Helper()
	var v string
	if err := st.DB().Raw("SELECT "+col+" FROM oauth_authorizations WHERE state_hash = ?", sum(state)).Row().Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// rotated is the keyring of a rotation: the new key first, the old one
// still read.
func rotated(t *testing.T, newSpec, oldSpec string) *keyring.Keyring {
	t.Helper()
	both, err := keyring.Parse(newSpec + "," + oldSpec)
	if err != nil {
		t.Fatal(err)
	}
	return both
}

func keyIDs(t *testing.T, st *store.Store) []string {
	t.Helper()
	ids, err := st.SealedKeyIDs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// A flow begun on the consent page under a key that is then retired
// completes: rekey re-seals its verifier and client secret under the new
// key, and the old key is no longer needed.
func TestRekeyResealsPendingAuthorizations(t *testing.T) {
	t.Parallel()
	plain := setup(t)
	ctx := t.Context()
	k1, k1Spec := newKeyring(t, "k1")
	before := plain.WithKeyring(k1)
	a := &store.Authorization{Name: "new-conn", RedirectURI: "https://tw.example/oauth/callback",
		Verifier: "verifier-SECRET", ClientSecret: "cs-SECRET"}
	if err := before.CreateAuthorization(ctx, sum("live"), a, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	// An expired flow can never complete: it is neither re-sealed nor
	// keeps its key in use.
	if err := before.CreateAuthorization(ctx, sum("expired"), &store.Authorization{Name: "old", RedirectURI: "r", Verifier: "v"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	exec(t, plain, "UPDATE oauth_authorizations SET expires_at = now() - interval '1 second' WHERE state_hash = ?", sum("expired"))

	_, k2Spec := newKeyring(t, "k2")
	both := rotated(t, k2Spec, k1Spec)
	res, err := plain.WithKeyring(both).Rekey(ctx, false, nil)
	if err != nil || res.Authorizations != 1 {
		t.Fatalf("rekey re-sealed %d pending authorizations (%v), want 1", res.Authorizations, err)
	}
	for _, col := range []string{"verifier", "client_secret"} {
		if id := keyring.KeyID(rawAuthorization(t, plain, "live", col)); id != "k2" {
			t.Fatalf("%s sealed under %q after the rekey, want k2", col, id)
		}
	}
	if ids := keyIDs(t, plain); !slices.Equal(ids, []string{"k2"}) {
		t.Fatalf("keys in use after the rekey: %v, want [k2]", ids)
	}

	k2, err := keyring.Parse(k2Spec)
	if err != nil {
		t.Fatal(err)
	}
	after := plain.WithKeyring(k2)
	if err := after.CheckKeys(ctx); err != nil {
		t.Fatalf("start-up check with k1 retired: %v", err)
	}
	got, err := after.ConsumeAuthorization(ctx, sum("live"))
	if err != nil {
		t.Fatalf("the flow did not open with only k2: %v", err)
	}
	if got.Verifier != "verifier-SECRET" || got.ClientSecret != "cs-SECRET" {
		t.Fatal("the flow's secrets changed in the rekey")
	}
}

// Trimming the recorded keys keeps every key a pending authorization that
// can still complete is sealed under, so the start-up check keeps asking
// for it; once the flow is used, the key goes.
func TestTrimKeepsTheKeysOfPendingAuthorizations(t *testing.T) {
	t.Parallel()
	plain := setup(t)
	ctx := t.Context()
	k1, k1Spec := newKeyring(t, "k1")
	if err := plain.WithKeyring(k1).CreateAuthorization(ctx, sum("live"), &store.Authorization{Name: "a", RedirectURI: "r", Verifier: "v-SECRET"}, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	_, k2Spec := newKeyring(t, "k2")
	both := rotated(t, k2Spec, k1Spec)
	st := plain.WithKeyring(both)
	if err := st.Import(ctx, []store.ImportRow{{Name: "conn", RefreshToken: ptr("rt-SECRET")}}); err != nil {
		t.Fatal(err)
	}
	if err := st.TrimKeys(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ids := keyIDs(t, plain); !slices.Equal(ids, []string{"k1", "k2"}) {
		t.Fatalf("keys recorded after the trim: %v, want k1 (the flow's) and k2", ids)
	}
	k2, _ := keyring.Parse(k2Spec)
	if err := plain.WithKeyring(k2).CheckKeys(ctx); err == nil || !strings.Contains(err.Error(), `"k1"`) {
		t.Fatalf("start-up check without the flow's key: %v", err)
	}

	if _, err := st.ConsumeAuthorization(ctx, sum("live")); err != nil {
		t.Fatal(err)
	}
	if err := st.TrimKeys(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ids := keyIDs(t, plain); !slices.Equal(ids, []string{"k2"}) {
		t.Fatalf("keys recorded once the flow is used: %v, want [k2]", ids)
	}
}

// A pending authorization sealed under a lost key is named by rekey, and
// with --skip-unreadable deleted (it could never complete), so that the
// key can be retired.
func TestRekeySkipsAnUnreadablePendingAuthorization(t *testing.T) {
	t.Parallel()
	plain := setup(t)
	ctx := t.Context()
	lost, _ := newKeyring(t, "lost")
	if err := plain.WithKeyring(lost).CreateAuthorization(ctx, sum("live"), &store.Authorization{Name: "acme", RedirectURI: "r", Verifier: "v-SECRET"}, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	kept, _ := newKeyring(t, "kept")
	st := plain.WithKeyring(kept)

	_, err := st.Rekey(ctx, false, nil)
	var unreadable *store.UnreadableError
	if !errors.As(err, &unreadable) || !strings.Contains(err.Error(), "the pending authorization of acme") {
		t.Fatalf("rekey with the flow's key lost: %v", err)
	}
	if strings.Contains(err.Error(), "v-SECRET") {
		t.Fatal("the error shows the verifier")
	}

	res, err := st.Rekey(ctx, true, nil)
	if err != nil || len(res.Unreadable) != 1 || !res.Unreadable[0].Authorization || res.Unreadable[0].Name != "acme" {
		t.Fatalf("rekey --skip-unreadable: %+v %v", res, err)
	}
	if n := count(t, plain, "oauth_authorizations"); n != 0 {
		t.Fatalf("%d pending authorizations after the skip, want 0", n)
	}
	if ids := keyIDs(t, plain); !slices.Equal(ids, []string{"kept"}) {
		t.Fatalf("keys recorded after the skip: %v, want [kept]", ids)
	}
}

// Rekey writes a page of rows back in one statement only where each row is
// still as it read it: a row changed meanwhile (here re-imported with a new
// refresh token) keeps its new values and is re-sealed again, locked.
func TestRekeyKeepsARowChangedMeanwhile(t *testing.T) {
	t.Parallel()
	plain := setup(t)
	ctx := t.Context()
	old, oldSpec := newKeyring(t, "old")
	before := plain.WithKeyring(old)
	for _, n := range []string{"changed", "still"} {
		if err := before.Import(ctx, []store.ImportRow{{Name: n, ClientSecret: ptr("cs-" + n), RefreshToken: ptr("rt-" + n),
			AccessToken: ptr("at-" + n), AccessTokenExpires: ptr(time.Now().Add(time.Hour))}}); err != nil {
			t.Fatal(err)
		}
	}
	_, newSpec := newKeyring(t, "new")
	both := rotated(t, newSpec, oldSpec)
	st := plain.WithKeyring(both)
	res, err := st.RekeyChangedMeanwhile(ctx, func() {
		if err := st.Import(ctx, []store.ImportRow{{Name: "changed", RefreshToken: ptr("rt-NEW")}}); err != nil {
			t.Error(err)
		}
	})
	if err != nil || res.Resealed != 2 {
		t.Fatalf("rekey rewrote %d rows (%v), want 2", res.Resealed, err)
	}
	if got := get(t, st, "changed").RefreshToken.Reveal(); got != "rt-NEW" {
		t.Fatalf("the refresh token imported meanwhile was overwritten: read %q", got)
	}
	for _, n := range []string{"changed", "still"} {
		for _, col := range []string{"access_token", "refresh_token", "client_secret"} {
			v := raw(t, st, n, col)
			if n == "changed" && col == "access_token" && v == "" {
				continue // the import of a new refresh token dropped it
			}
			if id := keyring.KeyID(v); id != "new" {
				t.Fatalf("%s of %s sealed under %q after the rekey, want new", col, n, id)
			}
		}
	}
	if got := get(t, st, "changed").ClientSecret.Reveal(); got != "cs-changed" {
		t.Fatalf("client secret after the rekey: %q", got)
	}
}
