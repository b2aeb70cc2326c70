package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/authorize"
	"github.com/tokenwarden/tokenwarden/internal/connfile"
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
	if req.AuthURL != "" {
		// Kept, so that the connection can be reconnected later (the
		// console's reconnect, or this command without --auth-url).
		rec.AuthorizeURL = &req.AuthURL
	}
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
		return a.store.Import(ctx, []store.ImportRow{withTokens(row, res)})
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
	grant := ""
	if existing != nil {
		grant = existing.Grant
	}
	name := pick(req.Provider, stored(existing, func(r *model.OAuthToken) string { return r.Provider }), "oauth2")
	if err := a.browserReady(name, grant); err != nil {
		return fmt.Errorf("authorize %s: %w", req.Name, err)
	}
	return nil
}

// browserReady is browserGrant's check, which the console's connect and
// reconnect make too: of the provider's template and the connection's
// grant ("" for a new connection).
func (a *App) browserReady(providerName, grant string) error {
	if grant != "" && grant != model.GrantRefreshToken {
		return fmt.Errorf("its grant is %s, which obtains tokens with the connection's own credentials and needs no browser (worker refresh obtains one now)", grant)
	}
	tmpl, ok := a.catalogue.Lookup(providerName)
	if !ok {
		return fmt.Errorf("unknown provider %q", providerName)
	}
	if tmpl.CheckGrant(model.GrantRefreshToken) != nil {
		return fmt.Errorf("provider %s has no browser authorization; its grants are %s (import the connection instead)",
			providerName, strings.Join(tmpl.SupportedGrants(), ", "))
	}
	return nil
}

// authorizeFlow prepares the flow: what was given, else the stored
// connection, else the template.
func (a *App) authorizeFlow(req AuthorizeRequest, existing *model.OAuthToken, row *store.ImportRow, secret string) (*authorize.Flow, error) {
	s := flowSettings{Provider: "oauth2"}
	if existing != nil {
		s = settingsOf(existing)
	}
	set := func(dst *string, given *string) {
		if given != nil {
			*dst = *given
		}
	}
	set(&s.Provider, req.Provider)
	set(&s.TokenURL, req.TokenURL)
	set(&s.ClientID, req.ClientID)
	set(&s.Scopes, req.Scopes)
	if req.AuthURL != "" {
		s.AuthorizeURL = req.AuthURL
	}
	if row.Params != nil {
		s.Params = []byte(*row.Params)
	}
	return a.newFlow(&s, secret, req.Port, req.Timeout)
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
