package console_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/browsertest"
	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/internal/connfile"
	"github.com/tokenwarden/tokenwarden/internal/console"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/model"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

// encryptionKey seals the test connections' secrets.
var encryptionKey = "k1:" + strings.Repeat("A", 43) + "="

// clientSecret is the secret of every test connection: no page may show it.
const clientSecret = "cs-SECRET-never-on-a-page"

// bundle is one test's world: a database, the application on it, the
// mock provider, the console served as `worker serve` serves it, and a
// browser.
type bundle struct {
	t       *testing.T
	dsn     string
	app     *app.App
	backend console.Backend
	// base is the console server's URL; prefix is the path of
	// TOKENS_PUBLIC_URL (base+prefix), "" unless a test sets one.
	base, prefix string
	mock         *mockprovider.Server
	mockURL      string
	// authorizes records what the browser sent to the provider's
	// /authorize, and where it was sent back.
	authorizes *authorizeLog
	adminKey   string
	// browser drives the test's Chromium; every action is bounded by the
	// test's deadline.
	browser context.Context
}

// setup makes a bundle with an admin key. The cleanups run in reverse:
// the browser closes first, so its live streams end before the server
// stops, and the application closes last.
func setup(t *testing.T) *bundle {
	t.Helper()
	return setupAt(t, "")
}

// setupAt makes a bundle whose TOKENS_PUBLIC_URL has the path prefix.
func setupAt(t *testing.T, prefix string) *bundle {
	t.Helper()
	return setupWith(t, options{prefix: prefix})
}

// options are what a test's world may differ in.
type options struct {
	// prefix is the path of TOKENS_PUBLIC_URL.
	prefix string
	// env adds to the application's settings.
	env map[string]string
	// wrap, when set, stands between the console and the application.
	wrap func(console.Backend) console.Backend
	// log receives the console's log; nil discards it.
	log *testutil.Buffer
}

// setupWith makes a bundle as o says.
func setupWith(t *testing.T, o options) *bundle {
	t.Helper()
	prefix := o.prefix
	b := &bundle{t: t, dsn: pgtest.New(t), prefix: prefix}
	b.mock = mockprovider.New(mockprovider.Options{Lifetime: time.Hour, Rotate: true})
	b.authorizes = &authorizeLog{}
	mock := httptest.NewServer(b.authorizes.wrap(b.mock))
	t.Cleanup(mock.Close)
	b.mockURL = mock.URL

	srv := httptest.NewUnstartedServer(nil)
	b.base = "http://" + srv.Listener.Addr().String()
	env := map[string]string{
		"DATABASE_URL": b.dsn, "TOKENS_ENCRYPTION_KEYS": encryptionKey,
		"TOKENS_ALLOW_INSECURE_HTTP": "true", "TOKENS_PUBLIC_URL": b.base + prefix,
	}
	for k, v := range o.env {
		env[k] = v
	}
	cfg, err := config.LoadFrom(env)
	if err != nil {
		t.Fatal(err)
	}
	b.app, err = app.Open(t.Context(), cfg, testutil.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.app.Close(); err != nil {
			t.Error(err)
		}
	})
	b.backend = b.app
	if o.wrap != nil {
		b.backend = o.wrap(b.app)
	}
	logger := testutil.Quiet()
	if o.log != nil {
		logger = slog.New(slog.NewTextHandler(o.log, nil))
	}
	// Served as `worker serve` serves it: the console's paths mounted in
	// front of the rest (here nothing).
	srv.Config.Handler = console.Mount(http.NotFoundHandler(),
		console.Config{Backend: b.backend, PublicURL: b.base + prefix, Logger: logger})
	srv.Start()
	t.Cleanup(srv.Close)

	b.adminKey, err = b.backend.CreateAPIKey(t.Context(), console.NewAPIKey{Label: "ops", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(browsertest.New(t), 90*time.Second)
	t.Cleanup(cancel)
	b.browser = ctx
	return b
}

// authorizeLog records each visit to the provider's /authorize: its
// Referer, and the callback URL it redirected to.
type authorizeLog struct {
	mu        sync.Mutex
	referers  []string
	callbacks []string
}

func (l *authorizeLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.URL.Path == "/authorize" {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.referers = append(l.referers, r.Referer())
			l.callbacks = append(l.callbacks, w.Header().Get("Location"))
		}
	})
}

// last returns the last visit's Referer and callback URL.
func (l *authorizeLog) last(t *testing.T) (referer, callback string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.callbacks) == 0 {
		t.Fatal("the browser never reached the provider's /authorize")
	}
	return l.referers[len(l.referers)-1], l.callbacks[len(l.callbacks)-1]
}

// conn is a connection to seed.
type conn struct {
	name, status string
}

// seed imports connections refreshing at the mock provider; each has
// its own refresh token rt-<name> and access token at-<name>.
func (b *bundle) seed(conns ...conn) {
	b.t.Helper()
	var lines []string
	for _, c := range conns {
		status := c.status
		if status == "" {
			status = model.StatusActive
		}
		rec := fmt.Sprintf(`{"name":%q,"provider":"oauth2","token_url":%q,"authorize_url":%q,"client_id":"client-1",`+
			`"client_secret":%q,"refresh_token":"rt-%s","access_token":"at-%s","expires_in":3600,"status":%q}`,
			c.name, b.mockURL+"/token", b.mockURL+"/authorize", clientSecret, c.name, c.name, status)
		lines = append(lines, rec)
	}
	rd := connfile.NewReader(strings.NewReader(strings.Join(lines, "\n")), b.app.Catalogue(), time.Now())
	if _, err := b.app.Import(b.t.Context(), rd.Next, app.ImportOptions{}); err != nil {
		b.t.Fatal(err)
	}
}

// stored reads a connection through the application, as a page does.
func (b *bundle) stored(name string) *model.OAuthToken {
	b.t.Helper()
	c, err := b.backend.Connection(b.t.Context(), name)
	if err != nil {
		b.t.Fatalf("read %s: %v", name, err)
	}
	return c
}

// do runs browser steps, failing the test with what was being done.
func (b *bundle) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.browser, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// open navigates to path and returns the answer's HTTP status.
func (b *bundle) open(ctx context.Context, path string) int {
	b.t.Helper()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+b.prefix+path))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	return int(resp.Status)
}

// submit clicks the button sel, which sends a form, and returns the
// status of the page it leads to.
func (b *bundle) submit(ctx context.Context, sel string) int {
	b.t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
	return int(resp.Status)
}

// text returns the visible text of the first element sel matches.
func (b *bundle) text(ctx context.Context, sel string) string {
	b.t.Helper()
	return browsertest.Text(b.t, ctx, sel)
}

// path returns the browser's current path and query, without the
// prefix.
func (b *bundle) path(ctx context.Context) string {
	b.t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimPrefix(u.RequestURI(), b.prefix)
}

// waitPath waits until the browser is at a URL whose path is p: the
// end of a chain of redirects and pages that move on by themselves.
// Polling in the page cannot wait across those navigations (each drops
// the page's script context), so the test polls the browser's location.
func (b *bundle) waitPath(ctx context.Context, p string) {
	b.t.Helper()
	// At p and loaded: a click aimed at a document still loading can find
	// its node replaced ("Could not find node with given id").
	testutil.Eventually(b.t, 30*time.Second, "the browser at "+p, func() bool {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			return false
		}
		u, err := url.Parse(loc)
		if err != nil || u.Path != b.prefix+p {
			return false
		}
		state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState`))
		return err == nil && state == "complete"
	})
	// The page has arrived; let it load before it is read.
	if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
		b.t.Fatalf("load %s: %v", p, err)
	}
}

// signIn signs in with the admin key, from the sign-in page.
func (b *bundle) signIn(ctx context.Context) {
	b.t.Helper()
	b.open(ctx, "/console/signin")
	resp, err := chromedp.RunResponse(ctx, chromedp.SendKeys(chromedp.ID("key"), b.adminKey),
		chromedp.Click(chromedp.CSS(`#key ~ button[type=submit]`)))
	if err != nil {
		b.t.Fatalf("sign in: %v", err)
	}
	if resp.Status != http.StatusOK || b.path(ctx) != "/console/" {
		b.t.Fatalf("sign in: status %d at %s", int(resp.Status), b.path(ctx))
	}
}

// set sets the value of the form field with the given id, as a person
// choosing or typing it would, and fails the test if the field refuses.
func (b *bundle) set(ctx context.Context, id, value string) {
	b.t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(
		`(e => { e.value = %q; e.dispatchEvent(new Event("change", {bubbles: true})); return e.value })(document.getElementById(%q))`, value, id)))
	if err != nil || got != value {
		b.t.Fatalf("set #%s to %q: got %q, %v", id, value, got, err)
	}
}

// signedInAt signs in and opens the console's page at path.
func (b *bundle) signedInAt(path string) context.Context {
	b.t.Helper()
	b.signIn(b.browser)
	b.open(b.browser, path)
	return b.browser
}

// rowNames returns the names of the list's rows, in order.
func (b *bundle) rowNames(ctx context.Context) []string {
	b.t.Helper()
	names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#connections tbody tr[data-name]")).map(tr => tr.dataset.name)`))
	if err != nil {
		b.t.Fatal(err)
	}
	return names
}

// pageHTML returns the page's whole HTML, to look for secrets in.
func (b *bundle) pageHTML(ctx context.Context) string {
	b.t.Helper()
	h, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		b.t.Fatal(err)
	}
	return h
}

// noSecret fails the test if the page shows any form of a secret.
func (b *bundle) noSecret(ctx context.Context, secrets ...string) {
	b.t.Helper()
	forms := testutil.SecretForms("client-1", clientSecret, secrets...)
	if leak := testutil.Leaked(b.pageHTML(ctx), forms); leak != "" {
		b.t.Errorf("page %s shows a secret (%q)", b.path(ctx), leak)
	}
}

// sessionCookie returns the browser's console cookie, nil when none.
func (b *bundle) sessionCookie(ctx context.Context) *network.Cookie {
	b.t.Helper()
	return b.cookie(ctx, "/console/", "tokenwarden_session")
}

// cookie returns the browser's cookie name that a request to path would
// carry, nil when none.
func (b *bundle) cookie(ctx context.Context, path, name string) *network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + b.prefix + path}})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// consumer opens the consumer library on the test's database.
func (b *bundle) consumer() *tokens.Client {
	b.t.Helper()
	keys, err := tokens.ParseKeys(encryptionKey)
	if err != nil {
		b.t.Fatal(err)
	}
	c, err := tokens.Open(b.t.Context(), b.dsn, &tokens.Options{EncryptionKeys: keys, PollOnly: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { c.Close() })
	return c
}

// consentReachesConsumers checks that the provider issued one token at
// consent and that a consumer's Get of the connection returns it, and
// returns what was issued.
func (b *bundle) consentReachesConsumers(name string) mockprovider.Issued {
	b.t.Helper()
	issued := b.mock.Authorized()
	if len(issued) != 1 {
		b.t.Fatalf("provider issued %d authorization-code tokens, want 1", len(issued))
	}
	tok, err := b.consumer().Get(b.t.Context(), name)
	if err != nil {
		b.t.Fatal(err)
	}
	if tok.AccessToken != issued[0].AccessToken {
		b.t.Errorf("a consumer's Get of %s does not return the token the provider issued at consent", name)
	}
	return issued[0]
}

// TestSignIn: the console sends a person without a session to sign in,
// refuses a wrong key, and after the admin key lands them where they were
// going, with an HttpOnly, SameSite=Lax session cookie.
func TestSignIn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "xero-acme"})
	ctx := b.browser

	b.open(ctx, "/console/keys")
	if p := b.path(ctx); !strings.HasPrefix(p, "/console/signin?next=") {
		t.Fatalf("unauthenticated /console/keys went to %s, want the sign-in page", p)
	}
	browsertest.Screenshot(t, ctx, "signin")

	status, err := chromedp.RunResponse(ctx, chromedp.SendKeys(chromedp.ID("key"), "tw_not-a-key"), chromedp.Submit(chromedp.ID("key")))
	if err != nil {
		t.Fatal(err)
	}
	if status.Status != http.StatusUnauthorized {
		t.Errorf("wrong key: status %d, want 401", int(status.Status))
	}
	if got := b.text(ctx, ".alert"); !strings.Contains(got, "not a valid admin key") {
		t.Errorf("wrong key: page says %q", got)
	}
	if b.sessionCookie(ctx) != nil {
		t.Fatal("a wrong key got a session cookie")
	}

	if _, err := chromedp.RunResponse(ctx, chromedp.SendKeys(chromedp.ID("key"), b.adminKey), chromedp.Submit(chromedp.ID("key"))); err != nil {
		t.Fatal(err)
	}
	if p := b.path(ctx); p != "/console/keys" {
		t.Errorf("after sign-in at %s, want /console/keys (where the person was going)", p)
	}
	if got := b.text(ctx, "h1"); got != "API keys" {
		t.Errorf("after sign-in the page is %q", got)
	}
	c := b.sessionCookie(ctx)
	switch {
	case c == nil:
		t.Fatal("no session cookie after sign-in")
	case !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || c.Session:
		t.Errorf("session cookie: HttpOnly=%v SameSite=%v Path=%q session-only=%v; want HttpOnly, Lax, /, expiring",
			c.HTTPOnly, c.SameSite, c.Path, c.Session)
	case c.Secure:
		t.Error("session cookie is Secure under an http TOKENS_PUBLIC_URL: the browser would never send it")
	}
	// A key is tw_<id>_<secret>; the keys page shows the id.
	b.noSecret(ctx, b.adminKey[strings.LastIndex(b.adminKey, "_")+1:])
}

// TestConsoleOffWithoutAdminKey: before any admin key exists, every
// console page says how to turn it on, with status 404.
func TestConsoleOffWithoutAdminKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	keys, err := b.backend.ListAPIKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := b.backend.RevokeAPIKey(t.Context(), k.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"/console/", "/console/signin", "/console/keys"} {
		if status := b.open(b.browser, p); status != http.StatusNotFound {
			t.Errorf("%s without an admin key: status %d, want 404", p, status)
		}
		if got := b.text(b.browser, "main"); !strings.Contains(got, "worker apikey create --admin") {
			t.Errorf("%s without an admin key says %q", p, got)
		}
	}
}

// TestFilterList: the counts link to their status, and the filter form
// narrows the list by status, provider and name (glob or substring).
func TestFilterList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "xero-acme"}, conn{name: "xero-beta"}, conn{name: "hubspot-acme", status: model.StatusNeedsReauth},
		conn{name: "gmail-ops", status: model.StatusDisabled})
	ctx := b.browser
	b.signIn(ctx)

	if got := b.rowNames(ctx); len(got) != 4 {
		t.Fatalf("unfiltered list shows %v, want the 4 connections", got)
	}
	if got := strings.Join(strings.Fields(b.text(ctx, `.counts a[href="/console/?status=needs_reauth"]`)), " "); got != "1 needs_reauth" {
		t.Errorf("needs_reauth count reads %q, want \"1 needs_reauth\"", got)
	}
	browsertest.Screenshot(t, ctx, "connections")

	b.submit(ctx, `.counts a[href="/console/?status=needs_reauth"]`)
	if got := b.rowNames(ctx); !slices.Equal(got, []string{"hubspot-acme"}) {
		t.Errorf("needs_reauth list shows %v", got)
	}

	for _, tc := range []struct {
		status, name string
		want         []string
	}{
		{"", "xero-*", []string{"xero-acme", "xero-beta"}},
		{"", "ACME", []string{"hubspot-acme", "xero-acme"}},
		{"active", "acme", []string{"xero-acme"}},
		{"disabled", "", []string{"gmail-ops"}},
		{"", "nothing-like-it", nil},
	} {
		b.open(ctx, "/console/")
		b.set(ctx, "f-status", tc.status)
		b.set(ctx, "f-name", tc.name)
		b.submit(ctx, `.filters button[type=submit]`)
		got := b.rowNames(ctx)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("status %q name %q: list shows %v, want %v", tc.status, tc.name, got, tc.want)
		}
		if tc.want == nil {
			if msg := b.text(ctx, "#connections tbody"); msg != "No connection matches." {
				t.Errorf("empty list says %q", msg)
			}
		}
	}
}

// TestPagination: pages of 50, soonest expiry first; Next follows the
// cursor and First page comes back.
func TestPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var conns []conn
	for i := range 53 {
		conns = append(conns, conn{name: fmt.Sprintf("c-%02d", i)})
	}
	b.seed(conns...)
	ctx := b.browser
	b.signIn(ctx)
	first := b.rowNames(ctx)
	if len(first) != 50 {
		t.Fatalf("first page has %d rows, want 50", len(first))
	}
	b.submit(ctx, `a[rel=next]`)
	second := b.rowNames(ctx)
	if len(second) != 3 {
		t.Fatalf("second page has %d rows (%v), want 3", len(second), second)
	}
	for _, n := range second {
		if slices.Contains(first, n) {
			t.Errorf("%s is on both pages", n)
		}
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("a[rel=next]").length`)); err != nil || n != 0 {
		t.Errorf("last page has a Next link (%d, %v)", n, err)
	}
	b.submit(ctx, `.pager a:not([rel])`)
	if got := b.rowNames(ctx); !slices.Equal(got, first) {
		t.Errorf("First page shows %v, want %v", got, first)
	}
}

// TestOpenConnection: a row's name opens the connection's page, with its
// fields, its events and no secret.
func TestOpenConnection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "xero-acme"}, conn{name: "xero-beta"})
	if _, err := b.backend.Refresh(t.Context(), "xero-acme"); err != nil {
		t.Fatal(err)
	}
	ctx := b.browser
	b.signIn(ctx)
	b.submit(ctx, `a.name[href="/console/connections/xero-acme"]`)
	if p := b.path(ctx); p != "/console/connections/xero-acme" {
		t.Fatalf("at %s", p)
	}
	fields := b.text(ctx, ".fields")
	for _, want := range []string{"oauth2", "client-1", b.mockURL + "/token", b.mockURL + "/authorize", "refresh_token"} {
		if !strings.Contains(fields, want) {
			t.Errorf("fields do not show %q:\n%s", want, fields)
		}
	}
	if v := b.text(ctx, "#version"); v != fmt.Sprint(b.stored("xero-acme").Version) {
		t.Errorf("version shown %q, stored %d", v, b.stored("xero-acme").Version)
	}
	if got := b.text(ctx, ".events tbody"); !strings.Contains(got, "success") {
		t.Errorf("events timeline shows %q, want the refresh's success", got)
	}
	browsertest.Screenshot(t, ctx, "connection")
	latest := b.mock.Current("rt-xero-acme")
	b.noSecret(ctx, "rt-xero-acme", "at-xero-acme", latest)
}

// TestRefreshNow: the button refreshes at the provider and the page shows
// the new version.
func TestRefreshNow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "xero-acme"})
	before := b.stored("xero-acme").Version
	ctx := b.signedInAt("/console/connections/xero-acme")
	if status := b.submit(ctx, `form[action$="/refresh"] button`); status != http.StatusOK {
		t.Errorf("refresh: status %d", status)
	}
	if got := b.text(ctx, ".flash"); got != "Refreshed." {
		t.Errorf("after refresh the page says %q", got)
	}
	after := b.stored("xero-acme").Version
	if after <= before {
		t.Fatalf("version %d after refresh, was %d", after, before)
	}
	if got := b.text(ctx, "#version"); got != fmt.Sprint(after) {
		t.Errorf("page shows version %q, stored %d", got, after)
	}
	if b.mock.Successes() != 1 {
		t.Errorf("provider saw %d successful refreshes, want 1", b.mock.Successes())
	}
}

// TestDisableEnableDelete: the actions change the connection, and delete
// needs the name typed exactly, checked by the server.
func TestDisableEnableDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "xero-acme"})
	ctx := b.signedInAt("/console/connections/xero-acme")
	if got := b.text(ctx, `form[action$="/disable"] .hint`); !strings.Contains(got, "consumers get no token") || !strings.Contains(got, "ErrDisabled") {
		t.Errorf("Disable's hint says %q, want that consumers get ErrDisabled", got)
	}

	b.submit(ctx, `form[action$="/disable"] button`)
	if got := b.text(ctx, "#status"); got != "disabled" {
		t.Errorf("after Disable the page shows %q", got)
	}
	if s := b.stored("xero-acme").Status; s != model.StatusDisabled {
		t.Errorf("after Disable the status is %s", s)
	}
	// What the hint says: a consumer gets no token, not the current one.
	if _, err := b.consumer().Get(t.Context(), "xero-acme"); !errors.Is(err, tokens.ErrDisabled) {
		t.Errorf("a consumer's Get of a disabled connection: %v, want ErrDisabled", err)
	}
	b.submit(ctx, `form[action$="/enable"] button`)
	if s := b.stored("xero-acme").Status; s != model.StatusActive {
		t.Errorf("after Enable the status is %s", s)
	}
	if got := b.text(ctx, "#status"); got != "active" {
		t.Errorf("after Enable the page shows %q", got)
	}

	// A name that is not quite it passes the browser (the field is only
	// required): the server refuses it.
	b.do("type the wrong name", chromedp.SendKeys(chromedp.ID("confirm"), "xero-acm"))
	if status := b.submit(ctx, `form[action$="/delete"] button`); status != http.StatusBadRequest {
		t.Errorf("delete with the wrong name: status %d, want 400", status)
	}
	if got := b.text(ctx, ".alert"); !strings.Contains(got, "Not deleted") {
		t.Errorf("delete with the wrong name says %q", got)
	}
	b.stored("xero-acme")

	b.do("type the name", chromedp.SendKeys(chromedp.ID("confirm"), "xero-acme"))
	b.submit(ctx, `form[action$="/delete"] button`)
	if got := b.text(ctx, ".flash"); got != "Deleted xero-acme." {
		t.Errorf("after delete the page says %q", got)
	}
	if _, err := b.backend.Connection(t.Context(), "xero-acme"); err == nil {
		t.Error("the connection is still stored after delete")
	}
}

// TestReconnectNeedsReauth: Reconnect takes the operator through the
// provider's consent and back to the connection, now active with new
// tokens that a consumer reads and the provider accepts. The provider
// is never told where the browser came from.
func TestReconnectNeedsReauth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "hubspot-acme", status: model.StatusNeedsReauth})
	before := b.stored("hubspot-acme")
	ctx := b.signedInAt("/console/connections/hubspot-acme")
	if got := b.text(ctx, ".alert.warning"); !strings.Contains(got, "needs a person to reconnect") {
		t.Errorf("a needs_reauth connection warns %q", got)
	}
	if got := b.text(ctx, ".actions-card button.primary"); got != "Reconnect" {
		t.Errorf("a needs_reauth connection's main action is %q, want Reconnect", got)
	}
	b.submit(ctx, `form[action$="/reconnect"] button`)
	b.waitPath(ctx, "/console/connections/hubspot-acme")
	if got := b.text(ctx, ".flash"); !strings.HasPrefix(got, "Connected") {
		t.Errorf("back from consent the page says %q", got)
	}
	if got := b.text(ctx, "#status"); got != "active" {
		t.Errorf("back from consent the status shown is %q", got)
	}
	after := b.stored("hubspot-acme")
	if after.Status != model.StatusActive || after.Version <= before.Version || after.ID != before.ID {
		t.Errorf("after reconnect: status %s version %d (was %d), same row %v", after.Status, after.Version, before.Version, after.ID == before.ID)
	}
	issued := b.consentReachesConsumers("hubspot-acme")
	// The provider's API accepts the new access token...
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.mockURL+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+issued.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the provider's API answered %d to the reconnected access token", resp.StatusCode)
	}
	// ... and the new refresh token refreshes.
	if _, err := b.backend.Refresh(t.Context(), "hubspot-acme"); err != nil {
		t.Errorf("refresh with the reconnected refresh token: %v", err)
	}
	if referer, _ := b.authorizes.last(t); referer != "" {
		t.Errorf("the provider was sent Referer %q", referer)
	}
	b.noSecret(ctx, issued.AccessToken, issued.RefreshToken)
}

// TestCallbackRefusesForgedAndReplayedState: a callback whose state was
// never issued, or was already used, shows an error page and changes
// nothing.
func TestCallbackRefusesForgedAndReplayedState(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "hubspot-acme", status: model.StatusNeedsReauth})
	ctx := b.browser
	b.signIn(ctx)

	before := b.stored("hubspot-acme")
	if status := b.open(ctx, "/oauth/callback?state=forged-state&code=code-forged"); status != http.StatusBadRequest {
		t.Errorf("forged state: status %d, want 400", status)
	}
	if got := b.text(ctx, "h1"); got != "Authorization failed" {
		t.Errorf("forged state: page title %q", got)
	}
	// One sentence after another, each capitalized and ended.
	if got := b.text(ctx, ".alert"); got != "This authorization is unknown, already completed or expired (each lasts 10 minutes); nothing was stored: start it again." {
		t.Errorf("forged state: page says %q", got)
	}
	if after := b.stored("hubspot-acme"); after.Version != before.Version || after.Status != before.Status {
		t.Errorf("forged state changed the connection: version %d→%d, status %s→%s", before.Version, after.Version, before.Status, after.Status)
	}

	b.open(ctx, "/console/connections/hubspot-acme")
	b.submit(ctx, `form[action$="/reconnect"] button`)
	b.waitPath(ctx, "/console/connections/hubspot-acme")
	_, callback := b.authorizes.last(t)
	done := b.stored("hubspot-acme")
	if status, err := chromedp.Run(ctx, chromedp.NavigateResponse(callback)); err != nil || status.Status != http.StatusBadRequest {
		t.Errorf("replayed callback: %v %v, want status 400", status, err)
	}
	if got := b.text(ctx, "h1"); got != "Authorization failed" {
		t.Errorf("replayed callback: page title %q", got)
	}
	if after := b.stored("hubspot-acme"); after.Version != done.Version {
		t.Errorf("replayed callback changed the connection: version %d→%d", done.Version, after.Version)
	}
}

// TestReconnectLink: the console makes a link, shown once; a person with
// no session opens it (a GET changes nothing), presses its one button,
// goes through consent and is told it is done; the link then refuses.
func TestReconnectLink(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "hubspot-acme", status: model.StatusNeedsReauth})
	ctx := b.signedInAt("/console/connections/hubspot-acme")
	b.set(ctx, "ttl", "30m")
	b.submit(ctx, `form[action$="/link"] button`)
	link, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("link-url")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, b.base+"/connect/") {
		t.Fatalf("link %q is not under TOKENS_PUBLIC_URL/connect/", link)
	}
	path := strings.TrimPrefix(link, b.base)

	owner := browsertest.NewTab(t, ctx)
	for range 2 { // a link preview's GET, then the person's
		if status := b.open(owner, path); status != http.StatusOK {
			t.Fatalf("GET of the link: status %d", status)
		}
	}
	if got := b.text(owner, "h1"); got != "Reconnect hubspot-acme" {
		t.Errorf("link page title %q", got)
	}
	if got := b.text(owner, "main"); !strings.Contains(got, "oauth2") {
		t.Errorf("link page does not name the provider: %q", got)
	}
	if n, err := chromedp.Run(owner, chromedp.Evaluate[int](`document.querySelectorAll("main form button").length`)); err != nil || n != 1 {
		t.Errorf("link page has %d buttons (%v), want one", n, err)
	}
	// A generic connection's button names its consent page's host, not
	// the template's id.
	if got, want := b.text(owner, "main form button"), "Continue to "+strings.TrimPrefix(b.mockURL, "http://"); got != want {
		t.Errorf("link page's button reads %q, want %q", got, want)
	}
	if b.stored("hubspot-acme").Status != model.StatusNeedsReauth {
		t.Fatal("opening the link changed the connection")
	}
	browsertest.Screenshot(t, owner, "link")

	b.submit(owner, `main form button`)
	b.waitPath(owner, "/oauth/callback")
	if got := b.text(owner, ".success"); !strings.Contains(got, "hubspot-acme is authorized again") {
		t.Errorf("after consent the owner sees %q", got)
	}
	if c := b.stored("hubspot-acme"); c.Status != model.StatusActive {
		t.Errorf("after the link's consent the status is %s", c.Status)
	}
	b.consentReachesConsumers("hubspot-acme")
	if n, err := chromedp.Run(owner, chromedp.Evaluate[int](`document.querySelectorAll(".top nav").length`)); err != nil || n != 0 {
		t.Errorf("the owner, with no session, sees the console's navigation (%d, %v)", n, err)
	}
	if referer, _ := b.authorizes.last(t); referer != "" {
		t.Errorf("the provider was sent Referer %q: the link would leak", referer)
	}

	version := b.stored("hubspot-acme").Version
	if status := b.open(owner, path); status != http.StatusGone {
		t.Errorf("used link: status %d, want 410", status)
	}
	if got := b.text(owner, "h1"); got != "Link no longer valid" {
		t.Errorf("used link: page title %q", got)
	}
	if resp, err := http.Post(link, "application/x-www-form-urlencoded", nil); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusGone {
			t.Errorf("POST of a used link: status %d, want 410", resp.StatusCode)
		}
	}
	if c := b.stored("hubspot-acme"); c.Version != version {
		t.Errorf("the used link changed the connection: version %d→%d", version, c.Version)
	}
}

// TestConnectNewConnection: the connect form goes through the provider's
// consent and lands on the new connection. A refused form comes back
// without the client secret, and says so.
func TestConnectNewConnection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := b.signedInAt("/console/connect")
	fill := func(name string) {
		b.set(ctx, "name", name)
		b.set(ctx, "provider", "oauth2")
		b.set(ctx, "client_id", "client-1")
		b.do("type the secret", chromedp.SendKeys(chromedp.ID("client_secret"), clientSecret))
		b.set(ctx, "scopes", "read write")
		b.set(ctx, "authorize_url-oauth2", b.mockURL+"/authorize")
		b.set(ctx, "token_url-oauth2", b.mockURL+"/token")
	}
	// Each template shows its own parameters only (Microsoft's tenant).
	b.set(ctx, "provider", "microsoft")
	visible := func(id string) bool {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.getElementById(%q).offsetParent !== null`, id)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if !visible("param-microsoft-tenant") || visible("authorize_url-oauth2") {
		t.Errorf("with microsoft chosen: tenant shown %v, generic URLs shown %v", visible("param-microsoft-tenant"), visible("authorize_url-oauth2"))
	}
	fill("not a name")
	if status := b.submit(ctx, `#connect-form button[type=submit]`); status != http.StatusBadRequest {
		t.Errorf("bad name: status %d, want 400", status)
	}
	if got := b.text(ctx, ".alert"); !strings.HasPrefix(got, "Not connected") {
		t.Errorf("bad name: page says %q", got)
	}
	if got := b.text(ctx, "#secret-hint"); !strings.Contains(got, "enter it again") {
		t.Errorf("bad name: the secret's hint says %q", got)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("client_secret"))); v != "" {
		t.Error("the refused form came back with the client secret filled in")
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("name"))); v != "not a name" {
		t.Errorf("the refused form lost the name: %q", v)
	}
	b.noSecret(ctx)

	b.set(ctx, "client_secret", "")
	fill("new-conn")
	browsertest.Screenshot(t, ctx, "connect")
	b.submit(ctx, `#connect-form button[type=submit]`)
	b.waitPath(ctx, "/console/connections/new-conn")
	if got := b.text(ctx, ".flash"); !strings.HasPrefix(got, "Connected") {
		t.Errorf("after consent the page says %q", got)
	}
	c := b.stored("new-conn")
	if c.Status != model.StatusActive || deref(c.ClientID) != "client-1" || deref(c.Scopes) != "read write" {
		t.Errorf("stored: status %s client %q scopes %q", c.Status, deref(c.ClientID), deref(c.Scopes))
	}
	issued := b.consentReachesConsumers("new-conn")
	b.noSecret(ctx, issued.AccessToken, issued.RefreshToken)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// TestPostWithoutCSRFTokenIsRefused: a state-changing request without
// the session's CSRF token, from a script or a form, gets 403 and a page
// saying so, and changes nothing.
func TestPostWithoutCSRFTokenIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "xero-acme"})
	ctx := b.signedInAt("/console/connections/xero-acme")

	for _, header := range []string{"", "wrong-token"} {
		status, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`fetch("/console/connections/xero-acme/disable", {
			method: "POST", headers: %q ? {"X-CSRF-Token": %q} : {}, redirect: "manual"}).then(r => r.status)`, header, header),
			chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusForbidden {
			t.Errorf("fetch POST with token %q: status %d, want 403", header, status)
		}
	}
	b.do("drop the form's token", chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action$="/disable"] input[name=csrf]').remove()`))
	if status := b.submit(ctx, `form[action$="/disable"] button`); status != http.StatusForbidden {
		t.Errorf("form without its token: status %d, want 403", status)
	}
	if got := b.text(ctx, "h1"); got != "Request refused" {
		t.Errorf("form without its token: page title %q", got)
	}
	if s := b.stored("xero-acme").Status; s != model.StatusActive {
		t.Errorf("a refused POST changed the status to %s", s)
	}
}

// TestSignInRefusesCrossSitePost: a sign-in posted from another site is
// refused before the key is looked at.
func TestSignInRefusesCrossSitePost(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.base+"/console/signin",
		strings.NewReader(url.Values{"key": {b.adminKey}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site sign-in: status %d, want 403", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "tokenwarden_session" && c.Value != "" {
			t.Error("a cross-site sign-in got a session cookie")
		}
	}
}

// TestSecurityHeaders: every answer forbids framing, inline script,
// referrers and caching.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, p := range []string{"/console/signin", "/connect/unknown-link", "/oauth/callback?state=x", "/console/static/console.css"} {
		resp, err := http.Get(b.base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "form-action 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", p, csp, want)
			}
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
			"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", p, k, got, want)
			}
		}
	}
}

// TestLiveUpdate: a change made elsewhere shows in the list's row, and
// on the connection's page, without a reload.
func TestLiveUpdate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "xero-acme"}, conn{name: "xero-beta"})
	ctx := b.browser
	b.signIn(ctx)
	b.waitLive(ctx)
	cell := `document.querySelector('#connections tr[data-name="xero-acme"] td:nth-child(5)').textContent`
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](cell))
	if err != nil {
		t.Fatal(err)
	}
	if before != fmt.Sprint(b.stored("xero-acme").Version) {
		t.Fatalf("row shows version %q", before)
	}

	refreshed, err := b.backend.Refresh(t.Context(), "xero-acme")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(refreshed.Version)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`%s === %q`, cell, want))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](cell))
		t.Fatalf("row shows version %q, want %s: %v", got, want, err)
	}
	if kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !kept {
		t.Error("the page reloaded to show the change")
	}

	if err := b.backend.Disable(t.Context(), "xero-beta"); err != nil {
		t.Fatal(err)
	}
	status := `document.querySelector('#connections tr[data-name="xero-beta"] td:nth-child(2)').textContent.trim()`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](status+` === "disabled"`)); err != nil {
		t.Errorf("disabled elsewhere, the row still shows it otherwise: %v", err)
	}

	// A connection's own page follows its changes too.
	b.open(ctx, "/console/connections/xero-acme")
	b.do("wait for the live stream", chromedp.WaitReady(chromedp.CSS(`body[data-live-ready]`)),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	refreshed, err = b.backend.Refresh(t.Context(), "xero-acme")
	if err != nil {
		t.Fatal(err)
	}
	version := `document.getElementById("version").textContent`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`%s === "%d" && window.notReloaded === true`, version, refreshed.Version))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](version))
		t.Errorf("the connection's page shows version %q, want %d, without a reload: %v", got, refreshed.Version, err)
	}
}

// TestSignOut: signing out ends the session on the server: the console
// sends the browser to sign in, and the old cookie, put back, is refused.
func TestSignOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := b.browser
	b.signIn(ctx)
	old := b.sessionCookie(ctx)
	if old == nil {
		t.Fatal("no session cookie")
	}
	b.submit(ctx, `.signout button`)
	if p := b.path(ctx); p != "/console/signin" {
		t.Errorf("after sign-out at %s", p)
	}
	if b.sessionCookie(ctx) != nil {
		t.Error("the session cookie is still in the browser")
	}
	b.open(ctx, "/console/")
	if p := b.path(ctx); !strings.HasPrefix(p, "/console/signin") {
		t.Errorf("/console/ after sign-out went to %s", p)
	}
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: old.Name, Value: old.Value,
		URL: b.base + "/", HTTPOnly: new(old.HTTPOnly), SameSite: old.SameSite}); err != nil {
		t.Fatal(err)
	}
	b.open(ctx, "/console/")
	if p := b.path(ctx); !strings.HasPrefix(p, "/console/signin") {
		t.Errorf("the old cookie still opens the console (at %s)", p)
	}
	if _, err := b.backend.Session(t.Context(), old.Value); err == nil {
		t.Error("the session is still live on the server")
	}
}

// TestAPIKeys: a key created on the page is shown once, listed by its
// label and patterns, and revoked with its button.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := b.signedInAt("/console/keys")
	// A pattern that is no glob is refused, as `worker apikey create` refuses it.
	b.set(ctx, "label", "billing app")
	b.set(ctx, "patterns", "xero-[")
	status := b.submit(ctx, `form[action="/console/keys"] button[type=submit]`)
	if got := b.text(ctx, ".alert"); status != http.StatusBadRequest || !strings.Contains(got, `"xero-[" is not a valid glob`) {
		t.Errorf("a bad pattern: %d, the page says %q", status, got)
	}
	b.set(ctx, "label", "billing app")
	b.set(ctx, "patterns", "xero-*, hubspot-acme")
	b.submit(ctx, `form[action="/console/keys"] button[type=submit]`)
	secret, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("new-key")))
	if err != nil {
		t.Fatal(err)
	}
	if secret == "" {
		t.Fatal("the new key is not shown")
	}
	browsertest.Screenshot(t, ctx, "keys")
	keys, err := b.backend.ListAPIKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(keys, func(k store.APIKey) bool { return k.Label == "billing app" })
	if i < 0 || !slices.Equal(keys[i].Patterns, []string{"xero-*", "hubspot-acme"}) || keys[i].Admin {
		t.Fatalf("stored keys: %+v", keys)
	}
	id := keys[i].ID

	b.open(ctx, "/console/keys")
	if strings.Contains(b.pageHTML(ctx), secret) {
		t.Error("the key's secret is shown again")
	}
	row := b.text(ctx, fmt.Sprintf(`tr:has(form[action="/console/keys/%s/revoke"])`, id))
	if !strings.Contains(row, "billing app") || !strings.Contains(row, "xero-*") || !strings.Contains(row, "live") {
		t.Errorf("the key's row reads %q", row)
	}
	b.submit(ctx, fmt.Sprintf(`form[action="/console/keys/%s/revoke"] button`, id))
	if got := b.text(ctx, ".flash"); got != "Key revoked." {
		t.Errorf("after revoke the page says %q", got)
	}
	keys, _ = b.backend.ListAPIKeys(t.Context())
	if i := slices.IndexFunc(keys, func(k store.APIKey) bool { return k.ID == id }); i < 0 || keys[i].RevokedAt == nil {
		t.Error("the key is not revoked")
	}
}

// TestPublicURLWithPath: under a TOKENS_PUBLIC_URL with a path, the
// console is served there, its links and cookie stay under it, and a
// reconnect comes back through the callback under it.
func TestPublicURLWithPath(t *testing.T) {
	t.Parallel()
	b := setupAt(t, "/tokens")
	b.seed(conn{name: "hubspot-acme", status: model.StatusNeedsReauth})
	ctx := b.browser
	b.signIn(ctx)
	if c := b.sessionCookie(ctx); c == nil || c.Path != "/tokens/" {
		t.Errorf("session cookie %+v, want one with path /tokens/", c)
	}
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("a.name").getAttribute("href")`))
	if err != nil || href != "/tokens/console/connections/hubspot-acme" {
		t.Errorf("the row links to %q (%v)", href, err)
	}
	b.open(ctx, "/console")
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || loc != b.base+"/tokens/console/" {
		t.Errorf("/tokens/console went to %s (%v), want /tokens/console/", loc, err)
	}
	b.submit(ctx, `a.name`)
	b.submit(ctx, `form[action$="/reconnect"] button`)
	b.waitPath(ctx, "/console/connections/hubspot-acme")
	if _, callback := b.authorizes.last(t); !strings.HasPrefix(callback, b.base+"/tokens/oauth/callback?") {
		t.Errorf("the provider sent the browser back to %s", callback)
	}
	if got := b.text(ctx, ".flash"); !strings.HasPrefix(got, "Connected") {
		t.Errorf("back from consent the page says %q", got)
	}
	if s := b.stored("hubspot-acme").Status; s != model.StatusActive {
		t.Errorf("status %s after reconnect", s)
	}
}

// TestWorkerServeServesTheConsole: `worker serve` serves the console on
// TOKENS_HTTP_ADDR beside the token API.
func TestWorkerServeServesTheConsole(t *testing.T) {
	t.Parallel()
	var log testutil.Buffer
	cfg, err := config.LoadFrom(map[string]string{"DATABASE_URL": pgtest.New(t), "TOKENS_ENCRYPTION_KEYS": encryptionKey,
		"TOKENS_HTTP_ADDR": "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(t.Context(), cfg, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	key, err := a.CreateAPIKey(t.Context(), console.NewAPIKey{Label: "ops", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	base := "http://" + testutil.ListenAddr(t, &log)

	browser, stop := context.WithTimeout(browsertest.New(t), 60*time.Second)
	t.Cleanup(stop)
	if err := chromedp.Do(browser, chromedp.Navigate(base+"/console/"), chromedp.SendKeys(chromedp.ID("key"), key)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.RunResponse(browser, chromedp.Submit(chromedp.ID("key"))); err != nil {
		t.Fatal(err)
	}
	if got := browsertest.Text(t, browser, "h1"); got != "Connections" {
		t.Errorf("signed in on worker serve, the page is %q", got)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz beside the console: %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}
