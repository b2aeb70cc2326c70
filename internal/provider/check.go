package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// ErrNoValidation is returned by Check for a provider whose template names
// no validation request.
var ErrNoValidation = errors.New("the provider template has no validation request")

// CheckResult is the provider's verdict on an access token.
type CheckResult struct {
	Accepted bool
	Status   int
	URL      string
}

// Check sends the template's validation request with the connection's
// access token (the Webex seed's is_token_valid) and reports whether the
// provider accepted it. The URL's placeholders are filled from req's params
// and the string fields of data, the connection's json_data (Salesforce's
// {instance_url}).
func (r *Refresher) Check(ctx context.Context, req Request, accessToken model.Secret, data json.RawMessage) (*CheckResult, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	c, err := r.resolve(req)
	if err != nil {
		return nil, err
	}
	v := c.tmpl.Validate
	if v == nil {
		return nil, ErrNoValidation
	}
	u, err := Fill(v.URL, Placeholders(data, req.Params), c.tmpl.Params)
	if err != nil {
		return nil, configError("%v", err)
	}
	if err := r.policy.Check(u); err != nil {
		return nil, configError("%v", err)
	}
	token := accessToken.Reveal()
	if token == "" {
		return nil, errors.New("no access token to check")
	}
	hreq, err := newCheckRequest(ctx, v, u, token)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(hreq)
	if err != nil {
		return nil, transportError(err, NewRedactor("", "", token))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300 && !slackStyleRefusal(body)
	return &CheckResult{Accepted: ok, Status: resp.StatusCode, URL: u}, nil
}

func newCheckRequest(ctx context.Context, v *Validation, u, token string) (*http.Request, error) {
	method := v.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if v.TokenIn == "form" {
		body = strings.NewReader(url.Values{"access_token": {token}}.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("bad validation URL %q", u)
	}
	if v.TokenIn == "form" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// slackStyleRefusal spots a 200 that says no ({"ok": false}).
func slackStyleRefusal(body []byte) bool {
	var obj struct {
		OK *bool `json:"ok"`
	}
	return json.Unmarshal(body, &obj) == nil && obj.OK != nil && !*obj.OK
}
