// Package authorize runs the OAuth2 authorization-code flow with PKCE (RFC
// 6749 section 4.1, RFC 7636) from a terminal: it serves a one-shot callback
// on 127.0.0.1, hands out the URL a person opens in a browser, checks the
// state of the redirect, exchanges the code through golang.org/x/oauth2 and
// gives the tokens to the caller to store, before it answers the browser.
package authorize

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/internal/provider"
)

// CallbackPath is the path of the redirect URI.
const CallbackPath = "/callback"

// Options describe one authorization.
type Options struct {
	// Template is the provider's; it supplies the authorization and token
	// URLs, the client authentication and the default token lifetime.
	Template provider.Template
	// AuthURL and TokenURL override the template's. {placeholders} in
	// either are filled from Params, then the template's params.
	AuthURL, TokenURL string
	// AuthStyle overrides the template's client authentication ("basic",
	// "post" or "none"); it is never auto-detected.
	AuthStyle string
	ClientID  string
	// ClientSecret is sent only to the token endpoint.
	ClientSecret string
	// Scopes is sent as it is, so a provider's own separator (Slack's
	// comma) survives.
	Scopes string
	Params map[string]string
	// Port is the callback's port on 127.0.0.1; 0 picks a free one.
	Port int
	// Timeout bounds the wait for the browser; default 5 minutes.
	Timeout time.Duration
	// HTTPClient sends the token request; it should not follow redirects
	// (provider.NewHTTPClient). Default http.DefaultClient.
	HTTPClient *http.Client
}

// Result is what the token endpoint issued.
type Result struct {
	AccessToken, RefreshToken string
	TokenType                 string
	// Expiry is nil when the token never expires (a provider documented
	// so); without a believable expires_in it is the template's default
	// lifetime, never "forever" (see provider.Expiries).
	Expiry        *time.Time
	RefreshExpiry *time.Time
	// Scope is the scope the provider says it granted, if it says.
	Scope string
	// Warning says what was odd about the answer, e.g. an absurd
	// expires_in that was replaced by the default lifetime.
	Warning string
}

// Flow is a validated authorization, ready to Run.
type Flow struct {
	opts     Options
	authURL  string
	tokenURL string
	style    oauth2.AuthStyle
	secret   string
	lifetime time.Duration
}

// TokenURL is the resolved token endpoint, which will receive the client
// secret: callers check it against their endpoint policy.
func (f *Flow) TokenURL() string { return f.tokenURL }

// New resolves and validates opts, so that a mistake is reported before a
// person is sent to the browser.
func New(opts Options) (*Flow, error) {
	t := &opts.Template
	if t.Exchange != "" {
		return nil, fmt.Errorf("provider %s uses the %s exchange, which has no authorization-code flow", t.Name, t.Exchange)
	}
	if t.Encoding == "json" {
		return nil, fmt.Errorf("provider %s takes JSON token requests, which the authorization-code flow does not send", t.Name)
	}
	f := &Flow{opts: opts, secret: opts.ClientSecret}
	var err error
	if f.authURL, err = endpoint("authorization", opts.AuthURL, t.AuthURL, opts.Params, t.Params); err != nil {
		return nil, fmt.Errorf("%w (give --auth-url)", err)
	}
	if f.tokenURL, err = endpoint("token", opts.TokenURL, t.TokenURL, opts.Params, t.Params); err != nil {
		return nil, fmt.Errorf("%w (give --token-url)", err)
	}
	auth := opts.AuthStyle
	if auth == "" {
		auth = t.Auth
	}
	switch auth {
	case "basic":
		f.style = oauth2.AuthStyleInHeader
	case "post":
		f.style = oauth2.AuthStyleInParams
	case "none":
		f.style, f.secret = oauth2.AuthStyleInParams, ""
	default:
		return nil, fmt.Errorf("client authentication %q is not supported for authorization (want basic, post or none)", auth)
	}
	if opts.ClientID == "" {
		return nil, errors.New("no client ID (give --client-id)")
	}
	if auth != "none" && f.secret == "" {
		return nil, errors.New("no client secret: give it on standard input or in the environment (see the README)")
	}
	if f.lifetime, err = provider.Lifetime(t, opts.Params); err != nil {
		return nil, err
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, errors.New("the port must be between 0 and 65535")
	}
	if f.opts.Timeout <= 0 {
		f.opts.Timeout = 5 * time.Minute
	}
	if f.opts.HTTPClient == nil {
		f.opts.HTTPClient = http.DefaultClient
	}
	return f, nil
}

// endpoint picks the override or the template's URL, fills its
// placeholders and checks it is an absolute http(s) URL.
func endpoint(what, override, tmpl string, params, defaults map[string]string) (string, error) {
	s := override
	if s == "" {
		s = tmpl
	}
	if s == "" {
		return "", fmt.Errorf("no %s URL for this provider", what)
	}
	s, err := provider.Fill(s, params, defaults)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("the %s URL must be an absolute http(s) URL without credentials", what)
	}
	return s, nil
}

// SaveFunc stores the tokens. It runs before the browser is answered, so
// the page tells the truth about whether the connection is usable.
type SaveFunc func(context.Context, *Result) error

// Run listens on 127.0.0.1, calls show with the URL to open (the redirect
// URI, with the actual port, is inside it), waits for the provider's
// redirect, exchanges the code, calls save and answers the browser. A
// redirect with the wrong state, or an error such as access_denied, ends
// the flow with an error. The timeout and ctx bound the whole wait.
func (f *Flow) Run(ctx context.Context, show func(authURL string) error, save SaveFunc) (*Result, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(f.opts.Port)))
	if err != nil {
		return nil, fmt.Errorf("listen for the callback: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	cfg := &oauth2.Config{
		ClientID:     f.opts.ClientID,
		ClientSecret: f.secret,
		Endpoint:     oauth2.Endpoint{AuthURL: f.authURL, TokenURL: f.tokenURL, AuthStyle: f.style},
		RedirectURL:  "http://127.0.0.1:" + strconv.Itoa(port) + CallbackPath,
	}
	if f.opts.Scopes != "" {
		cfg.Scopes = []string{f.opts.Scopes}
	}
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	cb := &callback{
		flow: f, cfg: cfg, ctx: ctx, save: save,
		state: randomString(), verifier: oauth2.GenerateVerifier(),
		done: make(chan outcome, 1),
	}
	srv := &http.Server{Handler: cb, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
		<-served
	}()

	if err := show(cfg.AuthCodeURL(cb.state, oauth2.S256ChallengeOption(cb.verifier))); err != nil {
		return nil, err
	}
	select {
	case o := <-cb.done:
		return o.res, o.err
	case <-ctx.Done():
	}
	// A redirect being handled finishes promptly now that ctx has ended,
	// and its outcome (the tokens may already be stored) is the answer.
	if cb.claim() {
		return nil, fmt.Errorf("no redirect from the browser to %s within %s: %w", cfg.RedirectURL, f.opts.Timeout, ctx.Err())
	}
	o := <-cb.done
	return o.res, o.err
}

type outcome struct {
	res *Result
	err error
}

// callback serves the redirect URI. The first request to CallbackPath
// decides the outcome; later ones are told the flow is over.
type callback struct {
	flow            *Flow
	cfg             *oauth2.Config
	ctx             context.Context
	save            SaveFunc
	state, verifier string
	done            chan outcome

	mu      sync.Mutex
	handled bool
}

// claim reports whether the caller is the first to handle the flow.
func (c *callback) claim() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.handled {
		return false
	}
	c.handled = true
	return true
}

func (c *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != CallbackPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		page(w, http.StatusMethodNotAllowed, "Method not allowed", "The callback takes a GET redirect.")
		return
	}
	if !c.claim() {
		page(w, http.StatusConflict, "Already handled", "This authorization has already been handled; look at the terminal.")
		return
	}
	res, status, err := c.handle(r.URL.Query())
	if err != nil {
		page(w, status, "Authorization failed", err.Error()+". You can close this tab and look at the terminal.")
	} else {
		page(w, http.StatusOK, "Authorized", "The connection is stored. You can close this tab.")
	}
	c.done <- outcome{res, err}
}

func (c *callback) handle(q url.Values) (*Result, int, error) {
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(c.state)) != 1 {
		return nil, http.StatusBadRequest, errors.New("the redirect's state does not match this authorization (a stale or forged redirect); nothing was stored")
	}
	if e := q.Get("error"); e != "" {
		red := c.redactor("")
		msg := "the provider refused the authorization: " + red.Clean(e, 200)
		if d := q.Get("error_description"); d != "" {
			msg += ": " + red.Clean(d, 200)
		}
		return nil, http.StatusOK, errors.New(msg)
	}
	code := q.Get("code")
	if code == "" {
		return nil, http.StatusBadRequest, errors.New("the redirect has no code")
	}
	ctx := context.WithValue(c.ctx, oauth2.HTTPClient, c.flow.opts.HTTPClient)
	tok, err := c.cfg.Exchange(ctx, code, oauth2.VerifierOption(c.verifier))
	if err != nil {
		return nil, http.StatusBadGateway, c.exchangeError(err, code)
	}
	res := c.flow.result(tok, time.Now())
	if err := c.save(c.ctx, res); err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("store the tokens: %w", err)
	}
	return res, http.StatusOK, nil
}

// exchangeError describes a failed code exchange without the response body
// or the request's secrets, which some providers echo.
func (c *callback) exchangeError(err error, code string) error {
	red := c.redactor(code)
	var re *oauth2.RetrieveError
	var msg string
	switch {
	case errors.As(err, &re) && re.ErrorCode != "":
		msg = "the token endpoint refused the code: " + red.Clean(re.ErrorCode, 200)
		if re.ErrorDescription != "" {
			msg += ": " + red.Clean(re.ErrorDescription, 200)
		}
	case errors.As(err, &re) && re.Response != nil:
		msg = "the token endpoint answered " + red.Clean(re.Response.Status, 200)
	default:
		msg = "exchange the code: " + red.Clean(err.Error(), 500)
	}
	return errors.New(msg)
}

// redactor removes the flow's secrets from text a provider or a browser
// sent, in every form a provider could echo them in (the client secret and
// its Basic credential, the PKCE verifier, and code once there is one),
// before the text is made one bounded line: the provider package's one
// cleaner.
func (c *callback) redactor(code string) provider.Redactor {
	return provider.NewRedactor(c.cfg.ClientID, c.flow.secret, c.verifier, code)
}

// result converts the token response, with the refresh worker's rules for
// a missing or zero expires_in.
func (f *Flow) result(tok *oauth2.Token, now time.Time) *Result {
	res := &Result{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType}
	res.Expiry, res.RefreshExpiry, res.Warning = provider.Expiries(tok, &f.opts.Template, f.lifetime, now)
	if res.RefreshToken == "" {
		res.RefreshExpiry = nil
	}
	if s, ok := tok.Extra("scope").(string); ok {
		res.Scope = s
	}
	return res
}

func page(w http.ResponseWriter, status int, title, text string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html>
<html><head><meta charset="utf-8"><title>tokenwarden: %[1]s</title>
<style>body{font-family:sans-serif;max-width:40em;margin:4em auto}</style></head>
<body><h1>%[1]s</h1><p>%[2]s</p></body></html>
`, html.EscapeString(title), html.EscapeString(text))
}

// randomString returns 32 random bytes, base64url-encoded: the state.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b)
}
