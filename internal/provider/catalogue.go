package provider

import (
	"fmt"
	"sort"
	"time"

	"golang.org/x/oauth2"
)

// Template describes how to refresh tokens at one provider.
type Template struct {
	// Name is the key stored in oauth_tokens.provider.
	Name string
	// TokenURL is the default token endpoint; a connection's token_url
	// overrides it.
	TokenURL string
	// AuthStyle is how the client authenticates: "basic" (HTTP Basic) or
	// "post" (client_id and client_secret in the body). It is never
	// auto-detected: auto-detection re-sends the same refresh token after a
	// failure, which a rotating provider treats as reuse and answers by
	// revoking the whole token family.
	AuthStyle string
	// DefaultLifetime is the access token's lifetime when the response has
	// no expires_in. It must never be "forever": a provider that omits the
	// field still expires its tokens.
	DefaultLifetime time.Duration
	// Keep lists the response fields stored in json_data. Only non-secret
	// fields belong here.
	Keep []string
}

// Catalogue is the set of known provider templates.
type Catalogue struct {
	templates map[string]Template
}

// builtins are the providers tokenwarden knows without configuration.
func builtins() []Template {
	return []Template{{
		Name: "oauth2",
		// RFC 6749 section 2.3.1: servers must support HTTP Basic.
		AuthStyle:       "basic",
		DefaultLifetime: time.Hour,
		Keep:            []string{"scope", "token_type", "instance_url", "issued_at", "id", "signature", "api_url"},
	}}
}

// NewCatalogue returns the built-in templates.
func NewCatalogue() *Catalogue {
	c := &Catalogue{templates: map[string]Template{}}
	for _, t := range builtins() {
		c.templates[t.Name] = t
	}
	return c
}

// Lookup returns the template for a provider name.
func (c *Catalogue) Lookup(name string) (Template, bool) {
	t, ok := c.templates[name]
	return t, ok
}

// Names returns the known provider names, sorted.
func (c *Catalogue) Names() []string {
	names := make([]string, 0, len(c.templates))
	for n := range c.templates {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParseAuthStyle maps a template's or connection's auth style to x/oauth2's.
func ParseAuthStyle(s string) (oauth2.AuthStyle, error) {
	switch s {
	case "basic", "header":
		return oauth2.AuthStyleInHeader, nil
	case "post", "body", "params":
		return oauth2.AuthStyleInParams, nil
	default:
		return 0, fmt.Errorf("unknown auth style %q (want basic or post)", s)
	}
}
