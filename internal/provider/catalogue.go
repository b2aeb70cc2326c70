package provider

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/pkg/model"
)

//go:embed providers.json
var builtinJSON []byte

// Template describes how to refresh tokens at one provider. Templates are
// data (providers.json, extended by TOKENS_PROVIDERS_FILE); Go code exists
// only for exchanges that are not a refresh_token grant at all.
type Template struct {
	// Name is the key stored in oauth_tokens.provider; Aliases are other
	// keys for the same template.
	Name        string   `json:"name"`
	Aliases     []string `json:"aliases,omitempty"`
	Description string   `json:"description,omitempty"`
	// TokenURL is the default token endpoint; a connection's token_url
	// overrides it. {placeholders} are filled from the connection's params
	// (then the template's Params defaults).
	TokenURL string            `json:"token_url,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
	// AuthURL is the authorization endpoint `worker authorize` sends the
	// user to, with the same {placeholders}. Fixed query parameters a
	// provider needs to issue a refresh token (Google's access_type=offline)
	// are part of it.
	AuthURL string `json:"authorize_url,omitempty"`
	// Auth is how the client authenticates: "basic" (HTTP Basic), "post"
	// (client_id and client_secret in the body), "bearer" (the client
	// secret as a bearer token) or "none" (client_id only). It is never
	// auto-detected: auto-detection re-sends the same refresh token after
	// a failure, which a rotating provider treats as reuse and answers by
	// revoking the whole token family.
	Auth string `json:"auth"`
	// Encoding of the request body: "form" (default) or "json".
	Encoding string `json:"encoding,omitempty"`
	// SendScope re-sends the connection's scopes with each refresh
	// (Microsoft requires it).
	SendScope bool `json:"send_scope,omitempty"`
	// DefaultLifetime is the access token's lifetime when the response has
	// no expires_in. It is required: a provider that merely omits the field
	// still expires its tokens, and "never refresh" has lost connections.
	DefaultLifetime Duration `json:"default_lifetime"`
	// TokensNeverExpire marks a provider documented to issue access tokens
	// that never expire (Mailchimp); DefaultLifetime is then unused.
	TokensNeverExpire bool `json:"tokens_never_expire,omitempty"`
	// MaxLifetime is the longest expires_in believed (DefaultMaxLifetime
	// when unset); a longer one is an anomaly and DefaultLifetime is used.
	MaxLifetime Duration `json:"max_lifetime,omitempty"`
	// Rotates says the provider issues a new refresh token on each
	// refresh and rejects the old one; ReuseGrace is how long the old one
	// still works if the answer was lost (Xero: 30 minutes).
	Rotates    bool     `json:"rotates,omitempty"`
	ReuseGrace Duration `json:"reuse_grace,omitempty"`
	// RefreshIdleLifetime is how long an unused refresh token lives when
	// the response does not say (Xero: 60 days).
	RefreshIdleLifetime Duration `json:"refresh_idle_lifetime,omitempty"`
	// Keep lists the response fields stored in json_data. Only non-secret
	// fields belong here.
	Keep []string `json:"keep,omitempty"`
	// Errors says how to read the provider's errors.
	Errors ErrorRules `json:"errors,omitzero"`
	// Response maps a non-standard success response onto the standard
	// fields, by dotted paths.
	Response *ResponseMap `json:"response,omitempty"`
	// Validate is a request that tells whether an access token is accepted
	// (`worker check`).
	Validate *Validation `json:"validate,omitempty"`
	// APIBaseURL is where the connection's API lives: the one target of
	// the token-injecting proxy (/proxy/{name}/...). Its {placeholders} are
	// filled from the connection's params and json_data (Salesforce's
	// {instance_url}); a connection's params.api_base_url overrides it.
	APIBaseURL string `json:"api_base_url,omitempty"`
	// APIAuthScheme is the scheme the proxy sends the token with,
	// "Authorization: <scheme> <token>"; empty means the token's type
	// (Bearer). Zoho wants "Zoho-oauthtoken".
	APIAuthScheme string `json:"api_auth_scheme,omitempty"`
	// APIHeaders are headers the proxy sets on every request, filled like
	// APIBaseURL (Xero's xero-tenant-id from params.tenant_id); see
	// FillAPIHeaders.
	APIHeaders map[string]string `json:"api_headers,omitempty"`
	// Grants are the grants a connection of this template may have
	// (see Grants); none listed means refresh_token alone. An import of
	// another grant is refused, and a row changed to one is not sent.
	Grants []string `json:"grants,omitempty"`
	// Audience is the aud of a jwt_bearer assertion when the connection's
	// params.audience is not set, with the token URL's {placeholders}
	// (Salesforce's https://{login_host}); empty means the token URL.
	Audience string `json:"audience,omitempty"`
	// Exchange names Go code for a protocol that is not a plain refresh
	// ("webex_service_app"); empty means the standard exchange.
	Exchange    string `json:"exchange,omitempty"`
	AppTokenURL string `json:"app_token_url,omitempty"`
}

// ErrorRules extend the standard error reading for one provider.
type ErrorRules struct {
	// CodeFields and DescriptionFields are response fields holding the
	// error code and text, in order of preference; "error" and
	// "error_description" are always read.
	CodeFields        []string `json:"code_fields,omitempty"`
	DescriptionFields []string `json:"description_fields,omitempty"`
	// Reauth and Transient list provider-specific codes.
	Reauth    []string `json:"reauth,omitempty"`
	Transient []string `json:"transient,omitempty"`
	// TransientDescriptions are texts that make an otherwise fatal code
	// transient (Salesforce's concurrent refresh answers invalid_grant
	// "token request is already being processed").
	TransientDescriptions []string `json:"transient_descriptions,omitempty"`
}

// ResponseMap names where a non-standard response keeps its tokens.
type ResponseMap struct {
	AccessToken      string `json:"access_token"`
	ExpiresAt        string `json:"expires_at,omitempty"`
	ExpiresIn        string `json:"expires_in,omitempty"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	RefreshExpiresAt string `json:"refresh_expires_at,omitempty"`
}

// Validation is a request sent with an access token to see whether the
// provider accepts it.
type Validation struct {
	URL    string `json:"url"`
	Method string `json:"method,omitempty"` // default GET
	// TokenIn is "header" (Authorization: Bearer, the default) or "form"
	// (an access_token form field).
	TokenIn string `json:"token_in,omitempty"`
}

// Duration is a time.Duration written as a Go duration string in JSON.
type Duration time.Duration

// UnmarshalJSON reads "30m", "1h", "0s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Catalogue is the set of known provider templates.
type Catalogue struct {
	// templates by name and alias, shared read-only by every refresh
	templates map[string]*Template
	names     []string // template names, sorted
}

// NewCatalogue returns the built-in templates.
func NewCatalogue() *Catalogue {
	c, err := parseCatalogue(nil, builtinJSON)
	if err != nil {
		panic("provider: built-in catalogue is invalid: " + err.Error())
	}
	return c
}

// LoadCatalogue returns the built-in templates extended, or overridden by
// name, with those of the JSON file at path (an array of templates). An
// empty path means the built-ins alone.
func LoadCatalogue(path string) (*Catalogue, error) {
	if path == "" {
		return NewCatalogue(), nil
	}
	data, err := readBounded(path, MaxProvidersFileSize)
	if err != nil {
		return nil, fmt.Errorf("TOKENS_PROVIDERS_FILE: %w", err)
	}
	c, err := parseCatalogue(NewCatalogue(), data)
	if err != nil {
		return nil, fmt.Errorf("TOKENS_PROVIDERS_FILE %s: %w", path, err)
	}
	return c, nil
}

// MaxProvidersFileSize bounds TOKENS_PROVIDERS_FILE: a path such as
// /dev/zero or a log file named by mistake must fail at once, not be read
// until the process runs out of memory. The built-in templates take 7 KiB;
// a megabyte is over a thousand templates.
const MaxProvidersFileSize = 1 << 20

// readBounded reads the file at path, refusing one longer than limit bytes
// without reading past limit+1. Errors name the path.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, limit>>20)
	}
	return data, nil
}

func parseCatalogue(base *Catalogue, data []byte) (*Catalogue, error) {
	var list []Template
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, err
	}
	byName := map[string]Template{}
	if base != nil {
		for _, n := range base.names {
			byName[n] = *base.templates[n]
		}
	}
	for _, t := range list {
		if err := t.check(); err != nil {
			return nil, err
		}
		byName[t.Name] = t
	}
	c := &Catalogue{templates: map[string]*Template{}}
	for name, t := range byName {
		c.names = append(c.names, name)
		c.templates[name] = &t
	}
	sort.Strings(c.names)
	// In name order, so that an alias two templates claim resolves the
	// same way on every run.
	for _, name := range c.names {
		t := c.templates[name]
		for _, a := range t.Aliases {
			if _, taken := c.templates[a]; !taken {
				c.templates[a] = t
			}
		}
	}
	return c, nil
}

func (t *Template) check() error {
	if t.Name == "" {
		return errors.New("a provider template has no name")
	}
	if _, err := ParseAuthStyle(t.Auth); err != nil {
		return fmt.Errorf("provider %s: %w", t.Name, err)
	}
	if t.DefaultLifetime <= 0 && !t.TokensNeverExpire {
		return fmt.Errorf("provider %s: default_lifetime is required (the lifetime of a token whose response has no expires_in)", t.Name)
	}
	if t.Encoding != "" && t.Encoding != "form" && t.Encoding != "json" {
		return fmt.Errorf("provider %s: encoding must be form or json", t.Name)
	}
	if t.Exchange != "" && t.Exchange != "webex_service_app" {
		return fmt.Errorf("provider %s: unknown exchange %q", t.Name, t.Exchange)
	}
	if err := t.checkAPI(); err != nil {
		return fmt.Errorf("provider %s: %w", t.Name, err)
	}
	for _, g := range t.Grants {
		if !slices.Contains(Grants, g) {
			return fmt.Errorf("provider %s: unknown grant %q (want %s)", t.Name, g, strings.Join(Grants, ", "))
		}
	}
	return nil
}

// Grants are the grants the worker can exchange, as a connection's grant
// and a template's grants name them.
var Grants = []string{model.GrantRefreshToken, model.GrantClientCredentials, model.GrantJWTBearer, model.GrantGitHubApp}

// SupportedGrants are the grants a connection of t may have.
func (t *Template) SupportedGrants() []string {
	if len(t.Grants) == 0 {
		return []string{model.GrantRefreshToken}
	}
	return t.Grants
}

// CheckGrant refuses a grant ("" is refresh_token) that t does not list.
func (t *Template) CheckGrant(grant string) error {
	if grant == "" {
		grant = model.GrantRefreshToken
	}
	if !slices.Contains(t.SupportedGrants(), grant) {
		return fmt.Errorf("provider %s does not support grant %s (it supports %s)", t.Name, grant, strings.Join(t.SupportedGrants(), ", "))
	}
	return nil
}

// Lookup returns the template for a provider name or alias.
func (c *Catalogue) Lookup(name string) (Template, bool) {
	t, ok := c.templates[name]
	if !ok {
		return Template{}, false
	}
	return *t, true
}

// template is Lookup without the copy, for the refresh path: a copy made
// per refresh escaped to the heap, 420 bytes a refresh in the burst's
// allocation profile. The template must not be changed.
func (c *Catalogue) template(name string) (*Template, bool) {
	t, ok := c.templates[name]
	return t, ok
}

// Names returns the template names, sorted.
func (c *Catalogue) Names() []string { return c.names }

// ParseAuthStyle maps a template's or connection's auth style to the
// x/oauth2 style that sends it; "bearer" and "none" are then reshaped by
// the provider transport.
func ParseAuthStyle(s string) (oauth2.AuthStyle, error) {
	switch s {
	case "basic":
		return oauth2.AuthStyleInHeader, nil
	case "post", "bearer", "none":
		return oauth2.AuthStyleInParams, nil
	default:
		return 0, fmt.Errorf("unknown auth style %q (want basic, post, bearer or none)", s)
	}
}

// Placeholders are the values a URL beyond the token endpoint is filled
// from: the string fields of the connection's json_data (Salesforce's
// instance_url), overridden by its params.
func Placeholders(jsonData []byte, params map[string]string) map[string]string {
	vars := map[string]string{}
	var fields map[string]any
	if json.Unmarshal(jsonData, &fields) == nil {
		for k, x := range fields {
			if s, ok := x.(string); ok {
				vars[k] = s
			}
		}
	}
	for k, s := range params {
		vars[k] = s
	}
	return vars
}

// Fill replaces {name} placeholders in s from params, then defaults; a
// placeholder with no value is an error.
func Fill(s string, params, defaults map[string]string) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		key := s[i+1 : i+j]
		v, ok := params[key]
		if !ok || v == "" {
			v, ok = defaults[key]
		}
		if !ok || v == "" {
			return "", fmt.Errorf("missing parameter %q for %s", key, s)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+1:]
	}
}
