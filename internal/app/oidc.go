package app

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/authorize"
	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/internal/console"
	"github.com/tokenwarden/tokenwarden/internal/provider"
)

// OIDCCallbackPath is the OpenID Connect redirect's path under
// TOKENS_PUBLIC_URL: the redirect URI to register with the provider.
const OIDCCallbackPath = "/console/oidc/callback"

// errOIDCFlow is the error of a callback that does not belong to the
// browser's sign-in: forged, replayed (the flow's cookie is gone once
// used) or expired (the cookie lasts ten minutes).
var errOIDCFlow = errors.New("this sign-in was not started in this browser, was already used, or took more than ten minutes; sign in again")

// oidcClient is the App's OpenID Connect provider, discovered at the
// first sign-in and kept: discovery at start-up would make a provider
// that is down stop the worker, which refreshes tokens without it.
type oidcClient struct {
	mu       sync.Mutex
	provider *oidc.Provider
}

// OIDCIssuer returns TOKENS_OIDC_ISSUER, "" when OpenID Connect sign-in
// is off.
func (a *App) OIDCIssuer() string { return a.cfg.OIDC.Issuer }

// oidcProvider returns the discovered provider, discovering it now if
// no sign-in has yet. A failed discovery is not kept: the next sign-in
// tries again. The lock is held across discovery so that people
// signing in at once cause one request; each waits at most its own
// request's context and TOKENS_HTTP_TIMEOUT.
func (a *App) oidcProvider(ctx context.Context) (*oidc.Provider, context.Context, error) {
	if !a.cfg.OIDC.Enabled() {
		return nil, nil, errors.New("OpenID Connect sign-in is not configured (TOKENS_OIDC_ISSUER)")
	}
	// The client of every request to the provider, the key set's too
	// (go-oidc keeps the one discovery was given).
	ctx = oidc.ClientContext(ctx, provider.NewHTTPClient(a.cfg.HTTPTimeout, 2))
	a.oidc.mu.Lock()
	defer a.oidc.mu.Unlock()
	if a.oidc.provider != nil {
		return a.oidc.provider, ctx, nil
	}
	p, err := oidc.NewProvider(ctx, a.cfg.OIDC.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("discover the OpenID Connect provider %s: %w", a.cfg.OIDC.Issuer, err)
	}
	a.oidc.provider = p
	return p, ctx, nil
}

// oauthConfig is the authorization-code client of the console's sign-in.
func (a *App) oauthConfig(p *oidc.Provider) (*oauth2.Config, error) {
	base, err := a.cfg.PublicBase()
	if err != nil {
		return nil, err
	}
	return &oauth2.Config{
		ClientID: a.cfg.OIDC.ClientID, ClientSecret: a.cfg.OIDC.ClientSecret,
		Endpoint: p.Endpoint(), RedirectURL: base + OIDCCallbackPath,
		Scopes: []string{oidc.ScopeOpenID, "email"},
	}, nil
}

// BeginOIDCSignIn returns the provider's authorization URL and the flow
// the callback must be given back: a random state and nonce (256 bits
// each) and a PKCE verifier.
func (a *App) BeginOIDCSignIn(ctx context.Context) (string, console.OIDCFlow, error) {
	p, _, err := a.oidcProvider(ctx)
	if err != nil {
		return "", console.OIDCFlow{}, err
	}
	cfg, err := a.oauthConfig(p)
	if err != nil {
		return "", console.OIDCFlow{}, err
	}
	state, err := apikey.Token()
	if err != nil {
		return "", console.OIDCFlow{}, err
	}
	nonce, err := apikey.Token()
	if err != nil {
		return "", console.OIDCFlow{}, err
	}
	f := console.OIDCFlow{State: state, Nonce: nonce, Verifier: oauth2.GenerateVerifier()}
	return cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(f.Verifier)), f, nil
}

// CompleteOIDCSignIn checks that the callback belongs to flow, exchanges
// the code (with the PKCE verifier), verifies the ID token with go-oidc
// (signature against the provider's keys, issuer, audience = the client
// id, expiry) and its nonce, and starts a session for a verified email
// TOKENS_OIDC_ALLOW lists.
func (a *App) CompleteOIDCSignIn(ctx context.Context, q url.Values, flow console.OIDCFlow) (*console.Session, error) {
	if flow.State == "" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(flow.State)) != 1 {
		return nil, errOIDCFlow
	}
	if q.Get("error") != "" {
		return nil, errors.New("the provider refused the sign-in: " + authorize.Refusal(q, provider.NewRedactor(a.cfg.OIDC.ClientID, a.cfg.OIDC.ClientSecret, flow.Verifier)))
	}
	code := q.Get("code")
	if code == "" {
		return nil, errors.New("the provider sent no authorization code")
	}
	p, ctx, err := a.oidcProvider(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := a.oauthConfig(p)
	if err != nil {
		return nil, err
	}
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		red := provider.NewRedactor(cfg.ClientID, cfg.ClientSecret, flow.Verifier, code)
		return nil, errors.New("sign-in: " + authorize.ExchangeError(err, red))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("the provider's answer has no ID token")
	}
	id, err := p.Verifier(&oidc.Config{ClientID: a.cfg.OIDC.ClientID}).Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("the provider's ID token is not valid: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(id.Nonce), []byte(flow.Nonce)) != 1 {
		return nil, errors.New("the provider's ID token is not valid: its nonce is not this sign-in's")
	}
	email, err := verifiedEmail(id)
	if err != nil {
		return nil, err
	}
	if !allowed(a.cfg.OIDC, email) {
		return nil, fmt.Errorf("%w: %s is not in TOKENS_OIDC_ALLOW", console.ErrNotAllowed, email)
	}
	token, csrf, err := sessionTokens()
	if err != nil {
		return nil, err
	}
	s, err := a.store.CreateOIDCSession(ctx, apikey.Hash(token), id.Subject, email, csrf, a.cfg.ConsoleSessionTTL)
	if err != nil {
		return nil, err
	}
	return &console.Session{Token: token, CSRF: s.CSRF, Email: s.Email, Expires: s.Expires}, nil
}

// verifiedEmail returns the ID token's email, which the provider must
// say it verified: an unverified address proves nothing about who
// signed in (anyone can type alice@acme.com into a new account).
func verifiedEmail(id *oidc.IDToken) (string, error) {
	var c struct {
		Email    string       `json:"email"`
		Verified flexibleBool `json:"email_verified"`
	}
	if err := id.Claims(&c); err != nil {
		return "", fmt.Errorf("read the ID token's claims: %w", err)
	}
	switch {
	case c.Email == "":
		return "", fmt.Errorf("%w: the provider gave no email (is the email scope allowed for this client?)", console.ErrNotAllowed)
	case !bool(c.Verified):
		return "", fmt.Errorf("%w: the provider has not verified %s", console.ErrNotAllowed, c.Email)
	}
	return strings.ToLower(c.Email), nil
}

// flexibleBool reads a JSON true or "true": some providers send
// email_verified as a string.
type flexibleBool bool

// UnmarshalJSON reads true, false, "true" or "false".
func (b *flexibleBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*b = flexibleBool(v)
	case string:
		*b = flexibleBool(strings.EqualFold(v, "true"))
	default:
		*b = false
	}
	return nil
}

// allowed reports whether TOKENS_OIDC_ALLOW lists email, exactly or by
// its domain (@acme.com), without regard to case. A subdomain is not its
// parent: @acme.com does not let in bob@evil.acme.com.
func allowed(o config.OIDC, email string) bool {
	email = strings.ToLower(email)
	at := strings.LastIndex(email, "@")
	if at <= 0 {
		return false
	}
	for _, a := range o.Allow {
		a = strings.ToLower(a)
		if a == email || (strings.HasPrefix(a, "@") && a == email[at:]) {
			return true
		}
	}
	return false
}
