package config

import (
	"slices"
	"strings"
	"testing"
)

// oidcEnv is a whole OpenID Connect configuration; a test changes one
// variable of it.
func oidcEnv(changes ...string) map[string]string {
	m := map[string]string{
		"DATABASE_URL":              "postgres://u:p@h:5432/db",
		"TOKENS_PUBLIC_URL":         "https://tokens.example.com",
		"TOKENS_OIDC_ISSUER":        "https://login.acme.com",
		"TOKENS_OIDC_CLIENT_ID":     "tokenwarden",
		"TOKENS_OIDC_CLIENT_SECRET": "oidc-SECRET-value",
		"TOKENS_OIDC_ALLOW":         "alice@acme.com, @ops.acme.com",
	}
	for _, c := range changes {
		k, v, _ := strings.Cut(c, "=")
		if v == "" {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

// TestOIDC: OpenID Connect sign-in is all or nothing, never without an
// allow-list, and its issuer is https (http only on loopback).
func TestOIDC(t *testing.T) {
	t.Parallel()
	c, err := LoadFrom(oidcEnv())
	if err != nil {
		t.Fatal(err)
	}
	if !c.OIDC.Enabled() || !slices.Equal(c.OIDC.Allow, []string{"alice@acme.com", "@ops.acme.com"}) {
		t.Fatalf("read as %+v", c.OIDC)
	}
	for _, ok := range []string{"TOKENS_OIDC_ISSUER=http://127.0.0.1:9000", "TOKENS_OIDC_ISSUER=http://localhost:9000/realms/x",
		"TOKENS_OIDC_ISSUER=http://[::1]:9000"} {
		if _, err := LoadFrom(oidcEnv(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	off, err := LoadFrom(oidcEnv("TOKENS_OIDC_ISSUER=", "TOKENS_OIDC_CLIENT_ID=", "TOKENS_OIDC_CLIENT_SECRET=", "TOKENS_OIDC_ALLOW="))
	if err != nil || off.OIDC.Enabled() {
		t.Fatalf("none of them set: %+v, %v", off, err)
	}
	for change, want := range map[string]string{
		"TOKENS_OIDC_ISSUER=":                           "set together or not at all",
		"TOKENS_OIDC_CLIENT_ID=":                        "set together or not at all",
		"TOKENS_OIDC_CLIENT_SECRET=":                    "set together or not at all",
		"TOKENS_OIDC_ALLOW=":                            "TOKENS_OIDC_ALLOW must list who may sign in",
		"TOKENS_PUBLIC_URL=":                            "TOKENS_PUBLIC_URL must be set with TOKENS_OIDC_ISSUER",
		"TOKENS_OIDC_ISSUER=http://login.acme.com":      "TOKENS_OIDC_ISSUER is malformed",
		"TOKENS_OIDC_ISSUER=login.acme.com":             "TOKENS_OIDC_ISSUER is malformed",
		"TOKENS_OIDC_ISSUER=https://login.acme.com/?x":  "TOKENS_OIDC_ISSUER is malformed",
		"TOKENS_OIDC_ISSUER=https://u:p@login.acme.com": "TOKENS_OIDC_ISSUER is malformed",
		"TOKENS_OIDC_ALLOW=alice":                       `TOKENS_OIDC_ALLOW: "alice" is neither`,
		"TOKENS_OIDC_ALLOW=@com":                        `TOKENS_OIDC_ALLOW: "@com" is neither`,
		"TOKENS_OIDC_ALLOW=a@b@acme.com":                `TOKENS_OIDC_ALLOW: "a@b@acme.com" is neither`,
		"TOKENS_OIDC_ALLOW=@acme.com,,":                 "TOKENS_OIDC_ALLOW: item 2",
	} {
		_, err := LoadFrom(oidcEnv(change))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", change, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "oidc-SECRET-value") {
			t.Errorf("%s: the error repeats the client secret: %v", change, err)
		}
	}
	// An allow-list alone, with no issuer, is a configuration left half
	// done, not an off switch.
	if _, err := LoadFrom(map[string]string{"DATABASE_URL": "postgres://u@h/db", "TOKENS_OIDC_ALLOW": "@acme.com"}); err == nil {
		t.Error("TOKENS_OIDC_ALLOW without an issuer was accepted")
	}
}
