package provider

import (
	"cmp"
	"context"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// grant runs the exchange of the connection's grant: the refresh-token refresh
// (the default), or a grant that obtains each token with the connection's
// own credentials. A grant this release cannot exchange is a
// configuration error, so that nothing is sent.
func (r *Refresher) grant(ctx context.Context, c *conn) (*Result, error) {
	switch c.req.Grant {
	case "", model.GrantRefreshToken:
		if c.tmpl.Exchange == "webex_service_app" {
			return r.webexServiceApp(ctx, c)
		}
		return r.standard(ctx, c)
	case model.GrantClientCredentials:
		return r.clientCredentials(ctx, c)
	default:
		return nil, configError("grant %q is not supported", c.req.Grant)
	}
}

// endpointParams are the connection parameters a client-credentials
// request sends besides the scopes: the audience or resource some
// providers want (Auth0, ADFS), and Zoom's account_id with its
// grant_type=account_credentials. Every other parameter fills the
// template's placeholders only and is never sent.
var endpointParams = []string{"audience", "resource", "account_id", "grant_type"}

// clientCredentials obtains a new access token with the client's own id and
// secret (RFC 6749 section 4.4), through x/oauth2's clientcredentials. The
// client authentication is the connection's or the template's, never
// auto-detected. A provider refusing the client (invalid_client) makes the
// connection needs_reauth: its credentials are revoked or wrong.
func (r *Refresher) clientCredentials(ctx context.Context, c *conn) (*Result, error) {
	req := &c.req
	tokenURL, err := c.tmpl.TokenEndpoint(req.TokenURL, req.Params)
	if err != nil {
		return nil, configError("%v", err)
	}
	if err := r.policy.Check(tokenURL); err != nil {
		return nil, configError("%v", err)
	}
	auth := cmp.Or(req.AuthStyle, c.tmpl.Auth)
	if auth != "basic" && auth != "post" {
		return nil, configError("client_credentials needs auth_style basic or post, not %q", auth)
	}
	style, err := ParseAuthStyle(auth)
	if err != nil {
		return nil, configError("%v", err)
	}
	if req.ClientID == "" || req.ClientSecret == "" {
		return nil, configError("client_credentials needs a client_id and a client_secret")
	}
	cfg := clientcredentials.Config{
		ClientID:     req.ClientID,
		ClientSecret: req.ClientSecret.Reveal(),
		TokenURL:     tokenURL,
		Scopes:       strings.Fields(req.Scopes),
		AuthStyle:    style,
	}
	for _, k := range endpointParams {
		if v := req.Params[k]; v != "" {
			if cfg.EndpointParams == nil {
				cfg.EndpointParams = map[string][]string{}
			}
			cfg.EndpointParams[k] = []string{v}
		}
	}
	if g := req.Params["grant_type"]; g != "" && g != "client_credentials" && g != "account_credentials" {
		return nil, configError("params.grant_type must be client_credentials or account_credentials, not %q", g)
	}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, r.client))
	if err != nil {
		return nil, fromOAuth2(err, c.tmpl, req.redactor())
	}
	res := result(tok, "", c, time.Now())
	// The grant has no refresh token (RFC 6749 section 4.4.3); one sent
	// anyway is not kept, so the row stays what it was imported as.
	res.RefreshToken, res.RefreshExpiry = "", nil
	return checked(res)
}
