package mockprovider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// TestOIDCIDTokenVerifies: a real OpenID Connect client (go-oidc)
// discovers the server, and the ID token of an openid code verifies
// against its keys, names the client as audience, echoes the nonce and
// carries the email claims SetOIDCUser set.
func TestOIDCIDTokenVerifies(t *testing.T) {
	t.Parallel()
	key, _ := testutil.RSAKey(t)
	mp, srv := start(t, mockprovider.Options{OIDC: &mockprovider.OIDCOptions{Key: key, Email: "alice@acme.com", EmailVerified: true}})
	ctx := oidc.ClientContext(t.Context(), srv.Client())
	p, err := oidc.NewProvider(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if p.Endpoint().AuthURL != srv.URL+"/authorize" || p.Endpoint().TokenURL != srv.URL+"/token" {
		t.Fatalf("discovered %+v", p.Endpoint())
	}
	verifier := p.Verifier(&oidc.Config{ClientID: "cid"})
	cfg := oauth2.Config{ClientID: "cid", Endpoint: p.Endpoint(), RedirectURL: callback, Scopes: []string{oidc.ScopeOpenID, "email"}}

	signIn := func(nonce string) *oidc.IDToken {
		t.Helper()
		pkce := oauth2.GenerateVerifier()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet,
			cfg.AuthCodeURL("st-1", oidc.Nonce(nonce), oauth2.S256ChallengeOption(pkce)), nil)
		if err != nil {
			t.Fatal(err)
		}
		status, q := redirectBack(t, srv, req)
		if status != http.StatusFound || q.Get("code") == "" {
			t.Fatalf("authorize: %d %v", status, q)
		}
		tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pkce))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		id, err := verifier.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("verify the ID token: %v", err)
		}
		if id.Nonce != nonce || id.Issuer != srv.URL || id.Subject == "" {
			t.Fatalf("ID token nonce %q issuer %q subject %q", id.Nonce, id.Issuer, id.Subject)
		}
		return id
	}
	var claims struct {
		Email    string `json:"email"`
		Verified bool   `json:"email_verified"`
	}
	if err := signIn("n-1").Claims(&claims); err != nil || claims.Email != "alice@acme.com" || !claims.Verified {
		t.Fatalf("claims %+v, %v", claims, err)
	}
	mp.SetOIDCUser("mallory@evil.example", false)
	if err := signIn("n-2").Claims(&claims); err != nil || claims.Email != "mallory@evil.example" || claims.Verified {
		t.Fatalf("after SetOIDCUser: claims %+v, %v", claims, err)
	}
	// Another client is not the audience.
	other := p.Verifier(&oidc.Config{ClientID: "someone-else"})
	pkce := oauth2.GenerateVerifier()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce)), nil)
	_, q := redirectBack(t, srv, req)
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pkce))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(ctx, tok.Extra("id_token").(string)); err == nil || !strings.Contains(err.Error(), "audience") {
		t.Errorf("another client's verifier: %v, want an audience error", err)
	}
}

// TestNoOIDCByDefault: without Options.OIDC the server is the OAuth
// provider it was: no discovery, no keys, and no id_token even for an
// openid scope.
func TestNoOIDCByDefault(t *testing.T) {
	t.Parallel()
	_, srv := start(t, mockprovider.Options{})
	for _, p := range []string{"/.well-known/openid-configuration", "/jwks"} {
		resp, err := srv.Client().Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
	verifier := oauth2.GenerateVerifier()
	_, q := authorize(t, srv, url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "scope": {"openid email"}})
	a := redeem(t, srv, q.Get("code"), verifier)
	if a.status != http.StatusOK || a.body["id_token"] != nil {
		t.Fatalf("exchange: %d %s", a.status, a.raw)
	}
}
