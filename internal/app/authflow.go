package app

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/authorize"
	"github.com/tokenwarden/tokenwarden/internal/connfile"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// flowSettings is what an authorization-code flow needs of a connection,
// its client secret aside. `worker authorize` builds it from its flags and
// the stored connection; the console from its form or the stored
// connection, and keeps it with the pending authorization, so that the
// callback exchanges the code exactly as consent was asked for.
type flowSettings struct {
	Provider     string          `json:"provider"`
	AuthorizeURL string          `json:"authorize_url,omitempty"`
	TokenURL     string          `json:"token_url,omitempty"`
	AuthStyle    string          `json:"auth_style,omitempty"`
	ClientID     string          `json:"client_id,omitempty"`
	Scopes       string          `json:"scopes,omitempty"`
	Params       json.RawMessage `json:"params,omitempty"`
}

// settingsOf returns a stored connection's flow settings.
func settingsOf(r *model.OAuthToken) flowSettings {
	return flowSettings{Provider: r.Provider, AuthorizeURL: store.Str(r.AuthorizeURL), TokenURL: store.Str(r.TokenURL),
		AuthStyle: store.Str(r.AuthStyle), ClientID: store.Str(r.ClientID), Scopes: store.Str(r.Scopes), Params: r.Params}
}

// newFlow prepares the flow of s with secret, the one preparation both
// front ends use: the template, s's own URLs over the template's, and the
// endpoint policy on the token endpoint (which receives the secret) and
// on the connection's own authorization endpoint. port and timeout matter
// only to `worker authorize`'s local listener.
func (a *App) newFlow(s *flowSettings, secret string, port int, timeout time.Duration) (*authorize.Flow, error) {
	tmpl, ok := a.catalogue.Lookup(s.Provider)
	if !ok {
		return nil, fmt.Errorf("unknown provider %q", s.Provider)
	}
	// A params object that does not parse was refused by Validate; a
	// stored one that does not is left out, as a refresh would fail on it.
	params, _ := provider.ParseParams(s.Params)
	flow, err := authorize.New(authorize.Options{
		Template:     tmpl,
		AuthURL:      s.AuthorizeURL,
		TokenURL:     s.TokenURL,
		AuthStyle:    s.AuthStyle,
		ClientID:     s.ClientID,
		ClientSecret: secret,
		Scopes:       s.Scopes,
		Params:       params,
		Port:         port,
		Timeout:      timeout,
		HTTPClient:   provider.NewHTTPClient(a.cfg.HTTPTimeout, 1),
	})
	if err != nil {
		return nil, err
	}
	if err := a.policy().Check(flow.TokenURL()); err != nil {
		return nil, err
	}
	if err := connfile.CheckAuthorizeURL(&s.AuthorizeURL, a.policy()); err != nil {
		return nil, err
	}
	return flow, nil
}

// withTokens returns row with the tokens of res, as both front ends store
// them: through the import path, which bumps the version, makes the
// connection active, fences a claim in flight and wakes its consumers.
func withTokens(row store.ImportRow, res *authorize.Result) store.ImportRow {
	row.AccessToken = &res.AccessToken
	// An empty refresh token would erase the stored one: keep it nil.
	if res.RefreshToken != "" {
		row.RefreshToken = &res.RefreshToken
	}
	row.AccessTokenExpires = res.Expiry
	row.RefreshTokenExpires = res.RefreshExpiry
	return row
}
