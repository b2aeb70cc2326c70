package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tokenwarden/tokenwarden/internal/console"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// oidcSecret is the console's client secret at the OpenID Connect
// provider: no page may show it.
const oidcSecret = "oidc-SECRET-never-on-a-page"

// oidcBundle is a bundle whose console signs people in through a mock
// OpenID Connect provider (allowed: alice@acme.com and @ops.example),
// beside the admin key.
type oidcBundle struct {
	*bundle
	idp       *mockprovider.Server
	idpServer *httptest.Server
	idpHost   string
	idpLog    *authorizeLog
	callbacks *documentStatuses
}

func setupOIDC(t *testing.T, log *testutil.Buffer) *oidcBundle {
	t.Helper()
	key, _ := testutil.RSAKey(t)
	o := &oidcBundle{idpLog: &authorizeLog{}}
	o.idp = mockprovider.New(mockprovider.Options{ClientID: "tw-console", ClientSecret: oidcSecret,
		OIDC: &mockprovider.OIDCOptions{Key: key, Email: "alice@acme.com", EmailVerified: true}})
	srv := httptest.NewServer(o.idpLog.wrap(o.idp))
	t.Cleanup(srv.Close)
	o.idpServer = srv
	o.idpHost = strings.TrimPrefix(srv.URL, "http://")
	o.bundle = setupWith(t, options{log: log, env: map[string]string{
		"TOKENS_OIDC_ISSUER": srv.URL, "TOKENS_OIDC_CLIENT_ID": "tw-console", "TOKENS_OIDC_CLIENT_SECRET": oidcSecret,
		"TOKENS_OIDC_ALLOW": "alice@acme.com, @ops.example",
	}})
	o.callbacks = watchDocuments(t, o.browser, "/console/oidc/callback")
	return o
}

// signInOIDC presses the sign-in page's OpenID Connect button and waits
// for the browser to come back to the console at path.
func (o *oidcBundle) signInOIDC(path string) {
	o.t.Helper()
	o.open(o.browser, "/console/signin")
	if got := o.text(o.browser, "#oidc"); got != "Sign in with "+o.idpHost {
		o.t.Fatalf("the OpenID Connect button says %q", got)
	}
	o.submit(o.browser, "#oidc")
	o.waitPath(o.browser, path)
}

// documentStatuses records the HTTP status of each page the browser
// loaded at a path: the callback is reached by the provider's redirect,
// not by a navigation the test makes, so its status is read from the
// browser's network events.
type documentStatuses struct {
	mu       sync.Mutex
	statuses []int
}

func watchDocuments(t *testing.T, ctx context.Context, path string) *documentStatuses { //nolint:revive // a test helper takes t first
	t.Helper()
	d := &documentStatuses{}
	err := chromedp.Listen(ctx, func(ev any) {
		if r, ok := ev.(*network.EventResponseReceived); ok && r.Type == network.ResourceTypeDocument {
			if u, err := url.Parse(r.Response.URL); err == nil && u.Path == path {
				d.mu.Lock()
				d.statuses = append(d.statuses, int(r.Response.Status))
				d.mu.Unlock()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// nth waits for the nth page at the path and returns its status.
func (d *documentStatuses) nth(t *testing.T, n int) int {
	t.Helper()
	var got int
	testutil.Eventually(t, 30*time.Second, "the callback's answer", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.statuses) < n {
			return false
		}
		got = d.statuses[n-1]
		return true
	})
	return got
}

// TestOIDCSignIn: with OpenID Connect on, the sign-in page offers the
// provider's button; an allowed, verified email lands where it was going,
// signed in under its email, which the header shows and the audit log
// names; the flow's cookie is gone.
func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	var log testutil.Buffer
	o := setupOIDC(t, &log)
	o.seed(conn{name: "xero-acme"})
	ctx := o.browser

	o.open(ctx, "/console/keys")
	if p := o.path(ctx); !strings.HasPrefix(p, "/console/signin?next=") {
		t.Fatalf("unauthenticated /console/keys went to %s", p)
	}
	if got := o.text(ctx, "#oidc"); got != "Sign in with "+o.idpHost {
		t.Fatalf("the OpenID Connect button says %q", got)
	}
	o.submit(ctx, "#oidc")
	o.waitPath(ctx, "/console/keys")
	if got := o.text(ctx, ".who"); got != "alice@acme.com" {
		t.Errorf("the header names %q, want alice@acme.com", got)
	}
	o.open(ctx, "/console/")
	if names := o.rowNames(ctx); len(names) != 1 || names[0] != "xero-acme" {
		t.Errorf("the list shows %v", names)
	}
	c := o.sessionCookie(ctx)
	if c == nil || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
		t.Fatalf("session cookie %+v", c)
	}
	if o.cookie(ctx, "/console/oidc/callback", "tokenwarden_oidc") != nil {
		t.Error("the flow's cookie outlived the callback")
	}
	var lines []string
	for _, l := range auditLines(&log) {
		if strings.Contains(l, `msg="console: sign-in"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `by="oidc alice@acme.com"`) {
		t.Errorf("sign-in audit lines %q, want one by=\"oidc alice@acme.com\"", lines)
	}
	o.noSecret(ctx, oidcSecret)
	if leak := testutil.Leaked(log.String(), testutil.SecretForms("tw-console", oidcSecret)); leak != "" {
		t.Errorf("the log shows the OpenID Connect client secret (%q)", leak)
	}
}

// TestOIDCRefusesDisallowedEmail: a person the provider vouches for but
// the allow-list does not name, or whose email it has not verified, gets
// a page saying so, status 403, and no session.
func TestOIDCRefusesDisallowedEmail(t *testing.T) {
	t.Parallel()
	o := setupOIDC(t, nil)
	ctx := o.browser
	for i, p := range []struct {
		email    string
		verified bool
		says     string
	}{{"mallory@evil.example", true, "mallory@evil.example is not in TOKENS_OIDC_ALLOW"}, {"alice@acme.com", false, "has not verified alice@acme.com"}} {
		o.idp.SetOIDCUser(p.email, p.verified)
		o.signInOIDC("/console/oidc/callback")
		if status := o.callbacks.nth(t, i+1); status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", p.email, status)
		}
		if got := o.text(ctx, "h1"); got != "Not allowed" {
			t.Errorf("%s: page title %q", p.email, got)
		}
		if got := o.text(ctx, ".alert"); !strings.Contains(got, p.says) {
			t.Errorf("%s: page says %q", p.email, got)
		}
		if o.sessionCookie(ctx) != nil {
			t.Fatalf("%s got a session cookie", p.email)
		}
		o.open(ctx, "/console/")
		if p := o.path(ctx); !strings.HasPrefix(p, "/console/signin") {
			t.Errorf("after a refusal /console/ is at %s, want sign-in", p)
		}
	}
}

// TestOIDCCallbackRefusesForgedAndReplayedState: a callback this browser
// did not start, or one already used, signs nobody in.
func TestOIDCCallbackRefusesForgedAndReplayedState(t *testing.T) {
	t.Parallel()
	o := setupOIDC(t, nil)
	ctx := o.browser
	if status := o.open(ctx, "/console/oidc/callback?state=forged-state&code=code-forged"); status != http.StatusBadRequest {
		t.Errorf("forged state: status %d, want 400", status)
	}
	if got := o.text(ctx, "h1"); got != "Sign-in failed" {
		t.Errorf("forged state: page title %q", got)
	}
	if o.sessionCookie(ctx) != nil {
		t.Fatal("a forged callback got a session cookie")
	}

	o.signInOIDC("/console/")
	_, callback := o.idpLog.last(t)
	o.submit(ctx, ".signout button")
	if o.sessionCookie(ctx) != nil {
		t.Fatal("signed out, the session cookie is still there")
	}
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(callback))
	if err != nil || resp.Status != http.StatusBadRequest {
		t.Errorf("replayed callback: %v %v, want status 400", resp, err)
	}
	if got := o.text(ctx, ".alert"); !strings.Contains(got, "not started in this browser") {
		t.Errorf("replayed callback: page says %q", got)
	}
	if o.sessionCookie(ctx) != nil {
		t.Error("a replayed callback got a session cookie")
	}
}

// TestOIDCBesideAdminKey: with OpenID Connect on, an admin key still
// signs in, and the console is on even once no admin key is left.
func TestOIDCBesideAdminKey(t *testing.T) {
	t.Parallel()
	o := setupOIDC(t, nil)
	ctx := o.browser
	o.signIn(ctx)
	if got := o.text(ctx, ".who"); got != "ops" {
		t.Errorf("signed in with the admin key, the header names %q", got)
	}
	keys, err := o.backend.ListAPIKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := o.backend.RevokeAPIKey(t.Context(), k.ID); err != nil {
			t.Fatal(err)
		}
	}
	if status := o.open(ctx, "/console/signin"); status != http.StatusOK {
		t.Errorf("no admin key left, OpenID Connect on: sign-in page status %d, want 200", status)
	}
	o.signInOIDC("/console/")
	if got := o.text(ctx, ".who"); got != "alice@acme.com" {
		t.Errorf("the header names %q", got)
	}
}

// TestOIDCProviderDown: a provider that does not answer fails only its
// own sign-in, with a page that says so and offers the admin key, which
// still works.
func TestOIDCProviderDown(t *testing.T) {
	t.Parallel()
	o := setupOIDC(t, nil)
	ctx := o.browser
	o.idpServer.Close()
	o.open(ctx, "/console/signin")
	if status := o.submit(ctx, "#oidc"); status != http.StatusBadGateway {
		t.Errorf("provider down: status %d, want 502", status)
	}
	if got := o.text(ctx, ".alert"); !strings.Contains(got, "could not be reached") {
		t.Errorf("provider down: page says %q", got)
	}
	if o.cookie(ctx, "/console/oidc/callback", "tokenwarden_oidc") != nil || o.sessionCookie(ctx) != nil {
		t.Error("provider down: a cookie was set")
	}
	o.signIn(ctx)
	if got := o.text(ctx, ".who"); got != "ops" {
		t.Errorf("the admin key beside a provider that is down: header names %q", got)
	}
}

// TestOIDCFlowCookie: the flow's cookie is HttpOnly, SameSite=Lax, sent
// only to /console/oidc/, lasts ten minutes, and is Secure under an https
// TOKENS_PUBLIC_URL. Checked on the answer over HTTP, as the session
// cookie is (TestSessionCookieSecureUnderHTTPS).
func TestOIDCFlowCookie(t *testing.T) {
	t.Parallel()
	o := setupOIDC(t, nil)
	for publicURL, secure := range map[string]bool{"https://tokens.example.com": true, "http://tokens.example.com": false} {
		h := console.New(console.Config{Backend: o.backend, PublicURL: publicURL, Logger: testutil.Quiet()})
		status, flow := postForCookie(t, h, publicURL+"/console/oidc/start", url.Values{"next": {"/console/keys"}}, "tokenwarden_oidc")
		if status != http.StatusOK {
			t.Errorf("%s: start answered %d, want 200 (the page that moves on to the provider)", publicURL, status)
			continue
		}
		switch {
		case flow == nil || flow.Value == "":
			t.Errorf("%s: no flow cookie", publicURL)
		case flow.Secure != secure || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode ||
			flow.Path != "/console/oidc/" || flow.MaxAge != 600:
			t.Errorf("%s: flow cookie Secure=%v HttpOnly=%v SameSite=%v Path=%q MaxAge=%d", publicURL,
				flow.Secure, flow.HttpOnly, flow.SameSite, flow.Path, flow.MaxAge)
		}
	}
}
