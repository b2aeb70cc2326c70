package console

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the console serves from.
type Config struct {
	// Backend is the application the console reads and changes.
	Backend Backend
	// PublicURL is TOKENS_PUBLIC_URL, the external base URL: the session
	// cookie is Secure when it is https, and its origin is trusted for
	// form posts arriving through a proxy that rewrites Host.
	PublicURL string
	// Logger receives the errors a page could not show; nil is
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock of relative times; nil is time.Now.
	Now func() time.Time
	// ReauthWarning is how long before its refresh token expires a
	// connection's page warns (TOKENS_REAUTH_WARNING); 0 is 7 days.
	ReauthWarning time.Duration
}

// console is the handler New returns.
type console struct {
	Config
	pages  *pages
	secure bool
	// prefix is TOKENS_PUBLIC_URL's path ("" or e.g. "/tokens"), for a
	// console behind a proxy that serves it under a path.
	prefix string
	// cop refuses cross-origin form posts by their Sec-Fetch-Site or
	// Origin header; it guards the posts no session token can (sign-in,
	// a reconnect link's button) and backs up the token on the others.
	cop *http.CrossOriginProtection
}

// New returns the console's handler. It serves /console/ (the pages
// behind sign-in), /oauth/callback (where a provider's consent returns)
// and /connect/{token} (a reconnect link); mount it for those three
// prefixes.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReauthWarning <= 0 {
		cfg.ReauthWarning = 7 * 24 * time.Hour
	}
	c := &console{Config: cfg, cop: http.NewCrossOriginProtection(), prefix: prefixOf(cfg.PublicURL)}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		c.secure = u.Scheme == "https"
		// A bad origin is only a lost convenience: the Host check stays.
		_ = c.cop.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	c.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusForbidden, "Request refused", "This form was sent from another site, so it was refused.")
	}))
	c.pages = mustParsePages(cfg.Now, c.prefix)
	return securityHeaders(stripPrefix(c.prefix, c.routes()))
}

// stripPrefix serves a request for prefix+path as path, and one without
// the prefix as it is: a proxy in front may pass the prefix on or strip
// it, and either way the pages link to prefix+path.
func stripPrefix(prefix string, h http.Handler) http.Handler {
	if prefix == "" {
		return h
	}
	strip := http.StripPrefix(prefix, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, prefix+"/") {
			strip.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// prefixOf is the path of TOKENS_PUBLIC_URL, without its trailing slash.
func prefixOf(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

// url is the console's path p as the browser must ask for it, under
// TOKENS_PUBLIC_URL's path.
func (c *console) url(p string) string { return c.prefix + p }

// cookiePath scopes the session cookie to the console's prefix.
func (c *console) cookiePath() string { return c.prefix + "/" }

// Mount serves the console's paths (/console/, /oauth/callback and
// /connect/, under TOKENS_PUBLIC_URL's path too) with a console made of
// cfg, and every other path with next, as `worker serve` composes the
// token API, the proxy and the console on one port.
func Mount(next http.Handler, cfg Config) http.Handler {
	h, prefix := New(cfg), prefixOf(cfg.PublicURL)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if prefix != "" && strings.HasPrefix(p, prefix+"/") {
			p = strings.TrimPrefix(p, prefix)
		}
		if p == "/console" || p == "/oauth/callback" || strings.HasPrefix(p, "/console/") || strings.HasPrefix(p, "/connect/") {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// routes maps every path to its handler. The console's own pages pass
// through on (the console exists), signedIn (a session) and, for what
// changes state, checkCSRF; the callback and links are authorized by the
// secrets they carry, so they work for a person with no console access.
func (c *console) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))

	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, c.url("/console/"), http.StatusMovedPermanently)
	})
	mux.Handle("GET /console/signin", c.on(http.HandlerFunc(c.signInForm)))
	mux.Handle("POST /console/signin", c.on(c.cop.Handler(http.HandlerFunc(c.signIn))))
	mux.Handle("POST /console/oidc/start", c.on(c.cop.Handler(http.HandlerFunc(c.oidcStart))))
	mux.Handle("GET /console/oidc/callback", c.on(http.HandlerFunc(c.oidcCallback)))

	page := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, c.on(c.signedIn(c.cop.Handler(c.checkCSRF(h)))))
	}
	page("POST /console/signout", c.signOut)
	page("GET /console/{$}", c.list)
	page("GET /console/rows", c.rows)
	page("GET /console/counts", c.counts)
	page("GET /console/live", c.live)
	page("GET /console/connections/{name}", c.connection)
	page("POST /console/connections/{name}/refresh", c.refresh)
	page("POST /console/connections/{name}/disable", c.disable)
	page("POST /console/connections/{name}/enable", c.enable)
	page("POST /console/connections/{name}/delete", c.delete)
	page("POST /console/connections/{name}/reconnect", c.reconnect)
	page("POST /console/connections/{name}/link", c.createLink)
	page("GET /console/connect", c.connectForm)
	page("POST /console/connect", c.connect)
	page("GET /console/keys", c.keys)
	page("POST /console/keys", c.createKey)
	page("POST /console/keys/{id}/revoke", c.revokeKey)
	page("/console/", c.notFound)

	mux.HandleFunc("GET /oauth/callback", c.callback)
	mux.HandleFunc("GET /connect/{token}", c.linkPage)
	mux.Handle("POST /connect/{token}", c.cop.Handler(http.HandlerFunc(c.linkStart)))
	return mux
}

// on serves the console only once an admin key exists or OpenID Connect
// sign-in is configured. Without either it answers 404 with a page that
// says how to turn it on: 404 rather than 503, because a console left
// off is a deliberate state of the deployment, not an outage, and a 5xx
// would trip error-rate alerts and tell load balancers the process is
// unhealthy.
func (c *console) on(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.Backend.OIDCIssuer() != "" {
			next.ServeHTTP(w, r)
			return
		}
		ok, err := c.Backend.HasAdminKey(r.Context())
		if err != nil {
			c.serverError(w, r, "check for an admin key", err)
			return
		}
		if !ok {
			c.render(w, r, http.StatusNotFound, "off", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers every answer carries. The policy
// allows no inline script or style, so an injected tag does nothing;
// form-action 'self' holds for the consent redirects because the console
// answers those posts with a page that moves on by itself (see
// redirectOut), never a redirect, which Chromium would hold to form-action.
// no-referrer keeps a reconnect link's URL, and the console's paths, out
// of what the provider's consent page is told.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// notFound answers a console path that names no page.
func (c *console) notFound(w http.ResponseWriter, r *http.Request) {
	c.fail(w, r, http.StatusNotFound, "Not found", "There is no page at this address.")
}

// localPath returns p when it is a path of the console, for a redirect
// after sign-in; anything else (another site, "//host") is the list.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/console/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/console/"
	}
	return p
}

// sessionKey is the context key of the signed-in session.
type sessionKey struct{}

// sessionOf returns the request's session, nil when not signed in.
func sessionOf(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey{}).(*Session)
	return s
}
