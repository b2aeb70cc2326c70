// Package authorize runs the OAuth2 authorization-code flow with PKCE (RFC
// 6749 section 4.1, RFC 7636). One implementation has two front ends:
//
//   - Run, for a terminal (`worker authorize`): it serves a one-shot
//     callback on 127.0.0.1, hands out the URL a person opens in a
//     browser, checks the state of the redirect, exchanges the code and
//     gives the tokens to the caller to store, before it answers the
//     browser;
//   - Start and Finish, for a server whose own callback receives the
//     redirect (the console's hosted reconnect): Start makes the state,
//     the PKCE verifier and the consent URL for a redirect URI, which the
//     caller keeps until the callback; Finish exchanges the callback's
//     code with that verifier.
//
// Both build the consent URL, exchange the code through golang.org/x/oauth2
// and turn the answer into a Result the same way, and both scrub every
// secret of the flow from the errors they return.
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
		return nil, &SettingError{Setting: SettingAuthURL, Err: err}
	}
	if f.tokenURL, err = endpoint("token", opts.TokenURL, t.TokenURL, opts.Params, t.Params); err != nil {
		return nil, &SettingError{Setting: SettingTokenURL, Err: err}
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
		return nil, &SettingError{Setting: SettingClientID, Err: errors.New("no client ID")}
	}
	if auth != "none" && f.secret == "" {
		return nil, &SettingError{Setting: SettingClientSecret, Err: errors.New("no client secret")}
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

// The settings a SettingError can name.
const (
	SettingAuthURL      = "authorize_url"
	SettingTokenURL     = "token_url"
	SettingClientID     = "client_id"
	SettingClientSecret = "client_secret"
)

// SettingError is a setting of the connection that is missing or unusable.
// Its text names no way of giving the setting, because the CLI (flags,
// standard input) and the console (form fields) give them differently:
// each front end adds its own hint.
type SettingError struct {
	// Setting is one of the Setting constants.
	Setting string
	Err     error
}

func (e *SettingError) Error() string { return e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

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
	p := f.Start("http://127.0.0.1:" + strconv.Itoa(port) + CallbackPath)
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	cb := &callback{flow: f, pending: p, ctx: ctx, save: save, done: make(chan outcome, 1)}
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

	if err := show(p.URL); err != nil {
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
		return nil, fmt.Errorf("no redirect from the browser to %s within %s: %w", p.RedirectURI, f.opts.Timeout, ctx.Err())
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
	flow    *Flow
	pending *Pending
	ctx     context.Context
	save    SaveFunc
	done    chan outcome

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
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(c.pending.State)) != 1 {
		return nil, http.StatusBadRequest, errors.New("the redirect's state does not match this authorization (a stale or forged redirect); nothing was stored")
	}
	res, err := c.flow.Finish(c.ctx, q, c.pending.Verifier, c.pending.RedirectURI)
	if err != nil {
		return nil, StatusOf(err), err
	}
	if err := c.save(c.ctx, res); err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("store the tokens: %w", err)
	}
	return res, http.StatusOK, nil
}

// Pending is an authorization that Start began: what the callback needs
// to finish it. State and Verifier are secrets until then: a server keeps
// the state's hash and the verifier sealed, never in a log.
type Pending struct {
	// URL is the consent URL the person opens.
	URL         string
	State       string
	Verifier    string
	RedirectURI string
}

// Start begins an authorization whose redirect URI is redirectURI: a new
// random state and PKCE verifier (S256), and the provider's consent URL.
// Nothing is sent anywhere.
func (f *Flow) Start(redirectURI string) *Pending {
	p := &Pending{State: randomString(), Verifier: oauth2.GenerateVerifier(), RedirectURI: redirectURI}
	p.URL = f.config(redirectURI).AuthCodeURL(p.State, oauth2.S256ChallengeOption(p.Verifier))
	return p
}

func (f *Flow) config(redirectURI string) *oauth2.Config {
	cfg := &oauth2.Config{
		ClientID:     f.opts.ClientID,
		ClientSecret: f.secret,
		Endpoint:     oauth2.Endpoint{AuthURL: f.authURL, TokenURL: f.tokenURL, AuthStyle: f.style},
		RedirectURL:  redirectURI,
	}
	if f.opts.Scopes != "" {
		cfg.Scopes = []string{f.opts.Scopes}
	}
	return cfg
}

// Error is a failed authorization, its text fit to show a person: one
// line, scrubbed of every secret of the flow.
type Error struct {
	// Status is the HTTP status a callback page answers it with: 200 for a
	// refusal by the person or the provider's authorization page, 400 for a
	// malformed redirect, 502 for a token endpoint that refused the code.
	Status int
	msg    string
}

func (e *Error) Error() string { return e.msg }

// StatusOf returns the HTTP status for err: an *Error's, else 500.
func StatusOf(err error) int {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Status
	}
	return http.StatusInternalServerError
}

// Finish completes an authorization from its callback's query q (whose
// state the caller has matched): an error the provider redirected with, or
// the code, exchanged with verifier for redirectURI, both as Start made
// them. It stores nothing; the error is an *Error.
func (f *Flow) Finish(ctx context.Context, q url.Values, verifier, redirectURI string) (*Result, error) {
	if q.Get("error") != "" {
		return nil, &Error{Status: http.StatusOK, msg: "the provider refused the authorization: " + Refusal(q, f.redactor(verifier, ""))}
	}
	code := q.Get("code")
	if code == "" {
		return nil, &Error{Status: http.StatusBadRequest, msg: "the redirect has no code"}
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, f.opts.HTTPClient)
	tok, err := f.config(redirectURI).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, &Error{Status: http.StatusBadGateway, msg: ExchangeError(err, f.redactor(verifier, code))}
	}
	return f.result(tok, time.Now()), nil
}

// Refusal describes the error a provider redirected back with (error and
// error_description of q), cleaned by red: a browser brought it, so it is
// bounded, and a provider may have echoed a secret in it.
func Refusal(q url.Values, red provider.Redactor) string {
	msg := red.Clean(q.Get("error"), 200)
	if d := q.Get("error_description"); d != "" {
		msg += ": " + red.Clean(d, 200)
	}
	return msg
}

// ExchangeError describes a failed code exchange by the token endpoint's
// error code and description, or its status, never the response body
// (which x/oauth2 quotes in the error's text), cleaned by red of the
// request's secrets, which some providers echo. Every code exchange
// (worker authorize, the console's reconnect, its OpenID Connect sign-in)
// reports through it.
func ExchangeError(err error, red provider.Redactor) string {
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.ErrorCode != "":
		msg := "the token endpoint refused the code: " + red.Clean(re.ErrorCode, 200)
		if re.ErrorDescription != "" {
			msg += ": " + red.Clean(re.ErrorDescription, 200)
		}
		return msg
	case errors.As(err, &re) && re.Response != nil:
		return "the token endpoint answered " + red.Clean(re.Response.Status, 200)
	}
	return "exchange the code: " + red.Clean(err.Error(), 500)
}

// redactor removes the flow's secrets from text a provider or a browser
// sent, in every form a provider could echo them in (the client secret and
// its Basic credential, the PKCE verifier, and code once there is one),
// before the text is made one bounded line: the provider package's one
// cleaner.
func (f *Flow) redactor(verifier, code string) provider.Redactor {
	return provider.NewRedactor(f.opts.ClientID, f.secret, verifier, code)
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
