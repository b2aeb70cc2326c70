package provider

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// GitHub's app JWT: iat is set a minute in the past against clock drift,
// and exp stays under GitHub's ten-minute ceiling with the same margin.
const (
	appJWTBackdate = 60 * time.Second
	appJWTLifetime = 9 * time.Minute
)

// githubApp obtains an installation access token for a GitHub App: an
// RS256 JWT whose issuer is params.app_id, signed with the app's private
// key (the client_secret, sealed and bound to the row like every secret),
// is exchanged at POST {api_base_url}/app/installations/{installation_id}/
// access_tokens, the template's token URL. The answer (201 {"token",
// "expires_at"}) is read through the template's response map.
//
// 401 (a JWT GitHub cannot verify: wrong key, unknown app) and 404 (the
// installation is gone) make the connection needs_reauth: its credentials
// are revoked or wrong. A 403 is a rate limit, and transient, when GitHub
// says so; otherwise (a suspended installation) it needs a person too.
// 429 and 5xx are transient.
func (r *Refresher) githubApp(ctx context.Context, c *conn) (*Result, error) {
	req := &c.req
	appID := req.Params["app_id"]
	if appID == "" {
		return nil, configError("github_app needs params.app_id, the issuer of the app's JWT")
	}
	tokenURL, err := r.tokenEndpoint(c)
	if err != nil {
		return nil, err
	}
	key, err := parseRSAKey(req.ClientSecret.Reveal())
	if err != nil {
		return nil, configError("github_app: %v", err)
	}
	now := time.Now()
	appJWT, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer:    appID,
		IssuedAt:  jwt.NewNumericDate(now.Add(-appJWTBackdate)),
		ExpiresAt: jwt.NewNumericDate(now.Add(appJWTLifetime)),
	}).SignedString(key)
	if err != nil {
		return nil, configError("github_app: the private key cannot sign")
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, http.NoBody)
	if err != nil {
		return nil, configError("bad installation token URL")
	}
	hreq.Header.Set("Authorization", "Bearer "+appJWT)
	hreq.Header.Set("Accept", "application/vnd.github+json")
	hreq.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	// The JWT is a credential for its nine minutes: neither it nor the
	// key may come back in an error.
	red := req.redactor(appJWT)
	resp, err := r.client.Do(hreq)
	if err != nil {
		return nil, transportError(err, red)
	}
	body, err := readBody(resp)
	resp.Body.Close()
	if err != nil {
		return nil, transportError(err, red)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, githubRefusal(c.tmpl, resp, body, red)
	}
	if c.tmpl.Response != nil {
		if mapped, ok := mapAnswer(c.tmpl.Response, body, time.Now()); ok {
			body = mapped
		}
	}
	tok := tokenOfAnswer(body)
	if tok == nil {
		return nil, &Error{Status: resp.StatusCode, msg: "installation token answer has no token"}
	}
	return credentialResult(tok, c)
}

// githubRefusal classifies GitHub's refusal of an installation token
// request (see githubApp).
func githubRefusal(tmpl *Template, resp *http.Response, body []byte, red Redactor) *Error {
	e := classify(tmpl, resp.StatusCode, "", "", body, resp.Header, nil, red)
	e.msg = "GitHub refused the installation token request"
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusNotFound:
		e.Reauth = true
		e.msg += ": credentials revoked or wrong"
	case resp.StatusCode == http.StatusForbidden:
		e.Reauth = !githubRateLimited(resp.Header, e.Description)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		e.Reauth = false
	}
	return e
}

// githubRateLimited reports a 403 that is GitHub's primary or secondary
// rate limit rather than a refusal.
func githubRateLimited(h http.Header, desc string) bool {
	return h.Get("X-RateLimit-Remaining") == "0" || h.Get("Retry-After") != "" ||
		strings.Contains(strings.ToLower(desc), "rate limit")
}
