// Package proxy is the token-injecting HTTP proxy: applications in any
// language call
//
//	ANY /proxy/{name}/{path...}
//
// with a token-API key, and the request goes to the connection's API base
// with the connection's current token, retried once after a 401 the way
// pkg/tokens' Transport does it. It is no open proxy: the target is only ever
// the connection's API base (the template's api_base_url or the
// connection's params.api_base_url), the path cannot change its host,
// scheme or port, and redirects are handed back, not followed.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/httpapi"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/ttlcache"
	"github.com/tokenwarden/tokenwarden/pkg/model"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

const (
	// Prefix is the path every proxied request starts with.
	Prefix = "/proxy/"
	// DefaultMaxReplayBody is the largest request body kept for the retry
	// after a 401; a larger one streams through and is not retried.
	DefaultMaxReplayBody = 1 << 20
	// DefaultMaxReplayMemory bounds the request bodies kept for retries
	// at once, across requests.
	DefaultMaxReplayMemory = 64 << 20
	// DefaultMaxConcurrent bounds the requests proxied at once.
	DefaultMaxConcurrent = 1024
	// DefaultTimeout bounds a whole proxied request, the wait for the token
	// included.
	DefaultTimeout = 5 * time.Minute
	// DefaultResponseHeaderTimeout bounds the wait for upstream's
	// response headers; the body may then stream until Timeout.
	DefaultResponseHeaderTimeout = time.Minute
	// DefaultCacheTTL is how long keys and targets are cached.
	DefaultCacheTTL = 5 * time.Second
	// maxTargets bounds the cached targets; only connections that exist
	// and a key may use are cached.
	maxTargets = 10000
)

// Tokens gives the 401-retrying transport of a connection;
// *tokens.Client is one.
type Tokens interface {
	Transport(name string, base http.RoundTripper) http.RoundTripper
}

// Connections reads connections without their secrets (the proxy needs
// only the template, params and json_data, and opening the secrets on every
// request would cost decryptions and the keys); *store.Store is one.
type Connections interface {
	Describe(ctx context.Context, names []string) (map[string]*model.OAuthToken, error)
}

// Config is what the proxy serves from.
type Config struct {
	Tokens Tokens
	// Keys are read through httpapi.CachedKeys with CacheTTL.
	Keys        httpapi.Keys
	Connections Connections
	Catalogue   *provider.Catalogue
	// Policy is checked on every API base, as on token endpoints: https
	// only outside loopback, and the allowed hosts.
	Policy provider.EndpointPolicy
	// Base sends the requests; nil means a transport with this package's
	// timeouts and ResponseHeaderTimeout.
	Base          http.RoundTripper
	MaxReplayBody int64
	// MaxReplayMemory bounds the bodies held for retries at once
	// (DefaultMaxReplayMemory); beyond it bodies stream and are not
	// retried.
	MaxReplayMemory int64
	MaxConcurrent   int
	Timeout         time.Duration
	// ResponseHeaderTimeout bounds the wait for upstream's response
	// headers (DefaultResponseHeaderTimeout); used only when Base is nil.
	ResponseHeaderTimeout time.Duration
	// CacheTTL is how long an API key's record and a connection's target
	// (API base, scheme, headers) are kept: DefaultCacheTTL when 0, no
	// cache when negative. A revoked key or an edited connection takes
	// effect within it; a deleted or disabled connection at once, since
	// its token is read through Tokens.
	CacheTTL time.Duration
	// Observer counts the requests; nil counts nothing.
	Observer Observer
	Logger   *slog.Logger
}

// Observer is told of each proxied request; *metrics.Metrics is one.
// name is the connection's, or "" when the request was refused before a
// connection was found (its path names none, or one that does not
// exist); outcome is upstream's status class ("2xx"), or OutcomeRefused
// or OutcomeError for an answer of the proxy's own.
type Observer interface {
	ProxyStarted()
	ProxyFinished(name, outcome string, took time.Duration)
}

// The outcomes of requests the proxy answered itself.
const (
	// OutcomeRefused: the caller's request was refused (bad path, key,
	// unknown connection, needs_reauth, too many at once).
	OutcomeRefused = "refused"
	// OutcomeError: the proxy could not get an answer (upstream
	// unreachable or late, the database unreadable, a bad API base).
	OutcomeError = "error"
)

type proxy struct {
	Config
	sem     chan struct{}
	rp      *httputil.ReverseProxy
	targets *ttlcache.Cache[string, *target]
	// replayBytes are the bytes of MaxReplayMemory taken.
	replayBytes atomic.Int64
}

type ctxKey struct{}

// New returns the handler of Prefix. Mount it so that it sees the raw
// path: an http.ServeMux would clean ".." away before the checks here.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxReplayBody <= 0 {
		cfg.MaxReplayBody = DefaultMaxReplayBody
	}
	if cfg.MaxReplayMemory <= 0 {
		cfg.MaxReplayMemory = DefaultMaxReplayMemory
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ResponseHeaderTimeout <= 0 {
		cfg.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if cfg.Base == nil {
		cfg.Base = newTransport(cfg.ResponseHeaderTimeout)
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	cfg.Keys = httpapi.CachedKeys(cfg.Keys, cfg.CacheTTL)
	p := &proxy{Config: cfg, sem: make(chan struct{}, cfg.MaxConcurrent),
		targets: ttlcache.New[string, *target](cfg.CacheTTL, maxTargets)}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      rewrite,
		Transport:    roundTripper(p.roundTrip),
		ErrorHandler: p.fail,
		BufferPool:   &bufferPool{},
		ErrorLog:     slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return p
}

// bufferPool lends ReverseProxy its 32 KiB copy buffers, so that each
// streamed response does not allocate one of its own.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }

type nopObserver struct{}

func (nopObserver) ProxyStarted()                               {}
func (nopObserver) ProxyFinished(string, string, time.Duration) {}

// newTransport is the upstream transport: bounded dials, handshakes and
// waits for response headers; bodies may stream for as long as the
// request's timeout allows.
func newTransport(responseHeader time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: responseHeader,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   64,
	}
}

// Mount serves Prefix with proxy and every other path with api. It routes
// by prefix, not with an http.ServeMux, so that the proxy sees and refuses
// a path with ".." instead of a redirect to its cleaned form.
func Mount(api, proxy http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, Prefix) {
			proxy.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// request is one proxied request's state, in its context: where it goes,
// and what the observer is told at the end.
type request struct {
	target *target
	// upstream is set once upstream has answered: the status is then its.
	upstream bool
	// outcome is set by the proxy's own answers.
	outcome string
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p.Observer.ProxyStarted()
	rec := &recorder{ResponseWriter: w}
	req := &request{}
	defer func() {
		name := ""
		if req.target != nil {
			name = req.target.name
		}
		p.Observer.ProxyFinished(name, req.outcomeOf(rec.status), time.Since(start))
	}()
	p.serve(rec, r, req)
}

// outcomeOf is the request's outcome given the status answered: an
// answer not from upstream that did not say is refused if 4xx, an error
// if 5xx (httpapi.Authorize answers 503 when it cannot read the key).
func (req *request) outcomeOf(status int) string {
	switch {
	case req.upstream:
		return statusClass(status)
	case req.outcome != "":
		return req.outcome
	case status >= 500:
		return OutcomeError
	default:
		return OutcomeRefused
	}
}

func (p *proxy) serve(w http.ResponseWriter, r *http.Request, req *request) {
	name, rest, err := splitPath(r.URL.EscapedPath())
	if err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if !httpapi.Authorize(w, r, p.Keys, p.Logger, name) {
		return
	}
	select {
	case p.sem <- struct{}{}:
		defer func() { <-p.sem }()
	default:
		req.outcome = OutcomeRefused
		w.Header().Set("Retry-After", "1")
		httpapi.WriteError(w, http.StatusServiceUnavailable, "busy", "too many proxied requests at once")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.Timeout)
	defer cancel()
	t, status, err := p.target(ctx, name)
	if err != nil {
		httpapi.WriteError(w, status, strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_")), err.Error())
		return
	}
	req.target = t
	u, err := join(t.base, rest)
	if err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	u.RawQuery = r.URL.RawQuery
	release, err := p.bufferBody(r)
	defer release()
	if err != nil {
		req.outcome = OutcomeRefused
		httpapi.WriteError(w, http.StatusBadRequest, "bad_request", "reading the request body failed")
		return
	}
	// Without full duplex, an HTTP/1 server drains and closes the request
	// body as soon as the response starts: an API answering while the
	// upload still streams would lose the rest of it, and the upstream
	// connection's last read of the body would race the close (seen as a
	// response cut off mid-body under load). HTTP/2 is always full duplex.
	_ = http.NewResponseController(w).EnableFullDuplex()
	ctx = context.WithValue(ctx, ctxKey{}, outgoing{request: req, url: u})
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

// outgoing is what rewrite and roundTrip need of a request.
type outgoing struct {
	*request
	url *url.URL
}

// bufferBody reads a body whose Content-Length is at most MaxReplayBody
// into memory so that the retry after a 401 can send it again (GetBody); a
// longer one, or one of unknown length, streams and is not retried. The
// bodies held at once share MaxReplayMemory: when it is taken, a body
// streams and is not retried, so that a thousand uploads cost a thousand
// copy buffers, not a thousand bodies. release gives the memory back once
// r is done.
func (p *proxy) bufferBody(r *http.Request) (release func(), err error) {
	release = func() {}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return release, nil
	}
	// A body of unknown length (chunked) is a stream: waiting for up to
	// MaxReplayBody of it before sending anything would stall a caller
	// that streams on purpose, and one that waits for the API's answer
	// before sending more would never get it.
	if r.ContentLength < 0 || r.ContentLength > p.MaxReplayBody || !p.reserve(r.ContentLength) {
		r.GetBody = nil
		return release, nil
	}
	release = func() { p.replayBytes.Add(-r.ContentLength) }
	buf := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return release, err
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	return release, nil
}

// reserve takes n bytes of MaxReplayMemory, if that many are free.
func (p *proxy) reserve(n int64) bool {
	for {
		cur := p.replayBytes.Load()
		if cur+n > p.MaxReplayMemory {
			return false
		}
		if p.replayBytes.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// rewrite points the outgoing request at its target, removes what the
// caller meant for the proxy (its API key) and sets the template's
// provider headers over any the caller sent. ReverseProxy has already
// taken out the hop-by-hop headers and the X-Forwarded ones.
func rewrite(pr *httputil.ProxyRequest) {
	o := pr.In.Context().Value(ctxKey{}).(outgoing)
	pr.Out.URL = o.url
	pr.Out.Host = ""
	pr.Out.Header.Del("Authorization")
	pr.Out.Header.Del("Cookie")
	for k, v := range o.target.headers {
		pr.Out.Header[k] = v
	}
}

// roundTrip sends r with the connection's token through pkg/tokens'
// Transport: one retry after a 401, with the worker refreshing once
// however many requests saw it.
func (p *proxy) roundTrip(r *http.Request) (*http.Response, error) {
	o := r.Context().Value(ctxKey{}).(outgoing)
	base := p.Base
	if o.target.scheme != "" {
		base = schemeTransport{scheme: o.target.scheme, base: base}
	}
	resp, err := p.Tokens.Transport(o.target.name, base).RoundTrip(r)
	if err == nil {
		o.upstream = true
	}
	return resp, err
}

// schemeTransport sends the token Transport set under the template's
// scheme instead of its type: "Authorization: Zoho-oauthtoken <token>".
type schemeTransport struct {
	scheme string
	base   http.RoundTripper
}

func (t schemeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	out := *r
	out.Header = r.Header.Clone()
	out.Header.Set("Authorization", t.scheme+" "+tok)
	return t.base.RoundTrip(&out)
}

// fail answers a request that got no response from upstream. It logs no
// URL (its query may hold secrets of the caller's) and no body.
func (p *proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	o, _ := r.Context().Value(ctxKey{}).(outgoing)
	name := o.target.name
	o.outcome = OutcomeError
	var re *tokens.ReauthError
	switch {
	case errors.Is(err, tokens.ErrNotFound):
		o.outcome = OutcomeRefused
		httpapi.WriteError(w, http.StatusNotFound, "not_found", "no connection named "+name)
	case errors.As(err, &re):
		o.outcome = OutcomeRefused
		httpapi.WriteError(w, http.StatusConflict, "needs_reauth", name+" needs re-authorization")
	case errors.Is(err, tokens.ErrDisabled):
		o.outcome = OutcomeRefused
		httpapi.WriteError(w, http.StatusConflict, "disabled", name+" is disabled")
	case errors.Is(err, context.DeadlineExceeded):
		httpapi.WriteError(w, http.StatusGatewayTimeout, "timeout", "the upstream API or the token did not come in time")
	case r.Context().Err() != nil:
		httpapi.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the request was cancelled")
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		p.Logger.Warn("proxy: upstream request failed", "name", name, "err", err)
		httpapi.WriteError(w, http.StatusBadGateway, "bad_gateway", "the upstream API could not be reached")
	}
}

// parseBase reads an API base: an absolute http(s) URL with no user
// information, query or fragment.
func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("not an absolute http(s) URL without user, query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// splitPath splits the escaped path /proxy/{name}/{rest} and refuses a rest
// that could leave the API base: dot segments, encoded slashes or
// backslashes, '@', a scheme, an empty segment, or control characters.
func splitPath(escaped string) (name, rest string, err error) {
	tail, ok := strings.CutPrefix(escaped, Prefix)
	if !ok {
		return "", "", errors.New("the path must start with " + Prefix)
	}
	name, rest, _ = strings.Cut(tail, "/")
	if name == "" {
		return "", "", errors.New("the path must be /proxy/{name}/{path}")
	}
	if n, err := url.PathUnescape(name); err != nil || n != name {
		return "", "", errors.New("the connection name must not be escaped")
	}
	if rest == "" {
		return name, "", nil
	}
	if strings.HasPrefix(rest, "/") {
		return "", "", errors.New("the path may not contain //")
	}
	lower := strings.ToLower(rest)
	first, _, _ := strings.Cut(lower, "/")
	if strings.Contains(first, ":") || strings.Contains(first, "%3a") {
		return "", "", errors.New("the path may not start with a scheme")
	}
	for _, bad := range []string{"//", "%2f", "%5c", "\\", "@", "%40", "%00", "%25"} {
		if strings.Contains(lower, bad) {
			return "", "", errors.New("the path may not contain " + bad)
		}
	}
	for seg := range strings.SplitSeq(rest, "/") {
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return "", "", errors.New("the path is not validly escaped")
		}
		if dec == "." || dec == ".." {
			return "", "", errors.New("the path may not contain . or .. segments")
		}
		for _, c := range dec {
			if c < 0x20 || c == 0x7f {
				return "", "", errors.New("the path may not contain control characters")
			}
		}
	}
	return name, rest, nil
}

// join appends the checked escaped rest to base's path; scheme, host and
// port are base's alone.
func join(base *url.URL, rest string) (*url.URL, error) {
	dec, err := url.PathUnescape(rest)
	if err != nil {
		return nil, errors.New("the path is not validly escaped")
	}
	u := &url.URL{Scheme: base.Scheme, Host: base.Host, Path: base.Path + "/" + dec}
	if raw := base.EscapedPath() + "/" + rest; raw != u.EscapedPath() {
		u.RawPath = raw
	}
	return u, nil
}
