package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/authorize"
	"github.com/tokenwarden/tokenwarden/internal/connfile"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// AuthorizeRequest is a connection to authorize in a browser, as `worker
// authorize` gives it. A nil field was not given: the stored connection's
// value is kept, and a new connection takes the template's.
type AuthorizeRequest struct {
	Name                                 string
	Provider, TokenURL, ClientID, Scopes *string
	// Params, when not nil, replaces the stored provider parameters.
	Params map[string]any
	// AuthURL overrides the template's authorization endpoint.
	AuthURL string
	// Port is the callback's port on 127.0.0.1; 0 picks a free one.
	Port int
	// Timeout bounds the wait for the browser.
	Timeout time.Duration
	// ClientSecret returns the client secret to store and send, given the
	// stored connection (nil for a new one). "" stores none.
	ClientSecret func(existing *model.OAuthToken) (string, error)
	// Show is handed the URL to open in a browser, before the wait.
	Show func(url string) error
}

// Authorized is what Authorize stored.
type Authorized struct {
	// Row is the connection as stored.
	Row *model.OAuthToken
	// Warning says what was odd about the provider's answer, if anything.
	Warning string
	// NoRefreshToken: the provider issued none, so the connection cannot
	// be refreshed and needs authorizing again when its token expires.
	NoRefreshToken bool
}

// Authorize runs the authorization-code flow (with PKCE) for a connection
// and stores its tokens. What is stored is validated as an import is, and
// checked against the endpoint policy, before the browser is involved.
func (a *App) Authorize(ctx context.Context, req AuthorizeRequest) (*Authorized, error) {
	existing, err := a.store.Get(ctx, req.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		existing = nil
	case err != nil:
		return nil, err
	}

	if err := a.browserGrant(req, existing); err != nil {
		return nil, err
	}

	// What is stored: what was given (validated as `worker import` would);
	// anything not given keeps the stored value.
	rec := connfile.Record{Name: req.Name, Provider: req.Provider, TokenURL: req.TokenURL, ClientID: req.ClientID,
		Scopes: req.Scopes, Params: req.Params}
	secret, err := req.ClientSecret(existing)
	if err != nil {
		return nil, err
	}
	if secret != "" {
		rec.ClientSecret = &secret
	}
	row, err := rec.Validate(a.catalogue, time.Now())
	if err != nil {
		return nil, err
	}
	if err := connfile.CheckEndpoint(&row, existing, a.catalogue, a.policy()); err != nil {
		return nil, err
	}

	flow, err := a.authorizeFlow(req, existing, &row, secret)
	if err != nil {
		return nil, err
	}
	save := func(ctx context.Context, res *authorize.Result) error {
		row.AccessToken = &res.AccessToken
		// An empty refresh token would erase the stored one: keep it nil.
		if res.RefreshToken != "" {
			row.RefreshToken = &res.RefreshToken
		}
		row.AccessTokenExpires = res.Expiry
		row.RefreshTokenExpires = res.RefreshExpiry
		return a.store.Import(ctx, []store.ImportRow{row})
	}
	res, err := flow.Run(ctx, req.Show, save)
	if err != nil {
		return nil, fmt.Errorf("authorize %s: %w", req.Name, err)
	}
	saved, err := a.store.Get(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return &Authorized{Row: saved, Warning: res.Warning, NoRefreshToken: res.RefreshToken == ""}, nil
}

// browserGrant refuses to authorize in a browser a connection whose
// grant obtains its tokens with its own credentials (client_credentials,
// jwt_bearer, github_app), or one of a template with no refresh-token
// grant: there is nothing to approve, and storing a refresh token would
// change what the connection is.
func (a *App) browserGrant(req AuthorizeRequest, existing *model.OAuthToken) error {
	if existing != nil && existing.Grant != "" && existing.Grant != model.GrantRefreshToken {
		return fmt.Errorf("authorize %s: its grant is %s, which obtains tokens with the connection's own credentials and needs no browser (worker refresh %s obtains one now)",
			req.Name, existing.Grant, req.Name)
	}
	name := pick(req.Provider, stored(existing, func(r *model.OAuthToken) string { return r.Provider }), "oauth2")
	if tmpl, ok := a.catalogue.Lookup(name); ok && tmpl.CheckGrant(model.GrantRefreshToken) != nil {
		return fmt.Errorf("authorize %s: provider %s has no browser authorization; its grants are %s (import the connection instead)",
			req.Name, name, strings.Join(tmpl.SupportedGrants(), ", "))
	}
	return nil
}

// authorizeFlow prepares the flow: what was given, else the stored
// connection, else the template.
func (a *App) authorizeFlow(req AuthorizeRequest, existing *model.OAuthToken, row *store.ImportRow, secret string) (*authorize.Flow, error) {
	tmpl, _ := a.catalogue.Lookup(pick(req.Provider, stored(existing, func(r *model.OAuthToken) string { return r.Provider }), "oauth2"))
	var params map[string]string
	// A params object that does not parse was refused by Validate; a
	// stored one that does not is left out, as a refresh would fail on it.
	if row.Params != nil {
		params, _ = provider.ParseParams([]byte(*row.Params))
	} else if existing != nil {
		params, _ = provider.ParseParams(existing.Params)
	}
	flow, err := authorize.New(authorize.Options{
		Template:     tmpl,
		AuthURL:      req.AuthURL,
		TokenURL:     pick(req.TokenURL, stored(existing, func(r *model.OAuthToken) string { return store.Str(r.TokenURL) }), ""),
		AuthStyle:    stored(existing, func(r *model.OAuthToken) string { return store.Str(r.AuthStyle) }),
		ClientID:     pick(req.ClientID, stored(existing, func(r *model.OAuthToken) string { return store.Str(r.ClientID) }), ""),
		ClientSecret: secret,
		Scopes:       pick(req.Scopes, stored(existing, func(r *model.OAuthToken) string { return store.Str(r.Scopes) }), ""),
		Params:       params,
		Port:         req.Port,
		Timeout:      req.Timeout,
		HTTPClient:   provider.NewHTTPClient(a.cfg.HTTPTimeout, 1),
	})
	if err != nil {
		return nil, err
	}
	if err := a.policy().Check(flow.TokenURL()); err != nil {
		return nil, err
	}
	return flow, nil
}

// pick returns the given value if there is one, else the stored value,
// else def.
func pick(given *string, storedValue, def string) string {
	switch {
	case given != nil:
		return *given
	case storedValue != "":
		return storedValue
	}
	return def
}

func stored(r *model.OAuthToken, get func(*model.OAuthToken) string) string {
	if r == nil {
		return ""
	}
	return get(r)
}
