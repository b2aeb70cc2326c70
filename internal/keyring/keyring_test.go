package keyring

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
)

func newKey(t testing.TB) string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func TestSealOpenRoundTripAndBinding(t *testing.T) {
	t.Parallel()
	k, err := Parse("k1:" + newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k.Seal("rt-SECRET", AAD("row-1", "refresh_token"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, prefixV1+"k1:") || strings.Contains(sealed, "SECRET") {
		t.Fatalf("sealed value %q", sealed)
	}
	if again, _ := k.Seal("rt-SECRET", AAD("row-1", "refresh_token")); again == sealed {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	if got, err := k.Open(sealed, AAD("row-1", "refresh_token")); err != nil || got != "rt-SECRET" {
		t.Fatalf("open: %q %v", got, err)
	}
	for _, aad := range []Binding{AAD("row-2", "refresh_token"), AAD("row-1", "access_token")} {
		if _, err := k.Open(sealed, aad); !errors.Is(err, ErrMismatch) {
			t.Fatalf("a ciphertext opened under %v: %v", aad, err)
		}
	}
}

// A value bound to identity fields opens only while they are unchanged,
// and the error names the fields that changed.
func TestIdentityBinding(t *testing.T) {
	t.Parallel()
	k, _ := Parse("k1:" + newKey(t))
	ident := []Field{{"provider", "oauth2"}, {"token_url", "https://auth.example.com/token"}, {"client_id", "cid"}}
	sealed, err := k.Seal("cs-SECRET", AAD("row-1", "client_secret", ident...))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Open(sealed, AAD("row-1", "client_secret", ident...)); err != nil || got != "cs-SECRET" {
		t.Fatalf("open: %q %v", got, err)
	}
	moved := slices.Clone(ident)
	moved[1].Value = "https://attacker.example/token"
	moved[2].Value = "cid-attacker"
	_, err = k.Open(sealed, AAD("row-1", "client_secret", moved...))
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "token_url and client_id changed") || strings.Contains(err.Error(), "provider") {
		t.Fatalf("open after token_url and client_id changed: %v", err)
	}
	if _, err := k.Open(sealed, AAD("row-1", "client_secret")); !errors.Is(err, ErrMismatch) {
		t.Fatalf("a bound value opened without its identity: %v", err)
	}
	// Relabelled as the unbound format, it does not open either.
	if !strings.HasPrefix(sealed, prefixV2+"k1:") {
		t.Fatalf("a bound value sealed as %.12s...", sealed)
	}
	downgraded := prefixV1 + "k1:" + sealed[strings.LastIndex(sealed, ":")+1:]
	if _, err := k.Open(downgraded, AAD("row-1", "client_secret", moved...)); !errors.Is(err, ErrMismatch) {
		t.Fatalf("a bound value relabelled v1 opened: %v", err)
	}
}

// A value written by the release before bindings still opens.
func TestV1ValuesOpen(t *testing.T) {
	t.Parallel()
	k, err := Parse("old:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	if err != nil {
		t.Fatal(err)
	}
	const v1 = "twenc:v1:old:j/Cw1aUdr4eAnFuuliwYkQ9a2YBjDh76y+mbSONSivGPYeLMQNyFNA"
	ident := []Field{{"provider", "oauth2"}}
	got, err := k.Open(v1, AAD("0190f1b2-7c3e-7000-8000-000000000001", "refresh_token", ident...))
	if err != nil || got != "rt-v1-SECRET" {
		t.Fatalf("v1 value: %q %v", got, err)
	}
	bound := AAD("0190f1b2-7c3e-7000-8000-000000000001", "refresh_token", ident...)
	if KeyID(v1) != "old" || k.Current(v1, bound) {
		t.Fatalf("KeyID %q, Current %v", KeyID(v1), k.Current(v1, bound))
	}
	resealed, _ := k.Seal(got, bound)
	if !k.Current(resealed, bound) || KeyID(resealed) != "old" {
		t.Fatalf("resealed %q is not current", resealed)
	}
	// A value bound to its row and column only is still written as v1,
	// which consumers of the first release read.
	unbound, _ := k.Seal("at-SECRET", AAD("r", "access_token"))
	if !strings.HasPrefix(unbound, prefixV1+"old:") || !k.Current(unbound, AAD("r", "access_token")) {
		t.Fatalf("an unbound value sealed as %.12s...", unbound)
	}
}

// The check value tells a key's bytes apart without revealing them.
func TestCheckValue(t *testing.T) {
	t.Parallel()
	b64 := newKey(t)
	a, _ := Parse("k1:" + b64)
	same, _ := Parse("k2:" + newKey(t) + ",k1:" + b64)
	other, _ := Parse("k1:" + newKey(t))
	ca, _ := a.CheckValue("k1")
	cs, _ := same.CheckValue("k1")
	co, _ := other.CheckValue("k1")
	if ca != cs || ca == co || len(ca) != 32 {
		t.Fatalf("check values: same bytes %q %q, other bytes %q", ca, cs, co)
	}
	if _, ok := a.CheckValue("k2"); ok {
		t.Fatal("a check value for a key the keyring lacks")
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKeyB64 := newKey(t), newKey(t)
	old, _ := Parse("old:" + oldKey)
	sealed, _ := old.Seal("x", AAD("r", "c"))
	both, err := Parse("new:" + newKeyB64 + ",old:" + oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := both.Open(sealed, AAD("r", "c")); err != nil || got != "x" {
		t.Fatalf("old key no longer opens: %v", err)
	}
	resealed, _ := both.Seal("x", AAD("r", "c"))
	if KeyID(resealed) != "new" || both.Primary() != "new" {
		t.Fatalf("sealed with %q, want the first key", KeyID(resealed))
	}
	onlyNew, _ := Parse("new:" + newKeyB64)
	if _, err := onlyNew.Open(sealed, AAD("r", "c")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("missing key: %v", err)
	}
	var none *Keyring
	if _, err := none.Open(sealed, AAD("r", "c")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("no keyring: %v", err)
	}
}

func TestPlaintextPassesThrough(t *testing.T) {
	t.Parallel()
	var none *Keyring
	if v, _ := none.Seal("plain", AAD("r", "c")); v != "plain" {
		t.Fatal("nil keyring must write plaintext")
	}
	k, _ := Parse("k:" + newKey(t))
	if v, err := k.Open("legacy-plaintext", AAD("r", "c")); err != nil || v != "legacy-plaintext" {
		t.Fatalf("plaintext written before encryption: %q %v", v, err)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"nokey", "k:notbase64!", "k:" + base64.StdEncoding.EncodeToString([]byte("short")), "k:" + newKey(t) + ",k:" + newKey(t), ":" + newKey(t)} {
		if _, err := Parse(spec); err == nil {
			t.Errorf("Parse(%q) accepted", spec)
		} else if strings.Contains(err.Error(), spec[strings.Index(spec, ":")+1:]) && len(spec) > 10 {
			t.Errorf("error repeats the key: %v", err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	k, _ := Parse("k:" + newKey(b))
	aad := AAD("0190f1b2-7c3e-7000-8000-000000000000", "access_token")
	for b.Loop() {
		k.Seal("ya29.a0AfH6SMBx-access-token-of-typical-length-0123456789", aad)
	}
}
