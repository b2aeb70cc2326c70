package app_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/console"
	"github.com/tokenwarden/tokenwarden/internal/httpapi"
	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/proxy"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/model"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

const (
	publicURL    = "https://tw.example"
	clientSecret = "cs-CONSOLE-SECRET"
)

// consoleEnv is an App with TOKENS_PUBLIC_URL and encryption keys, a mock
// provider that approves at once, and a store of its own on the same
// database, for what the test does behind the App's back.
type consoleEnv struct {
	a    *app.App
	dsn  string
	keys string
	st   *store.Store
	mp   *mockprovider.Server
	srv  *httptest.Server
}

func setupConsole(t *testing.T, environ map[string]string) *consoleEnv {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	keys := "k1:" + base64.StdEncoding.EncodeToString(b)
	env := map[string]string{"TOKENS_PUBLIC_URL": publicURL, "TOKENS_ENCRYPTION_KEYS": keys}
	for k, v := range environ {
		env[k] = v
	}
	a, dsn := open(t, env, nil)
	kr, err := keyring.Parse(keys)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mp := mockprovider.New(mockprovider.Options{ClientID: "cid", ClientSecret: clientSecret, Rotate: true})
	srv := httptest.NewServer(mp)
	t.Cleanup(srv.Close)
	return &consoleEnv{a: a, dsn: dsn, keys: keys, st: st.WithKeyring(kr), mp: mp, srv: srv}
}

func ptr[T any](v T) *T { return &v }

// connection imports a generic connection to the mock with status, a dead
// refresh token and an access token that expired a minute ago.
func (e *consoleEnv) connection(t *testing.T, name, status string) *model.OAuthToken {
	t.Helper()
	err := e.st.Import(t.Context(), []store.ImportRow{{
		Name: name, TokenURL: ptr(e.srv.URL + "/token"), AuthorizeURL: ptr(e.srv.URL + "/authorize"),
		ClientID: ptr("cid"), ClientSecret: ptr(clientSecret), Scopes: ptr("read"),
		AccessToken: ptr("at-old-" + name), RefreshToken: ptr("rt-dead-" + name),
		AccessTokenExpires: ptr(time.Now().Add(-time.Minute)), Status: ptr(status),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return e.row(t, name)
}

func (e *consoleEnv) row(t *testing.T, name string) *model.OAuthToken {
	t.Helper()
	r, err := e.st.Get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// consent opens the consent URL as a browser would, up to the provider's
// redirect to the callback, and returns the callback's query.
func consent(t *testing.T, authURL string) url.Values {
	t.Helper()
	loc := redirectOf(t, authURL)
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != publicURL+app.CallbackPath {
		t.Fatalf("the provider redirected to %s, want %s", got, publicURL+app.CallbackPath)
	}
	return loc.Query()
}

// redirectOf opens the provider's authorization URL as a browser would,
// and returns where the provider sends it back (a 302 it must answer).
func redirectOf(t *testing.T, authURL string) *url.URL {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("the provider answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc
}

// A needs_reauth connection reconnected in the browser keeps its row and
// name, gets a new version and goes back to active, and the provider
// accepts the refresh token it got.
func TestReconnectStoresInPlace(t *testing.T) {
	t.Parallel()
	e := setupConsole(t, nil)
	ctx := t.Context()
	before := e.connection(t, "acme", model.StatusNeedsReauth)

	authURL, err := e.a.BeginReconnect(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	q := consent(t, authURL)
	if e.row(t, "acme").Version != before.Version {
		t.Fatal("the connection changed before the callback")
	}
	name, err := e.a.CompleteAuthorization(ctx, q)
	if err != nil || name != "acme" {
		t.Fatalf("CompleteAuthorization = %q, %v", name, err)
	}
	after := e.row(t, "acme")
	granted := e.mp.Authorized()
	if len(granted) != 1 {
		t.Fatalf("%d codes redeemed", len(granted))
	}
	if after.ID != before.ID || after.Name != "acme" || after.Version != before.Version+1 || after.Status != model.StatusActive ||
		after.AccessToken.Reveal() != granted[0].AccessToken || after.RefreshToken.Reveal() != granted[0].RefreshToken ||
		after.LastError != nil || after.FailureCount != 0 {
		t.Fatalf("after the reconnect: %+v (issued %+v)", after, granted[0])
	}
	// The provider accepts the new refresh token: a refresh now succeeds.
	refreshed, err := e.a.Refresh(ctx, "acme")
	if err != nil {
		t.Fatalf("refresh with the new refresh token: %v", err)
	}
	if refreshed.Version != after.Version+1 || refreshed.AccessToken != nil || refreshed.RefreshToken != nil {
		t.Fatalf("refreshed %+v (no secret may be returned)", refreshed)
	}
	if _, ok := e.mp.Issued(granted[0].RefreshToken); !ok {
		t.Fatal("the mock did not refresh with the new refresh token")
	}
}

// A reconnect fences the claim in flight, whose late result is refused,
// and wakes a consumer waiting in Get with the new token.
func TestReconnectFencesTheClaimAndWakesConsumers(t *testing.T) {
	t.Parallel()
	e := setupConsole(t, nil)
	ctx := t.Context()
	e.connection(t, "acme", model.StatusActive)
	claimed, err := e.st.ClaimByName(ctx, "acme", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := tokens.ParseKeys(e.keys)
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := tokens.Open(ctx, e.dsn, &tokens.Options{EncryptionKeys: keys, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	type got struct {
		tok *tokens.Token
		err error
	}
	done := make(chan got, 1)
	go func() {
		tok, err := consumer.Get(ctx, "acme")
		done <- got{tok, err}
	}()

	authURL, err := e.a.BeginReconnect(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	q := consent(t, authURL)
	select {
	case g := <-done:
		t.Fatalf("Get returned before the reconnect, during a live claim: %+v", g)
	default:
	}
	if _, err := e.a.CompleteAuthorization(ctx, q); err != nil {
		t.Fatal(err)
	}
	issued := e.mp.Authorized()[0]
	select {
	case g := <-done:
		if g.err != nil || g.tok.AccessToken != issued.AccessToken {
			t.Fatalf("the waiting consumer got %+v, %v; want the new token", g.tok, g.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting consumer was not woken by the reconnect")
	}
	row := e.row(t, "acme")
	if row.Updating || row.ClaimID != nil {
		t.Fatalf("the claim is still live: updating=%v claim=%v", row.Updating, row.ClaimID)
	}
	late := store.Success{ID: claimed.ID, ClaimID: *claimed.ClaimID, Name: "acme", AccessToken: "at-late", RefreshToken: "rt-late",
		AccessTokenExpires: ptr(time.Now().Add(time.Hour))}
	stored, err := e.st.StoreSuccesses(ctx, []store.Success{late}, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 0 {
		t.Fatalf("the fenced claim's result was stored: %+v", stored)
	}
	if again := e.row(t, "acme"); again.AccessToken.Reveal() != issued.AccessToken || again.RefreshToken.Reveal() != issued.RefreshToken {
		t.Fatal("the late result overwrote the reconnect's tokens")
	}
}

// A forged, replayed or expired state, and a provider's refusal, change
// nothing, and the error can be shown to a person: one line, no secret.
func TestCompleteAuthorizationRefusesWithoutChange(t *testing.T) {
	t.Parallel()
	e := setupConsole(t, nil)
	ctx := t.Context()
	before := e.connection(t, "acme", model.StatusNeedsReauth)
	unchanged := func(what string) {
		t.Helper()
		r := e.row(t, "acme")
		if r.Version != before.Version || r.Status != model.StatusNeedsReauth || r.AccessToken.Reveal() != "at-old-acme" {
			t.Fatalf("%s changed the connection: %+v", what, r)
		}
	}
	readable := func(what string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%s: %v, want one line mentioning %q", what, err, want)
		}
		if leak := testutil.Leaked(err.Error(), testutil.SecretForms("cid", clientSecret)); leak != "" {
			t.Fatalf("%s: the error holds %q", what, leak)
		}
	}

	authURL, err := e.a.BeginReconnect(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	q := consent(t, authURL)

	forged := url.Values{"state": {"forged-" + q.Get("state")}, "code": {q.Get("code")}}
	_, err = e.a.CompleteAuthorization(ctx, forged)
	readable("forged state", err, "unknown, already completed or expired")
	_, err = e.a.CompleteAuthorization(ctx, url.Values{"code": {q.Get("code")}})
	readable("no state", err, "no state")
	unchanged("a forged state")

	if _, err := e.a.CompleteAuthorization(ctx, q); err != nil {
		t.Fatal(err)
	}
	before = e.row(t, "acme")
	exec(t, e.dsn, "UPDATE oauth_tokens SET status = 'needs_reauth'")
	before.Status = model.StatusNeedsReauth
	_, err = e.a.CompleteAuthorization(ctx, q)
	readable("replayed state", err, "already completed")
	if r := e.row(t, "acme"); r.Version != before.Version || r.AccessToken.Reveal() != before.AccessToken.Reveal() {
		t.Fatal("a replayed state changed the connection")
	}

	before = e.row(t, "acme")
	authURL, err = e.a.BeginReconnect(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	q = consent(t, authURL)
	exec(t, e.dsn, "UPDATE oauth_authorizations SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
	_, err = e.a.CompleteAuthorization(ctx, q)
	readable("expired state", err, "expired")

	e.mp.DenyAuthorization(true)
	authURL, err = e.a.BeginReconnect(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	q = consent(t, authURL)
	_, err = e.a.CompleteAuthorization(ctx, q)
	readable("access_denied", err, "access_denied")
	if r := e.row(t, "acme"); r.Version != before.Version || r.Status != model.StatusNeedsReauth {
		t.Fatalf("a refused authorization changed the connection: %+v", r)
	}
	if n := len(e.mp.Authorized()); n != 1 {
		t.Fatalf("%d codes redeemed, want only the first reconnect's", n)
	}
}

// A reconnect link is read without being used, reconnects its one
// connection once, and refuses after that.
func TestConnectLinkIsSingleUseAndForItsConnection(t *testing.T) {
	t.Parallel()
	e := setupConsole(t, nil)
	ctx := t.Context()
	acme := e.connection(t, "acme", model.StatusNeedsReauth)
	other := e.connection(t, "other", model.StatusNeedsReauth)

	l, err := e.a.CreateConnectLink(ctx, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	secret, ok := strings.CutPrefix(l.URL, publicURL+app.ConnectPath)
	if !ok || len(secret) < 43 || l.Name != "acme" || l.Provider != "oauth2" || time.Until(l.Expires) < 23*time.Hour {
		t.Fatalf("link %+v", l)
	}
	for range 2 { // a link-preview bot's GETs use nothing up
		if got, err := e.a.ConnectLink(ctx, secret); err != nil || got.Name != "acme" {
			t.Fatalf("ConnectLink = %+v, %v", got, err)
		}
	}
	if _, err := e.a.ConnectLink(ctx, secret+"x"); !errors.Is(err, console.ErrLinkUnusable) {
		t.Fatalf("a forged link: %v", err)
	}
	// Abandoned at the consent page: the link still works.
	if _, _, err := e.a.BeginLinkReconnect(ctx, secret); err != nil {
		t.Fatal(err)
	}
	authURL, _, err := e.a.BeginLinkReconnect(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	name, err := e.a.CompleteAuthorization(ctx, consent(t, authURL))
	if err != nil || name != "acme" {
		t.Fatalf("CompleteAuthorization = %q, %v", name, err)
	}
	if r := e.row(t, "acme"); r.ID != acme.ID || r.Version != acme.Version+1 || r.Status != model.StatusActive {
		t.Fatalf("acme after its link: %+v", r)
	}
	if r := e.row(t, "other"); r.Version != other.Version || r.Status != model.StatusNeedsReauth {
		t.Fatalf("a link for acme changed other: %+v", r)
	}
	if _, err := e.a.ConnectLink(ctx, secret); !errors.Is(err, console.ErrLinkUnusable) {
		t.Fatalf("a used link: %v", err)
	}
	if _, _, err := e.a.BeginLinkReconnect(ctx, secret); !errors.Is(err, console.ErrLinkUnusable) {
		t.Fatalf("a flow from a used link: %v", err)
	}

	expired, err := e.a.CreateConnectLink(ctx, "other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, e.dsn, "UPDATE connect_links SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
	if _, _, err := e.a.BeginLinkReconnect(ctx, strings.TrimPrefix(expired.URL, publicURL+app.ConnectPath)); !errors.Is(err, console.ErrLinkUnusable) {
		t.Fatalf("an expired link: %v", err)
	}
	for _, ttl := range []time.Duration{time.Second, 8 * 24 * time.Hour} {
		if _, err := e.a.CreateConnectLink(ctx, "acme", ttl); err == nil {
			t.Fatalf("a link of %s was made", ttl)
		}
	}
	if _, err := e.a.CreateConnectLink(ctx, "missing", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a link to an unknown connection: %v", err)
	}
}

// Without TOKENS_PUBLIC_URL nothing can be (re)connected in a browser, and
// the error says what to set.
func TestBrowserFlowsNeedThePublicURL(t *testing.T) {
	t.Parallel()
	e := setupConsole(t, map[string]string{"TOKENS_PUBLIC_URL": ""})
	ctx := t.Context()
	e.connection(t, "acme", model.StatusNeedsReauth)
	_, err1 := e.a.BeginReconnect(ctx, "acme")
	_, err2 := e.a.CreateConnectLink(ctx, "acme", 0)
	_, err3 := e.a.BeginConnect(ctx, console.NewConnection{Name: "n", ClientID: "cid", ClientSecret: "s",
		AuthorizeURL: e.srv.URL + "/authorize", TokenURL: e.srv.URL + "/token"})
	for _, err := range []error{err1, err2, err3} {
		if err == nil || !strings.Contains(err.Error(), "TOKENS_PUBLIC_URL is not set") {
			t.Fatalf("without TOKENS_PUBLIC_URL: %v", err)
		}
	}
}

// A new connection is validated before the person is sent anywhere, is
// not in oauth_tokens until the callback, and its client secret is never
// in the clear in the pending authorization.
func TestBeginConnectCreatesOnlyAtTheCallback(t *testing.T) {
	t.Parallel()
	e := setupConsole(t, nil)
	ctx := t.Context()
	good := console.NewConnection{Name: "fresh", Provider: "oauth2", ClientID: "cid", ClientSecret: clientSecret, Scopes: "read",
		AuthorizeURL: e.srv.URL + "/authorize", TokenURL: e.srv.URL + "/token"}
	authURL, err := e.a.BeginConnect(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	var dump string
	if err := e.st.DB().Raw("SELECT string_agg(t::text, ' ') FROM oauth_authorizations AS t").Row().Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if leak := testutil.Leaked(dump, testutil.SecretForms("", clientSecret)); leak != "" {
		t.Fatalf("oauth_authorizations holds %q of the client secret", leak)
	}
	if _, err := e.a.Connection(ctx, "fresh"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the connection exists before the callback: %v", err)
	}
	name, err := e.a.CompleteAuthorization(ctx, consent(t, authURL))
	if err != nil || name != "fresh" {
		t.Fatalf("CompleteAuthorization = %q, %v", name, err)
	}
	r := e.row(t, "fresh")
	if r.ClientSecret.Reveal() != clientSecret || store.Str(r.AuthorizeURL) != good.AuthorizeURL || r.Status != model.StatusActive ||
		r.AccessToken.Reveal() != e.mp.Authorized()[0].AccessToken {
		t.Fatalf("stored %+v", r)
	}
	if _, err := e.a.Refresh(ctx, "fresh"); err != nil {
		t.Fatalf("the new connection does not refresh: %v", err)
	}
	if _, err := e.a.BeginConnect(ctx, good); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("a second connection of the same name: %v", err)
	}
}

func TestBeginConnectRefusesBadInputWritingNothing(t *testing.T) {
	t.Parallel()
	e := setupConsole(t, nil)
	ctx := t.Context()
	base := func() console.NewConnection {
		return console.NewConnection{Name: "n", Provider: "oauth2", ClientID: "cid", ClientSecret: "s",
			AuthorizeURL: e.srv.URL + "/authorize", TokenURL: e.srv.URL + "/token"}
	}
	for _, c := range []struct {
		what   string
		mutate func(*console.NewConnection)
		want   string
	}{
		{"http token URL off loopback", func(c *console.NewConnection) { c.TokenURL = "http://tokens.example/token" }, "http"},
		{"no client id", func(c *console.NewConnection) { c.ClientID = "" }, "client ID"},
		{"no client secret", func(c *console.NewConnection) { c.ClientSecret = "" }, "client secret"},
		{"no authorization URL", func(c *console.NewConnection) { c.AuthorizeURL = "" }, "authorization URL"},
		{"bad authorization URL", func(c *console.NewConnection) { c.AuthorizeURL = "javascript:alert(1)" }, "authorize_url"},
		{"http authorization URL off loopback", func(c *console.NewConnection) { c.AuthorizeURL = "http://login.example/authorize" }, "authorize_url"},
		{"unknown provider", func(c *console.NewConnection) { c.Provider = "nope" }, "unknown provider"},
		{"bad name", func(c *console.NewConnection) { c.Name = "a/b" }, "name"},
		{"secret with a line break", func(c *console.NewConnection) { c.ClientSecret = "s\nx" }, "whitespace"},
		{"template without a browser flow", func(c *console.NewConnection) { c.Provider = "google_service_account" }, "no browser authorization"},
	} {
		conn := base()
		c.mutate(&conn)
		if _, err := e.a.BeginConnect(ctx, conn); err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line mentioning %q", c.what, err, c.want)
		}
	}
	var flows, rows int
	if err := e.st.DB().Raw("SELECT (SELECT count(*) FROM oauth_authorizations), (SELECT count(*) FROM oauth_tokens)").Row().Scan(&flows, &rows); err != nil {
		t.Fatal(err)
	}
	if flows != 0 || rows != 0 {
		t.Fatalf("refused input wrote %d authorization(s) and %d connection(s)", flows, rows)
	}
	if e.mp.Calls() != 0 {
		t.Fatal("refused input reached the provider")
	}

	// A connection whose grant needs no browser is not reconnected, nor
	// given a link.
	err := e.st.Import(ctx, []store.ImportRow{{Name: "cc", TokenURL: ptr(e.srv.URL + "/token"), ClientID: ptr("cid"),
		ClientSecret: ptr(clientSecret), Grant: ptr(model.GrantClientCredentials)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := e.a.BeginReconnect(ctx, "cc")
	_, err2 := e.a.CreateConnectLink(ctx, "cc", 0)
	for _, err := range []error{err1, err2} {
		if err == nil || !strings.Contains(err.Error(), "needs no browser") {
			t.Fatalf("a client_credentials connection: %v", err)
		}
	}
}

// Only a live admin key signs in; a session ends when signed out or when
// its key is revoked. An admin key reads no token from the token API.
func TestSignInTakesOnlyALiveAdminKey(t *testing.T) {
	t.Parallel()
	e := setupConsole(t, nil)
	ctx := t.Context()
	if on, err := e.a.HasAdminKey(ctx); err != nil || on {
		t.Fatalf("HasAdminKey before any = %v, %v", on, err)
	}
	admin, err := e.a.CreateAPIKey(ctx, console.NewAPIKey{Label: "ops", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	tokenKey, err := e.a.CreateAPIKey(ctx, console.NewAPIKey{Label: "ci", Patterns: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if on, err := e.a.HasAdminKey(ctx); err != nil || !on {
		t.Fatalf("HasAdminKey = %v, %v", on, err)
	}
	for what, key := range map[string]string{"token-API key": tokenKey, "garbage": "hunter2", "empty": "",
		"admin id, wrong secret": admin[:len(admin)-2] + "xx"} {
		if _, err := e.a.SignIn(ctx, key); !errors.Is(err, console.ErrBadCredentials) {
			t.Errorf("%s: %v", what, err)
		}
	}
	s, err := e.a.SignIn(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if s.Token == "" || s.CSRF == "" || s.Label != "ops" || time.Until(s.Expires) < 11*time.Hour {
		t.Fatalf("session %+v", s)
	}
	var stored int
	if err := e.st.DB().Raw("SELECT count(*) FROM console_sessions WHERE position(convert_to(?, 'UTF8') IN token_hash) > 0 OR csrf_token = ?",
		s.Token, s.Token).Row().Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("the session token is stored in the clear (%v)", err)
	}
	if got, err := e.a.Session(ctx, s.Token); err != nil || got.CSRF != s.CSRF || got.KeyID != s.KeyID || got.Token != "" {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	if err := e.a.SignOut(ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.Session(ctx, s.Token); !errors.Is(err, console.ErrNoSession) {
		t.Fatalf("after sign-out: %v", err)
	}
	s2, err := e.a.SignIn(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.a.RevokeAPIKey(ctx, s2.KeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.Session(ctx, s2.Token); !errors.Is(err, console.ErrNoSession) {
		t.Fatalf("a session of a revoked key: %v", err)
	}
	if _, err := e.a.SignIn(ctx, admin); !errors.Is(err, console.ErrBadCredentials) {
		t.Fatalf("sign-in with a revoked key: %v", err)
	}

	// The token API refuses the admin key for every connection.
	e.connection(t, "acme", model.StatusActive)
	admin2, err := e.a.CreateAPIKey(ctx, console.NewAPIKey{Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := tokens.ParseKeys(e.keys)
	consumer, err := tokens.Open(ctx, e.dsn, &tokens.Options{EncryptionKeys: keys, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	h := httpapi.New(httpapi.Config{Tokens: consumer, Keys: e.st, Logger: testutil.Quiet()})
	h = proxy.Mount(h, proxy.New(proxy.Config{Tokens: consumer, Keys: e.st, Connections: e.st, Catalogue: e.a.Catalogue(),
		Logger: testutil.Quiet()}))
	api := httptest.NewServer(h)
	defer api.Close()
	for _, path := range []string{"/v1/tokens/acme", "/proxy/acme/x"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+admin2)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s answered an admin key %d, want 403", path, resp.StatusCode)
		}
	}
}

// The list pages through every connection once in expiry order, with the
// name filter a glob or a substring, and never a secret.
func TestConnectionsPagesAndFilters(t *testing.T) {
	t.Parallel()
	e := setupConsole(t, nil)
	ctx := t.Context()
	for _, n := range []string{"xero-a", "xero-b", "hub.x", "hubXy", "other"} {
		e.connection(t, n, model.StatusActive)
	}
	var names []string
	q := console.Query{Limit: 2}
	for {
		p, err := e.a.Connections(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Rows {
			if r.AccessToken != nil || r.RefreshToken != nil || r.ClientSecret != nil {
				t.Fatalf("%s listed with a secret", r.Name)
			}
			names = append(names, r.Name)
		}
		if p.Next == "" {
			break
		}
		q.After = p.Next
	}
	if len(names) != 5 {
		t.Fatalf("paged %v, want each of 5 once", names)
	}
	for filter, want := range map[string]string{"XERO-*": "xero-a xero-b", "hub.": "hub.x", "b?x*": "", "*b[.X]*": "hub.x hubXy", "ero": "xero-a xero-b"} {
		p, err := e.a.Connections(ctx, console.Query{Name: filter})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range p.Rows {
			got = append(got, r.Name)
		}
		if strings.Join(got, " ") != want {
			t.Errorf("filter %q: %v, want %s", filter, got, want)
		}
	}
	if _, err := e.a.Connections(ctx, console.Query{After: "not-a-cursor!"}); err == nil {
		t.Fatal("a forged cursor was accepted")
	}
	if _, err := e.a.Connections(ctx, console.Query{Name: "[a"}); err == nil {
		t.Fatal("a malformed glob was accepted")
	}
	counts, err := e.a.StatusCounts(ctx)
	if err != nil || counts[model.StatusActive] != 5 {
		t.Fatalf("StatusCounts = %v, %v", counts, err)
	}
}

// A template from TOKENS_PROVIDERS_FILE with an authorization URL is
// connected in the browser as a built-in one is; templates without a
// browser flow are not offered.
func TestProvidersFileTemplateConnects(t *testing.T) {
	t.Parallel()
	mp := mockprovider.New(mockprovider.Options{ClientID: "cid", ClientSecret: clientSecret})
	srv := httptest.NewServer(mp)
	t.Cleanup(srv.Close)
	file := t.TempDir() + "/providers.json"
	tmpl := `[{"name":"acme_idp","authorize_url":"` + srv.URL + `/authorize","token_url":"` + srv.URL + `/token",` +
		`"auth":"post","default_lifetime":"1h"}]`
	if err := os.WriteFile(file, []byte(tmpl), 0o600); err != nil {
		t.Fatal(err)
	}
	e := setupConsole(t, map[string]string{"TOKENS_PROVIDERS_FILE": file})
	ctx := t.Context()
	offered := map[string]console.Provider{}
	for _, p := range e.a.Providers() {
		offered[p.Name] = p
	}
	if _, ok := offered["acme_idp"]; !ok || !offered["oauth2"].NeedsURLs || offered["acme_idp"].NeedsURLs {
		t.Fatalf("providers offered: %+v", offered)
	}
	for _, name := range []string{"google_service_account", "webex_service_app"} {
		if _, ok := offered[name]; ok {
			t.Errorf("%s has no browser flow but is offered", name)
		}
	}
	authURL, err := e.a.BeginConnect(ctx, console.NewConnection{Name: "idp", Provider: "acme_idp", ClientID: "cid", ClientSecret: clientSecret})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(authURL, srv.URL+"/authorize?") {
		t.Fatalf("consent URL %s is not the template's", authURL)
	}
	if _, err := e.a.CompleteAuthorization(ctx, consent(t, authURL)); err != nil {
		t.Fatal(err)
	}
	if r := e.row(t, "idp"); r.Provider != "acme_idp" || r.AccessToken.Reveal() != mp.Authorized()[0].AccessToken || r.TokenURL != nil {
		t.Fatalf("stored %+v", r)
	}
}

// TestDisabledConnectionIsNotReconnected: an operator who disables a
// connection takes it out of service until they enable it. Its links wait
// unusable (a GET and the button both refuse), no link can be made for it
// and no reconnect starts; a flow begun before the disable stores nothing.
// Enabling it makes the waiting link usable again.
func TestDisabledConnectionIsNotReconnected(t *testing.T) {
	t.Parallel()
	e := setupConsole(t, nil)
	ctx := t.Context()
	e.connection(t, "acme", model.StatusNeedsReauth)
	l, err := e.a.CreateConnectLink(ctx, "acme", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimPrefix(l.URL, publicURL+app.ConnectPath)
	begun, _, err := e.a.BeginLinkReconnect(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.a.Disable(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	before := e.row(t, "acme")

	if _, err := e.a.ConnectLink(ctx, secret); !errors.Is(err, console.ErrLinkUnusable) {
		t.Errorf("the link page of a disabled connection: %v", err)
	}
	if _, _, err := e.a.BeginLinkReconnect(ctx, secret); !errors.Is(err, console.ErrLinkUnusable) {
		t.Errorf("the link's button on a disabled connection: %v", err)
	}
	if _, err := e.a.CreateConnectLink(ctx, "acme", time.Hour); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("a new link for a disabled connection: %v", err)
	}
	if _, err := e.a.BeginReconnect(ctx, "acme"); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("a reconnect of a disabled connection: %v", err)
	}
	if _, err := e.a.CompleteAuthorization(ctx, consent(t, begun)); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("a flow begun before the disable completed: %v", err)
	}
	if r := e.row(t, "acme"); r.Status != model.StatusDisabled || r.Version != before.Version {
		t.Errorf("the disabled connection changed: status %s, version %d→%d", r.Status, before.Version, r.Version)
	}

	if err := e.a.Enable(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if got, err := e.a.ConnectLink(ctx, secret); err != nil || got.Name != "acme" {
		t.Errorf("the link once the connection is enabled: %+v, %v", got, err)
	}
}

// TestSignInRecordsTheKeysUse: `worker apikey list` shows when an admin
// key last opened the console.
func TestSignInRecordsTheKeysUse(t *testing.T) {
	t.Parallel()
	e := setupConsole(t, nil)
	ctx := t.Context()
	key, err := e.a.CreateAPIKey(ctx, console.NewAPIKey{Label: "ops", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.SignIn(ctx, key); err != nil {
		t.Fatal(err)
	}
	keys, err := e.a.ListAPIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Label == "ops" && k.LastUsedAt == nil {
			t.Errorf("after a sign-in the admin key %s shows no use", k.ID)
		}
	}
}
