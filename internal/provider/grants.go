package provider

import (
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/jwt"

	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// grant runs the exchange of the connection's grant: the refresh-token refresh
// (the default), or a grant that obtains each token with the connection's
// own credentials. A grant this release cannot exchange is a
// configuration error, so that nothing is sent.
func (r *Refresher) grant(ctx context.Context, c *conn) (*Result, error) {
	if err := c.tmpl.CheckGrant(c.req.Grant); err != nil {
		return nil, configError("%v", err)
	}
	switch c.req.Grant {
	case "", model.GrantRefreshToken:
		if c.tmpl.Exchange == "webex_service_app" {
			return r.webexServiceApp(ctx, c)
		}
		return r.standard(ctx, c)
	case model.GrantClientCredentials:
		return r.clientCredentials(ctx, c)
	case model.GrantJWTBearer:
		return r.jwtBearer(ctx, c)
	case model.GrantGitHubApp:
		return r.githubApp(ctx, c)
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
	tokenURL, err := r.tokenEndpoint(c)
	if err != nil {
		return nil, err
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
	// Shaped by the template as a refresh is: its response map, its
	// scopes re-sent, its encoding.
	client := *r.client
	client.Transport = &shaper{base: transport(r.client), tmpl: c.tmpl, auth: auth, scopes: req.Scopes, clientSecret: cfg.ClientSecret}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, &client))
	if err != nil {
		return nil, fromOAuth2(err, c.tmpl, req.redactor())
	}
	return credentialResult(tok, c)
}

// credentialResult is the Result of a grant that obtains each token with
// the connection's own credentials. Such a grant has no refresh token (RFC
// 6749 section 4.4.3); one sent anyway is not kept, so the row stays what
// it was imported as.
func credentialResult(tok *oauth2.Token, c *conn) (*Result, error) {
	res := result(tok, "", c, time.Now())
	res.RefreshToken, res.RefreshExpiry = "", nil
	return checked(res)
}

// jwtBearer obtains a new access token with an assertion signed by the
// connection's private key (RFC 7523 section 2.1), through x/oauth2's jwt
// package: the issuer is the client_id, the key (PEM, RSA) is the
// client_secret, so that it is sealed and bound to the row like every
// secret, and params give the subject (Salesforce's user, a delegated
// Google account), the audience (the token URL when absent) and the key id.
// A provider refusing the assertion (invalid_grant, invalid_client) makes
// the connection needs_reauth: the key is revoked or wrong.
func (r *Refresher) jwtBearer(ctx context.Context, c *conn) (*Result, error) {
	req := &c.req
	tokenURL, err := r.tokenEndpoint(c)
	if err != nil {
		return nil, err
	}
	if req.ClientID == "" {
		return nil, configError("jwt_bearer needs a client_id, the assertion's issuer")
	}
	if err := CheckPrivateKey(req.ClientSecret.Reveal()); err != nil {
		return nil, configError("jwt_bearer: %v", err)
	}
	audience := req.Params["audience"]
	if audience == "" && c.tmpl.Audience != "" {
		if audience, err = Fill(c.tmpl.Audience, req.Params, c.tmpl.Params); err != nil {
			return nil, configError("%v", err)
		}
	}
	cfg := jwt.Config{
		Email:        req.ClientID,
		PrivateKey:   []byte(req.ClientSecret.Reveal()),
		PrivateKeyID: req.Params["key_id"],
		Subject:      req.Params["subject"],
		Audience:     audience,
		Scopes:       strings.Fields(req.Scopes),
		TokenURL:     tokenURL,
	}
	// The assertion is a bearer credential for its lifetime: a provider
	// echoing the request must not get it into last_error or the logs.
	client := *r.client
	sent := &assertionRecorder{base: &shaper{base: transport(r.client), tmpl: c.tmpl, auth: "post"}}
	client.Transport = sent
	tok, err := cfg.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, &client)).Token()
	if err != nil {
		return nil, fromOAuth2(err, c.tmpl, req.redactor(sent.assertion()))
	}
	return credentialResult(tok, c)
}

// CheckPrivateKey refuses what the jwt_bearer and github_app grants could
// not sign with: a PEM (or DER) RSA private key in PKCS #8 or PKCS #1. The
// key is never quoted.
func CheckPrivateKey(key string) error {
	_, err := parseRSAKey(key)
	return err
}

// parseRSAKey reads an RSA private key, PEM or DER, PKCS #8 or PKCS #1:
// the one reading of a connection's private key.
func parseRSAKey(key string) (*rsa.PrivateKey, error) {
	der := []byte(key)
	if b, _ := pem.Decode(der); b != nil {
		der = b.Bytes
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return rk, nil
		}
		return nil, errors.New("the private key is not an RSA key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("client_secret must hold an RSA private key in PEM (PKCS #8 or PKCS #1)")
}

// assertionRecorder keeps the assertion a jwt-bearer request sent, for the
// redaction of the provider's answer.
type assertionRecorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	sent string
}

func (a *assertionRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(io.LimitReader(body, maxTokenLen))
			_ = body.Close()
			if v, err := url.ParseQuery(string(b)); err == nil {
				a.mu.Lock()
				a.sent = v.Get("assertion")
				a.mu.Unlock()
			}
		}
	}
	return a.base.RoundTrip(req)
}

func (a *assertionRecorder) assertion() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sent
}
