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
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/httpapi"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/pkg/model"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

const (
	// Prefix is the path every proxied request starts with.
	Prefix = "/proxy/"
	// DefaultMaxReplayBody is the largest request body kept for the retry
	// after a 401; a larger one streams through and is not retried.
	DefaultMaxReplayBody = 1 << 20
	// DefaultMaxConcurrent bounds the requests proxied at once.
	DefaultMaxConcurrent = 1024
	// DefaultTimeout bounds a whole proxied request, the wait for the token
	// included.
	DefaultTimeout = 5 * time.Minute
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
	Tokens      Tokens
	Keys        httpapi.Keys
	Connections Connections
	Catalogue   *provider.Catalogue
	// Policy is checked on every API base, as on token endpoints: https
	// only outside loopback, and the allowed hosts.
	Policy provider.EndpointPolicy
	// Base sends the requests; nil means a transport with this package's
	// timeouts.
	Base          http.RoundTripper
	MaxReplayBody int64
	MaxConcurrent int
	Timeout       time.Duration
	Logger        *slog.Logger
}

type proxy struct {
	Config
	sem chan struct{}
	rp  *httputil.ReverseProxy
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
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Base == nil {
		cfg.Base = newTransport()
	}
	p := &proxy{Config: cfg, sem: make(chan struct{}, cfg.MaxConcurrent)}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      rewrite,
		Transport:    roundTripper(p.roundTrip),
		ErrorHandler: p.fail,
		ErrorLog:     slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return p
}

// newTransport is the upstream transport: bounded dials, handshakes and
// waits for response headers; bodies may stream for as long as the
// request's timeout allows.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: time.Minute,
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

// target is the checked destination of one request.
type target struct {
	name string
	url  *url.URL
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, rest, err := splitPath(r.URL.EscapedPath())
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if !httpapi.Authorize(w, r, p.Keys, p.Logger, name) {
		return
	}
	select {
	case p.sem <- struct{}{}:
		defer func() { <-p.sem }()
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "busy", "too many proxied requests at once")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.Timeout)
	defer cancel()
	base, status, err := p.apiBase(ctx, name)
	if err != nil {
		writeError(w, status, strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_")), err.Error())
		return
	}
	u, err := join(base, rest)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	u.RawQuery = r.URL.RawQuery
	if err := p.bufferBody(r); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "reading the request body failed")
		return
	}
	ctx = context.WithValue(ctx, ctxKey{}, target{name: name, url: u})
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

// bufferBody reads up to MaxReplayBody of r's body into memory so that the
// retry after a 401 can send it again (GetBody); a longer body streams on,
// its first part from memory, and is not retried.
func (p *proxy) bufferBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	if r.ContentLength > p.MaxReplayBody {
		r.GetBody = nil
		return nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, p.MaxReplayBody+1))
	if err != nil {
		return err
	}
	if int64(len(buf)) > p.MaxReplayBody {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		r.GetBody = nil
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	r.ContentLength = int64(len(buf))
	return nil
}

// rewrite points the outgoing request at its target and removes what the
// caller meant for the proxy: its API key. ReverseProxy has already taken
// out the hop-by-hop headers and the X-Forwarded ones.
func rewrite(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(ctxKey{}).(target)
	pr.Out.URL = t.url
	pr.Out.Host = ""
	pr.Out.Header.Del("Authorization")
	pr.Out.Header.Del("Cookie")
}

// roundTrip sends r with the connection's token through pkg/tokens'
// Transport: one retry after a 401, with the worker refreshing once
// however many requests saw it.
func (p *proxy) roundTrip(r *http.Request) (*http.Response, error) {
	t := r.Context().Value(ctxKey{}).(target)
	return p.Tokens.Transport(t.name, p.Base).RoundTrip(r)
}

// fail answers a request that got no response from upstream. It logs no
// URL (its query may hold secrets of the caller's) and no body.
func (p *proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	t, _ := r.Context().Value(ctxKey{}).(target)
	var re *tokens.ReauthError
	switch {
	case errors.Is(err, tokens.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no connection named "+t.name)
	case errors.As(err, &re):
		writeError(w, http.StatusConflict, "needs_reauth", t.name+" needs re-authorization")
	case errors.Is(err, tokens.ErrDisabled):
		writeError(w, http.StatusConflict, "disabled", t.name+" is disabled")
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "timeout", "the upstream API or the token did not come in time")
	case r.Context().Err() != nil:
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the request was cancelled")
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		p.Logger.Warn("proxy: upstream request failed", "name", t.name, "err", err)
		writeError(w, http.StatusBadGateway, "bad_gateway", "the upstream API could not be reached")
	}
}

// apiBase is the connection's API base: its params.api_base_url, else its
// template's, with placeholders filled from params and json_data, and
// checked against the endpoint policy. The status is the answer on error.
func (p *proxy) apiBase(ctx context.Context, name string) (*url.URL, int, error) {
	found, err := p.Connections.Describe(ctx, []string{name})
	if err != nil {
		p.Logger.Error("proxy: reading the connection failed", "name", name, "err", err)
		return nil, http.StatusServiceUnavailable, errors.New("cannot read the connection now")
	}
	row := found[name]
	if row == nil {
		return nil, http.StatusNotFound, errors.New("no connection named " + name)
	}
	params, err := provider.ParseParams(row.Params)
	if err != nil {
		return nil, http.StatusBadGateway, errors.New(name + ": " + err.Error())
	}
	vars := provider.Placeholders(row.JSONData, params)
	raw := params["api_base_url"]
	var defaults map[string]string
	if tmpl, ok := p.Catalogue.Lookup(row.Provider); ok {
		defaults = tmpl.Params
		if raw == "" {
			raw = tmpl.APIBaseURL
		}
	}
	if raw == "" {
		return nil, http.StatusNotFound, errors.New(name + " has no API base: set params.api_base_url")
	}
	filled, err := provider.Fill(raw, vars, defaults)
	if err != nil {
		return nil, http.StatusBadGateway, errors.New(name + ": API base: " + err.Error())
	}
	u, err := parseBase(filled)
	if err == nil {
		err = p.Policy.Check(u.String())
	}
	if err != nil {
		return nil, http.StatusBadGateway, errors.New(name + ": API base: " + err.Error())
	}
	return u, 0, nil
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

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": msg})
}
