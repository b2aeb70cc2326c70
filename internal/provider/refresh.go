package provider

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Result is the outcome of a successful refresh.
type Result struct {
	AccessToken  string
	TokenType    string
	RefreshToken string // empty when the provider sent none: keep the old one
	// Expiry is nil when the provider said the token never expires.
	Expiry        *time.Time
	RefreshExpiry *time.Time
	// JSONData holds the non-secret response fields the template keeps.
	JSONData json.RawMessage
	// Issued is when the answer was read: Expiry - Issued is the lifetime
	// the provider granted, which the worker's schedule is based on.
	Issued time.Time
	// Warning describes what was wrong with an answer that was still
	// stored, such as an expires_in that could not be believed.
	Warning string
}

// TokenLookup returns the current access token of another connection; the
// Webex service-app exchange uses it to read its token manager's token.
type TokenLookup func(ctx context.Context, name string) (string, error)

// Refresher exchanges refresh tokens at providers' token endpoints.
type Refresher struct {
	catalogue *Catalogue
	client    *http.Client // the caller's client without its Timeout
	timeout   time.Duration
	lookup    TokenLookup
	policy    EndpointPolicy
}

// NewRefresher returns a Refresher that sends requests with client. The
// client should not follow redirects (see NewHTTPClient). lookup may be nil
// when no connection uses an exchange that needs another connection's token.
func NewRefresher(c *Catalogue, client *http.Client, lookup TokenLookup) *Refresher {
	// The client's Timeout becomes a context deadline on each Refresh and
	// Check: http.Client enforces Timeout with two goroutines per request
	// (its timer and the Transport's watcher of the legacy Cancel
	// channel), which at the worker's concurrency is a thousand goroutines
	// and their stacks; a context deadline costs neither.
	plain := *client
	plain.Timeout = 0
	return &Refresher{catalogue: c, client: &plain, timeout: client.Timeout, lookup: lookup}
}

// bound limits ctx by the client's Timeout, unless it already ends sooner
// (the worker bounds each attempt itself).
func (r *Refresher) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); r.timeout <= 0 || ok && time.Until(dl) <= r.timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.timeout)
}

// NewHTTPClient returns the client the worker uses: bounded by timeout,
// keeping up to conns connections per host open so a burst reuses them, and
// never following redirects, which would carry the client's credentials to
// another address. conns should be the most requests the caller has in
// flight (the worker's concurrency).
func NewHTTPClient(timeout time.Duration, conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	// Without a cap, a request that finds no idle connection dials a new
	// one even as another request is about to free one, and the surplus
	// stays open: a 512-wide burst measured about 1,000 connections, each
	// with two goroutines and 8 KiB of buffers. Capped, a request waits
	// for the connection being freed, which is never more than one
	// exchange away since the caller has at most conns in flight.
	tr.MaxConnsPerHost = conns
	// Token requests and answers are small (a refresh token form, a JSON
	// object of a few tokens), so each connection's read and write buffers
	// are half net/http's default 4 KiB. At the worker's concurrency these
	// buffers are much of its memory: 2 KiB measured 5 MB less peak RSS in
	// the 512-wide burst (60.8 against 65.8 MB, three runs each). A larger
	// message (Microsoft's refresh tokens are ~1.6 KB) costs one more
	// system call, never a failure: bufio reads and writes past its size.
	tr.WriteBufferSize = 2 << 10
	tr.ReadBufferSize = 2 << 10
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// conn is a request resolved against its template. It holds the request,
// and is handed around, by value or by a pointer to the caller's copy, so
// that neither is allocated on the heap: the exchange's own allocations
// are what BenchmarkRefresh measures.
type conn struct {
	req      Request
	tmpl     *Template
	lifetime time.Duration
}

// resolve finds req's template and the lifetime its tokens are given when
// an answer does not say.
func (r *Refresher) resolve(req Request) (conn, error) {
	tmpl, ok := r.catalogue.template(req.Provider)
	if !ok {
		return conn{}, configError("unknown provider %q", req.Provider)
	}
	lifetime, err := Lifetime(tmpl, req.Params)
	if err != nil {
		return conn{}, configError("%v", err)
	}
	return conn{req: req, tmpl: tmpl, lifetime: lifetime}, nil
}

// Refresh obtains new tokens by the connection's grant: its refresh token,
// or its own credentials (grants.go). Errors
// are always *Error. req is taken by value: through the worker's Exchanger
// interface a pointer would escape, an allocation on every refresh.
func (r *Refresher) Refresh(ctx context.Context, req Request) (*Result, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	c, err := r.resolve(req)
	if err != nil {
		return nil, err
	}
	return r.grant(ctx, &c)
}

// tokenEndpoint is where c's secrets go: the connection's token URL or the
// template's, filled from its params, and only if the endpoint policy
// allows it. Every grant resolves its endpoint here, so that no exchange
// can skip the policy.
func (r *Refresher) tokenEndpoint(c *conn) (string, error) {
	u, err := c.tmpl.TokenEndpoint(c.req.TokenURL, c.req.Params)
	if err != nil {
		return "", configError("%v", err)
	}
	if err := r.policy.Check(u); err != nil {
		return "", configError("%v", err)
	}
	return u, nil
}

// standard is the refresh_token grant, done by x/oauth2 through a shaper
// that adapts the provider's quirks.
func (r *Refresher) standard(ctx context.Context, c *conn) (*Result, error) {
	req := &c.req
	tokenURL, err := r.tokenEndpoint(c)
	if err != nil {
		return nil, err
	}
	auth := cmp.Or(req.AuthStyle, c.tmpl.Auth)
	style, err := ParseAuthStyle(auth)
	if err != nil {
		return nil, configError("%v", err)
	}
	rt := req.RefreshToken.Reveal()
	if rt == "" {
		return nil, configError("no refresh token")
	}
	cfg := oauth2.Config{
		ClientID:     req.ClientID,
		ClientSecret: req.ClientSecret.Reveal(),
		Endpoint:     oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: style},
	}
	client := *r.client
	sh := &shaper{base: transport(r.client), tmpl: c.tmpl, auth: auth, scopes: req.Scopes, clientSecret: cfg.ClientSecret}
	client.Transport = sh
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &client)
	tok, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	var sv salvaged
	if err != nil && sh.answer != nil && salvageable(err) {
		sv = salvage(sh.answer, sh.answerType)
		if sv.tok != nil {
			tok, err = sv.tok, nil
		}
	}
	if err != nil {
		// A provider that echoes the request in its error must not get
		// our secrets into last_error or the logs.
		e := fromOAuth2(err, c.tmpl, req.redactor(sv.refreshToken))
		if sv.refreshToken != rt {
			e.RefreshToken = sv.refreshToken
		}
		return nil, e
	}
	res, err := checked(result(tok, rt, c, time.Now()))
	if err == nil && sv.tok != nil && res.Warning == "" {
		res.Warning = "the token answer was not valid RFC 6749 JSON; read it leniently"
	}
	return res, err
}

// maxTokenLen bounds a token; real ones (JWTs included) are a few KB.
const maxTokenLen = 64 << 10

// checked refuses an answer whose tokens PostgreSQL could not store or no
// API would accept (control characters, NUL, absurd length) as a malformed,
// transient answer: stored, it would fail every batch it was part of. A
// well-formed rotated refresh token in it is still handed on with the
// error, to be stored.
func checked(r *Result) (*Result, error) {
	if !wellFormed(r.AccessToken) || r.TokenType != "" && !wellFormed(r.TokenType) ||
		r.RefreshToken != "" && !wellFormed(r.RefreshToken) {
		e := &Error{msg: "token endpoint answered with a malformed token"}
		if wellFormed(r.RefreshToken) {
			e.RefreshToken = r.RefreshToken
		}
		return nil, e
	}
	if bytes.Contains(r.JSONData, []byte(`\u0000`)) {
		r.JSONData = nil // the kept fields are informative; drop what jsonb cannot hold
	}
	return r, nil
}

func transport(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// fromOAuth2 turns x/oauth2's error into an Error, with red's secrets
// removed from whatever the provider or the transport said.
func fromOAuth2(err error, tmpl *Template, red Redactor) *Error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		var header http.Header
		if re.Response != nil {
			status = re.Response.StatusCode
			header = re.Response.Header
		}
		// The cause is not kept: RetrieveError's own text quotes the
		// answer unscrubbed, so a provider echoing the request would put
		// our secrets in anything that printed it. What the answer says
		// is in the Error already, scrubbed.
		return classify(tmpl, status, re.ErrorCode, re.ErrorDescription, re.Body, header, nil, red)
	}
	// Transport failures, timeouts and unparseable or incomplete 200s: all
	// worth retrying later.
	e := transportError(err, red)
	if tmpl.Rotates && tmpl.ReuseGrace > 0 && isLostAnswer(err) {
		// The provider may have rotated the refresh token and the answer
		// was lost. It still accepts the old one for ReuseGrace: retry
		// well inside that window, before the connection would be dead.
		e.RetryWithin = tmpl.ReuseGrace.D() / 4
	}
	return e
}

func result(tok *oauth2.Token, oldRT string, c *conn, now time.Time) *Result {
	res := &Result{AccessToken: tok.AccessToken, TokenType: tok.TokenType, Issued: now}
	if tok.RefreshToken != oldRT {
		res.RefreshToken = tok.RefreshToken
	}
	res.Expiry, res.RefreshExpiry, res.Warning = Expiries(tok, c.tmpl, c.lifetime, now)
	keep := map[string]any{}
	for _, k := range c.tmpl.Keep {
		if v := tok.Extra(k); v != nil && v != "" {
			keep[k] = v
		}
	}
	if tok.TokenType != "" {
		keep["token_type"] = tok.TokenType
	}
	if len(keep) > 0 {
		res.JSONData, _ = json.Marshal(keep)
	}
	return res
}

// Lifetime is the access-token lifetime to assume when an answer has no
// expires_in: the connection's params.lifetime (a Salesforce org's session
// timeout), else the template's default.
func Lifetime(tmpl *Template, params map[string]string) (time.Duration, error) {
	l := params["lifetime"]
	if l == "" {
		return tmpl.DefaultLifetime.D(), nil
	}
	d, err := time.ParseDuration(l)
	if err != nil || d <= 0 {
		return 0, errors.New("params.lifetime must be a positive duration such as 2h")
	}
	return d, nil
}

// DefaultMaxLifetime is the longest access-token lifetime believed when a
// template does not set max_lifetime: an expires_in beyond it is a
// provider's bug (99999999999 has been seen), and believing it would leave
// a token that the provider stops accepting unrefreshed for decades.
const DefaultMaxLifetime = 365 * 24 * time.Hour

// maxLifetime is the template's ceiling on a believable expires_in.
func (t *Template) maxLifetime() time.Duration {
	if t.MaxLifetime > 0 {
		return t.MaxLifetime.D()
	}
	return DefaultMaxLifetime
}

// Expiries reads a token response's expiries with tmpl's rules.
//
// A missing expires_in means lifetime (never "forever"), unless tmpl is
// documented to issue non-expiring tokens. An expires_in that cannot be
// believed (not a number, negative, zero where the template does not say
// tokens never expire, or beyond the template's ceiling) also means
// lifetime, capped by the ceiling, and anomaly says what was wrong, so the
// answer is still stored (it may carry a rotated refresh token) and the
// oddity is reported instead of scheduling a refresh loop or a token
// "valid" until 2094. The refresh token's expiry comes from
// refresh_token_expires_in or x_refresh_token_expires_in, else from the
// template's idle lifetime.
func Expiries(tok *oauth2.Token, tmpl *Template, lifetime time.Duration, now time.Time) (access, refresh *time.Time, anomaly string) {
	access, anomaly = accessExpiry(tok.Extra("expires_in"), tmpl, lifetime, now)
	for _, k := range []string{"refresh_token_expires_in", "x_refresh_token_expires_in"} {
		if secs, ok := number(tok.Extra(k)); ok && secs > 0 && secs < (100*DefaultMaxLifetime).Seconds() {
			e := now.Add(time.Duration(secs * float64(time.Second)))
			return access, &e, anomaly
		}
	}
	if tmpl.RefreshIdleLifetime > 0 {
		e := now.Add(tmpl.RefreshIdleLifetime.D())
		refresh = &e
	}
	return access, refresh, anomaly
}

// accessExpiry applies Expiries' rules to the raw expires_in. x/oauth2's own
// Expiry is not used: it clamps a huge value to 68 years and turns a
// negative one into an expiry in the past, which is due again at once.
func accessExpiry(raw any, tmpl *Template, lifetime time.Duration, now time.Time) (*time.Time, string) {
	ceiling := tmpl.maxLifetime()
	secs, isNum := number(raw)
	var anomaly string
	switch {
	case raw == nil || raw == "":
		if tmpl.TokensNeverExpire {
			return nil, ""
		}
	case !isNum:
		// The value itself is not repeated: a provider that echoes its
		// input could have put anything there.
		anomaly = "expires_in is not a number"
	case secs == 0 && tmpl.TokensNeverExpire:
		return nil, ""
	case secs <= 0:
		anomaly = fmt.Sprintf("expires_in %v is not positive", secs)
	case secs > ceiling.Seconds():
		anomaly = fmt.Sprintf("expires_in %.0f is beyond the ceiling of %s", secs, ceiling)
	default:
		e := now.Add(time.Duration(secs * float64(time.Second)))
		return &e, ""
	}
	if lifetime <= 0 {
		// A template documented to issue non-expiring tokens has no
		// default lifetime: keep its meaning, but say what was odd.
		return nil, anomaly
	}
	e := now.Add(min(lifetime, ceiling))
	if anomaly != "" {
		anomaly += fmt.Sprintf("; assumed the default lifetime of %s", min(lifetime, ceiling))
	}
	return &e, anomaly
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		return f, err == nil
	}
	return 0, false
}
