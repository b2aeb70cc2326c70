package keyring

import (
	"bytes"
	"strings"
	"testing"
)

// A keyring made from typed keys is the one Parse makes from their
// TOKENS_ENCRYPTION_KEYS spelling: what one seals, the other opens.
func TestNewFromParsedKeys(t *testing.T) {
	t.Parallel()
	spec := "k2:" + newKey(t) + ", k1:" + newKey(t)
	keys, err := ParseKeys(spec)
	if err != nil || len(keys) != 2 || keys[0].ID != "k2" || keys[1].ID != "k1" || len(keys[1].Secret) != 32 {
		t.Fatalf("ParseKeys = %d keys, %v", len(keys), err)
	}
	parsed, _ := Parse(spec)
	made, err := New(keys)
	if err != nil || made.Primary() != "k2" {
		t.Fatalf("New: primary %q, %v", made.Primary(), err)
	}
	sealed, _ := parsed.Seal("at-SECRET", AAD("row", "access_token"))
	if got, err := made.Open(sealed, AAD("row", "access_token")); err != nil || got != "at-SECRET" {
		t.Fatalf("open: %v", err)
	}
	if k, err := New(nil); k != nil || err != nil {
		t.Fatalf("New(nil) = %v, %v; want a nil keyring", k, err)
	}
}

func TestNewRefusesBadKeys(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{7}, 32)
	for _, tc := range []struct {
		keys []Key
		want string
	}{
		{[]Key{{ID: "", Secret: secret}}, "non-empty id"},
		{[]Key{{ID: "a:b", Secret: secret}}, "without ':'"},
		{[]Key{{ID: "k", Secret: secret[:16]}}, "want 32 bytes, got 16"},
		{[]Key{{ID: "k", Secret: secret}, {ID: "k", Secret: secret}}, "appears twice"},
	} {
		if _, err := New(tc.keys); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q...): %v, want %q", tc.keys[0].ID, err, tc.want)
		}
	}
}
