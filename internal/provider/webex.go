package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// webexServiceApp is the Webex token manager's multi-level refresh. The
// service app's own refresh token is tried first; if the provider refused
// it (or there is none), a new token is requested for the app from
// /v1/applications/{app_id}/token, authenticated with the access token of
// the token-manager connection named in params.token_manager. That
// connection is an ordinary row the worker keeps fresh itself, which is the
// seed's third level. Only when every level refuses is the connection
// needs_reauth.
func (r *Refresher) webexServiceApp(ctx context.Context, c *conn) (*Result, error) {
	if c.req.RefreshToken != "" {
		res, err := r.standard(ctx, c)
		var pe *Error
		if err == nil || errors.As(err, &pe) && !pe.Reauth {
			return res, err
		}
	}
	return r.webexAppToken(ctx, c)
}

func (r *Refresher) webexAppToken(ctx context.Context, c *conn) (*Result, error) {
	params := c.req.Params
	manager := params["token_manager"]
	if manager == "" || params["app_id"] == "" || params["target_org_id"] == "" {
		return nil, configError("webex_service_app needs params app_id, target_org_id and token_manager")
	}
	if r.lookup == nil {
		return nil, configError("no token lookup configured for webex_service_app")
	}
	managerToken, err := r.lookup(ctx, manager)
	if err != nil {
		// The manager connection may be mid-refresh or briefly unreadable:
		// retry later rather than give up on the service app.
		return nil, &Error{Err: err, msg: fmt.Sprintf("token manager %s has no usable token: %s", manager, c.req.redactor().Clean(err.Error(), 200))}
	}
	appURL, err := c.tmpl.AppTokenEndpoint(params)
	if err != nil {
		return nil, configError("%v", err)
	}
	if err := r.policy.Check(appURL); err != nil {
		return nil, configError("%v", err)
	}
	body, _ := json.Marshal(map[string]string{
		"clientId":     c.req.ClientID,
		"clientSecret": c.req.ClientSecret.Reveal(),
		"targetOrgId":  params["target_org_id"],
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, appURL, bytes.NewReader(body))
	if err != nil {
		return nil, configError("bad app token URL")
	}
	req.Header.Set("Authorization", "Bearer "+managerToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	// What this request sent, and the connection's refresh token, must not
	// come back in its error.
	red := c.req.redactor(managerToken)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, transportError(err, red)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, transportError(err, red)
	}
	return appTokenResult(c, resp, data, red)
}

func appTokenResult(c *conn, resp *http.Response, data []byte, red Redactor) (*Result, error) {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := classify(c.tmpl, resp.StatusCode, "", "", data, resp.Header, nil, red)
		// The manager's token was refused, or the app's credentials were:
		// every level has failed, a person must act.
		e.Reauth = e.Reauth || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden
		e.msg = "webex application token request refused"
		return nil, e
	}
	tok := tokenOfAnswer(data)
	if tok == nil {
		return nil, &Error{Status: resp.StatusCode, msg: "webex application token response has no access_token"}
	}
	return checked(result(tok, c.req.RefreshToken.Reveal(), c, time.Now()))
}

// tokenOfAnswer reads an RFC 6749 token answer that did not go through
// x/oauth2 (an exchange of our own), or nil if it has no access_token.
// The whole answer becomes the token's extras: result reads expires_in
// only if the provider sent it (a missing one must not mean "never
// expires") and keeps the template's fields.
func tokenOfAnswer(data []byte) *oauth2.Token {
	var tj struct {
		AccessToken  string  `json:"access_token"`
		RefreshToken string  `json:"refresh_token"`
		TokenType    string  `json:"token_type"`
		ExpiresIn    float64 `json:"expires_in"`
	}
	if err := json.Unmarshal(data, &tj); err != nil || tj.AccessToken == "" {
		return nil
	}
	var raw map[string]any
	_ = json.Unmarshal(data, &raw)
	tok := (&oauth2.Token{AccessToken: tj.AccessToken, RefreshToken: tj.RefreshToken, TokenType: tj.TokenType}).WithExtra(raw)
	if tj.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(tj.ExpiresIn) * time.Second)
	}
	return tok
}
