package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
)

// EndpointPolicy decides which addresses may receive a connection's
// secrets. A row (or an import) names its own token URL, so without a
// policy anyone who can write a row could make the worker send a client
// secret and refresh token to an address of their choosing.
type EndpointPolicy struct {
	// AllowInsecureHTTP permits http:// to hosts other than loopback.
	AllowInsecureHTTP bool
	// AllowedHosts, when not empty, are the only hosts (path.Match
	// patterns such as "*.salesforce.com") token requests may go to.
	AllowedHosts []string
}

// Check returns an error if raw may not receive secrets.
func (p EndpointPolicy) Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("token endpoint %q is not an absolute URL", raw)
	}
	host := strings.ToLower(u.Hostname())
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowInsecureHTTP && !IsLoopback(host) {
			return fmt.Errorf("token endpoint %s uses http; only https is allowed outside loopback (TOKENS_ALLOW_INSECURE_HTTP)", u.Host)
		}
	default:
		return fmt.Errorf("token endpoint scheme %q is not https", u.Scheme)
	}
	if len(p.AllowedHosts) == 0 {
		return nil
	}
	for _, pat := range p.AllowedHosts {
		if ok, _ := path.Match(strings.ToLower(pat), host); ok {
			return nil
		}
	}
	return fmt.Errorf("token endpoint host %s is not in TOKENS_ALLOWED_TOKEN_HOSTS", host)
}

// IsLoopback reports whether host (a URL's Hostname, lower case) is this
// machine: plain http to it crosses no network.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// WithEndpointPolicy returns a copy of r that enforces p on every request
// that carries secrets.
func (r *Refresher) WithEndpointPolicy(p EndpointPolicy) *Refresher {
	c := *r
	c.policy = p
	return &c
}

// ParseParams reads a connection's params, a JSON object, as the text its
// placeholders are filled with: a value that is not a string is written as
// fmt.Sprint writes it. Empty raw gives nil.
func ParseParams(raw []byte) (map[string]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, errors.New("params is not a JSON object")
	}
	params := make(map[string]string, len(obj))
	for k, v := range obj {
		if s, ok := v.(string); ok {
			params[k] = s
		} else {
			params[k] = fmt.Sprint(v)
		}
	}
	return params, nil
}

// TokenEndpoint is the token URL a connection of t refreshes at: its own
// tokenURL, else the template's, with {placeholders} filled from params and
// then the template's defaults.
func (t *Template) TokenEndpoint(tokenURL string, params map[string]string) (string, error) {
	if tokenURL == "" {
		tokenURL = t.TokenURL
	}
	if tokenURL == "" {
		return "", fmt.Errorf("provider %s has no token endpoint of its own: give token_url", t.Name)
	}
	return Fill(tokenURL, params, t.Params)
}

// AppTokenEndpoint is where the Webex service-app exchange asks for an app
// token: params' app_token_url, else the template's, filled like
// TokenEndpoint.
func (t *Template) AppTokenEndpoint(params map[string]string) (string, error) {
	u := params["app_token_url"]
	if u == "" {
		u = t.AppTokenURL
	}
	return Fill(u, params, t.Params)
}

// CheckConnection resolves every endpoint a refresh of a connection of t
// would send its secrets to, as the refresh resolves them, and checks each
// against p. `worker import` and `worker authorize` call it, so that a
// connection that can never be refreshed is refused when it is written
// rather than found dead later.
func (p EndpointPolicy) CheckConnection(t *Template, tokenURL string, params map[string]string) error {
	u, err := t.TokenEndpoint(tokenURL, params)
	if err != nil {
		return err
	}
	if err := p.Check(u); err != nil {
		return err
	}
	if t.Exchange != "webex_service_app" {
		return nil
	}
	if u, err = t.AppTokenEndpoint(params); err != nil {
		return err
	}
	return p.Check(u)
}
