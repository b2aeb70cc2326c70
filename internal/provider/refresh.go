package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/pkg/model"
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
}

// Refresher exchanges refresh tokens at providers' token endpoints.
type Refresher struct {
	catalogue *Catalogue
	client    *http.Client
}

// NewRefresher returns a Refresher that sends requests with client. The
// client should not follow redirects: a redirect would carry the client's
// credentials to another address.
func NewRefresher(c *Catalogue, client *http.Client) *Refresher {
	return &Refresher{catalogue: c, client: client}
}

// NewHTTPClient returns the client the worker uses: bounded by timeout,
// keeping up to conns idle connections so a burst reuses them, and never
// following redirects.
func NewHTTPClient(timeout time.Duration, conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Refresh exchanges the connection's refresh token for new tokens. Errors
// are always *Error.
func (r *Refresher) Refresh(ctx context.Context, conn *model.OAuthToken) (*Result, error) {
	tmpl, ok := r.catalogue.Lookup(conn.Provider)
	if !ok {
		return nil, configError("unknown provider %q", conn.Provider)
	}
	tokenURL := model.Str(conn.TokenURL)
	if tokenURL == "" {
		tokenURL = tmpl.TokenURL
	}
	if tokenURL == "" {
		return nil, configError("no token_url for provider %s", tmpl.Name)
	}
	styleName := tmpl.AuthStyle
	if s := model.Str(conn.AuthStyle); s != "" {
		styleName = s
	}
	style, err := ParseAuthStyle(styleName)
	if err != nil {
		return nil, configError("%v", err)
	}
	rt := model.Str(conn.RefreshToken)
	if rt == "" {
		return nil, configError("no refresh token")
	}
	cfg := oauth2.Config{
		ClientID:     model.Str(conn.ClientID),
		ClientSecret: model.Str(conn.ClientSecret),
		Endpoint:     oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: style},
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, r.client)
	tok, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		e := fromOAuth2(err)
		// A provider that echoes the request in its error must not get
		// our secrets into last_error or the logs.
		e.scrub(rt, cfg.ClientSecret)
		return nil, e
	}
	return result(tok, rt, tmpl, time.Now()), nil
}

func fromOAuth2(err error) *Error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		var header http.Header
		if re.Response != nil {
			status = re.Response.StatusCode
			header = re.Response.Header
		}
		return classify(status, re.ErrorCode, re.ErrorDescription, header, err)
	}
	// Transport failures, timeouts and unparseable or incomplete 200s: all
	// worth retrying later.
	return transportError(err)
}

func result(tok *oauth2.Token, oldRT string, tmpl Template, now time.Time) *Result {
	res := &Result{AccessToken: tok.AccessToken, TokenType: tok.TokenType}
	if tok.RefreshToken != oldRT {
		res.RefreshToken = tok.RefreshToken
	}
	switch {
	case !tok.Expiry.IsZero():
		e := tok.Expiry
		res.Expiry = &e
	case isZeroNumber(tok.Extra("expires_in")):
		// An explicit expires_in of 0 means the token never expires
		// (Mailchimp); leave Expiry nil.
	default:
		e := now.Add(tmpl.DefaultLifetime)
		res.Expiry = &e
	}
	for _, k := range []string{"refresh_token_expires_in", "x_refresh_token_expires_in"} {
		if secs, ok := number(tok.Extra(k)); ok && secs > 0 {
			e := now.Add(time.Duration(secs) * time.Second)
			res.RefreshExpiry = &e
			break
		}
	}
	keep := map[string]any{}
	for _, k := range tmpl.Keep {
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

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(n, 64)
		return f, err == nil
	}
	return 0, false
}

func isZeroNumber(v any) bool {
	n, ok := number(v)
	return ok && n == 0
}
