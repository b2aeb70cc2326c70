package apikey

import (
	"errors"
	"strings"
	"testing"
)

func TestGenerateVerify(t *testing.T) {
	t.Parallel()
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Secret, "tw_"+k.ID+"_") || len(k.Secret) != len("tw_")+16+1+43 {
		t.Fatalf("key shape: %q", k.Secret)
	}
	id, ok := ID(k.Secret)
	if !ok || id != k.ID {
		t.Fatalf("ID(%q) = %q, %v", k.Secret, id, ok)
	}
	if !Verify(k.Secret, k.Hash) {
		t.Fatal("own key does not verify")
	}
	if Verify(k.Secret+"x", k.Hash) || Verify(k.Secret, nil) {
		t.Fatal("wrong key verifies")
	}
	k2, _ := Generate()
	if k2.ID == k.ID || k2.Secret == k.Secret {
		t.Fatal("two keys alike")
	}
}

func TestID(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "tw_", "tw_abc_def", "xx_0123456789abcdef_s", "tw_0123456789abcdef_", "tw_0123456789abcdeg_s", "tw_0123456789abcdef"} {
		if id, ok := ID(bad); ok {
			t.Errorf("ID(%q) = %q, want not ok", bad, id)
		}
	}
	// The secret is base64url and may itself hold underscores.
	if id, ok := ID("tw_0123456789abcdef_a_b-c"); !ok || id != "0123456789abcdef" {
		t.Errorf("ID = %q, %v", id, ok)
	}
}

func TestPatterns(t *testing.T) {
	t.Parallel()
	ps, err := ParsePatterns(" xero-*, hubspot-acme ,")
	if err != nil || len(ps) != 2 || ps[0] != "xero-*" || ps[1] != "hubspot-acme" {
		t.Fatalf("ParsePatterns = %q, %v", ps, err)
	}
	for name, want := range map[string]bool{"xero-acme": true, "xero-": true, "hubspot-acme": true, "hubspot-other": false, "axero-acme": false} {
		if got := Allowed(ps, name); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", name, got, want)
		}
	}
	if _, err := ParsePatterns("xero-[,ok"); !errors.Is(err, ErrBadPatterns) {
		t.Errorf("bad glob: %v", err)
	}
	if _, err := ParsePatterns(" , "); !errors.Is(err, ErrBadPatterns) {
		t.Errorf("empty: %v", err)
	}
	if Allowed(nil, "x") {
		t.Error("no patterns allow everything")
	}
}
