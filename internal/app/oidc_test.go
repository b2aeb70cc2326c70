package app_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/internal/console"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

const oidcSecret = "oidc-CLIENT-SECRET"

// oidcEnv is an App whose console signs people in through a mock OpenID
// Connect provider, which counts its discovery requests.
type oidcEnv struct {
	a           *app.App
	dsn         string
	idp         *mockprovider.Server
	issuer      string
	discoveries atomic.Int64
	environ     map[string]string
}

func setupOIDC(t *testing.T) *oidcEnv {
	t.Helper()
	key, _ := testutil.RSAKey(t)
	e := &oidcEnv{idp: mockprovider.New(mockprovider.Options{ClientID: "tw-console", ClientSecret: oidcSecret,
		OIDC: &mockprovider.OIDCOptions{Key: key, Email: "Alice@Acme.com", EmailVerified: true}})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/openid-configuration" {
			e.discoveries.Add(1)
		}
		e.idp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.issuer = srv.URL
	e.environ = map[string]string{
		"TOKENS_PUBLIC_URL": publicURL, "TOKENS_OIDC_ISSUER": srv.URL, "TOKENS_OIDC_CLIENT_ID": "tw-console",
		"TOKENS_OIDC_CLIENT_SECRET": oidcSecret, "TOKENS_OIDC_ALLOW": "alice@acme.com, @ops.example",
	}
	e.a, e.dsn = open(t, e.environ, nil)
	return e
}

// signIn goes through the provider as the person it is set to, and
// returns the callback's query and the flow.
func (e *oidcEnv) signIn(t *testing.T) (url.Values, console.OIDCFlow) {
	t.Helper()
	authURL, flow, err := e.a.BeginOIDCSignIn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("state") != flow.State || q.Get("nonce") != flow.Nonce || q.Get("code_challenge_method") != "S256" ||
		q.Get("redirect_uri") != publicURL+app.OIDCCallbackPath || !strings.Contains(q.Get("scope"), "openid") {
		t.Fatalf("authorization URL %s does not carry the flow", authURL)
	}
	return redirectOf(t, authURL).Query(), flow
}

func (e *oidcEnv) sessions(t *testing.T) int {
	t.Helper()
	c, err := pgx.Connect(t.Context(), e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int
	if err := c.QueryRow(t.Context(), "SELECT count(*) FROM console_sessions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// An allowed, verified email signs in to a session that names it and has
// no key; Session reads it back and sign-out ends it.
func TestOIDCSignInStartsASessionOfTheEmail(t *testing.T) {
	t.Parallel()
	e := setupOIDC(t)
	if e.a.OIDCIssuer() != e.issuer {
		t.Fatalf("OIDCIssuer = %q", e.a.OIDCIssuer())
	}
	q, flow := e.signIn(t)
	s, err := e.a.CompleteOIDCSignIn(t.Context(), q, flow)
	if err != nil {
		t.Fatal(err)
	}
	if s.Email != "alice@acme.com" || s.KeyID != "" || s.Token == "" || s.CSRF == "" {
		t.Fatalf("session %+v", s)
	}
	got, err := e.a.Session(t.Context(), s.Token)
	if err != nil || got.Email != "alice@acme.com" || got.KeyID != "" || got.CSRF != s.CSRF {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	// The callback replayed: the provider's code is used up, and the
	// flow's cookie would be gone anyway.
	if _, err := e.a.CompleteOIDCSignIn(t.Context(), q, flow); err == nil {
		t.Error("a replayed callback signed in again")
	}
	if err := e.a.SignOut(t.Context(), s.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.Session(t.Context(), s.Token); !errors.Is(err, console.ErrNoSession) {
		t.Fatalf("after sign-out: %v", err)
	}
	// By domain, in any case.
	e.idp.SetOIDCUser("Bob@OPS.example", true)
	q, flow = e.signIn(t)
	if s, err := e.a.CompleteOIDCSignIn(t.Context(), q, flow); err != nil || s.Email != "bob@ops.example" {
		t.Fatalf("a member of @ops.example: %+v, %v", s, err)
	}
	// Discovered once, at the first sign-in.
	if n := e.discoveries.Load(); n != 1 {
		t.Errorf("%d discovery requests, want 1", n)
	}
}

// Nobody the allow-list does not name, and no unverified email, gets a
// session; nor does a callback whose state or nonce is not the flow's.
func TestOIDCSignInRefusesWithoutASession(t *testing.T) {
	t.Parallel()
	e := setupOIDC(t)
	for _, p := range []struct {
		email    string
		verified bool
	}{{"mallory@evil.example", true}, {"alice@acme.com", false}, {"eve@sub.ops.example", true}, {"alice@acme.com.evil.example", true}} {
		e.idp.SetOIDCUser(p.email, p.verified)
		q, flow := e.signIn(t)
		s, err := e.a.CompleteOIDCSignIn(t.Context(), q, flow)
		if !errors.Is(err, console.ErrNotAllowed) || s != nil {
			t.Errorf("%s (verified %v): %+v, %v; want ErrNotAllowed", p.email, p.verified, s, err)
		}
	}
	e.idp.SetOIDCUser("alice@acme.com", true)
	q, flow := e.signIn(t)
	forged := flow
	forged.State = "forged-state"
	if _, err := e.a.CompleteOIDCSignIn(t.Context(), q, forged); err == nil || errors.Is(err, console.ErrNotAllowed) {
		t.Errorf("a forged state: %v", err)
	}
	if _, err := e.a.CompleteOIDCSignIn(t.Context(), q, console.OIDCFlow{}); err == nil {
		t.Error("a callback with no flow signed in")
	}
	// The provider's ID token carries the nonce of its own flow.
	q2, flow2 := e.signIn(t)
	flow2.Nonce = flow.Nonce
	if _, err := e.a.CompleteOIDCSignIn(t.Context(), q2, flow2); err == nil || !strings.Contains(err.Error(), "nonce") {
		t.Errorf("another flow's nonce: %v", err)
	}
	if n := e.sessions(t); n != 0 {
		t.Errorf("%d sessions after refusals, want 0", n)
	}
	if _, err := e.a.CompleteOIDCSignIn(t.Context(), url.Values{"state": {flow.State}, "error": {"access_denied"}}, flow); err == nil ||
		!strings.Contains(err.Error(), "access_denied") {
		t.Errorf("the provider's refusal: %v", err)
	}
}

// A provider that is down stops neither Open nor anything else: the
// console's sign-in fails until it answers, and then works.
func TestOIDCDiscoveryAtFirstUse(t *testing.T) {
	t.Parallel()
	key, _ := testutil.RSAKey(t)
	idp := mockprovider.New(mockprovider.Options{ClientID: "c", ClientSecret: "s", OIDC: &mockprovider.OIDCOptions{Key: key}})
	var up atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		idp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	a, _ := open(t, map[string]string{"TOKENS_PUBLIC_URL": publicURL, "TOKENS_OIDC_ISSUER": srv.URL, "TOKENS_OIDC_CLIENT_ID": "c",
		"TOKENS_OIDC_CLIENT_SECRET": "s", "TOKENS_OIDC_ALLOW": "@acme.com"}, nil)
	if _, _, err := a.BeginOIDCSignIn(t.Context()); err == nil {
		t.Fatalf("with the provider down: %v", err)
	}
	up.Store(true)
	if u, _, err := a.BeginOIDCSignIn(t.Context()); err != nil || !strings.HasPrefix(u, srv.URL+"/authorize?") {
		t.Fatalf("once it is up: %q, %v", u, err)
	}
}

// An OIDC session outlives neither OpenID Connect sign-in being turned
// off nor its email leaving TOKENS_OIDC_ALLOW: another App on the same
// database, configured so, refuses it.
func TestOIDCSessionFollowsTheConfiguration(t *testing.T) {
	t.Parallel()
	e := setupOIDC(t)
	q, flow := e.signIn(t)
	s, err := e.a.CompleteOIDCSignIn(t.Context(), q, flow)
	if err != nil {
		t.Fatal(err)
	}
	reopen := func(changes map[string]string) *app.App {
		env := map[string]string{"DATABASE_URL": e.dsn}
		for k, v := range e.environ {
			env[k] = v
		}
		for k, v := range changes {
			if v == "" {
				delete(env, k)
				continue
			}
			env[k] = v
		}
		cfg, err := config.LoadFrom(env)
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.Open(t.Context(), cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	if _, err := reopen(nil).Session(t.Context(), s.Token); err != nil {
		t.Fatalf("the same configuration: %v", err)
	}
	if _, err := reopen(map[string]string{"TOKENS_OIDC_ALLOW": "@ops.example"}).Session(t.Context(), s.Token); !errors.Is(err, console.ErrNoSession) {
		t.Errorf("alice no longer allowed: %v", err)
	}
	off := map[string]string{"TOKENS_OIDC_ISSUER": "", "TOKENS_OIDC_CLIENT_ID": "", "TOKENS_OIDC_CLIENT_SECRET": "", "TOKENS_OIDC_ALLOW": ""}
	if _, err := reopen(off).Session(t.Context(), s.Token); !errors.Is(err, console.ErrNoSession) {
		t.Errorf("OpenID Connect off: %v", err)
	}
}
