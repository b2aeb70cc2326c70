package keyring

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
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
	if !strings.HasPrefix(sealed, Prefix+"k1:") || strings.Contains(sealed, "SECRET") {
		t.Fatalf("sealed value %q", sealed)
	}
	if again, _ := k.Seal("rt-SECRET", AAD("row-1", "refresh_token")); again == sealed {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	if got, err := k.Open(sealed, AAD("row-1", "refresh_token")); err != nil || got != "rt-SECRET" {
		t.Fatalf("open: %q %v", got, err)
	}
	for _, aad := range [][]byte{AAD("row-2", "refresh_token"), AAD("row-1", "access_token")} {
		if _, err := k.Open(sealed, aad); err == nil {
			t.Fatalf("a ciphertext opened under %s", aad)
		}
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
	if v, _ := none.Seal("plain", nil); v != "plain" {
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
