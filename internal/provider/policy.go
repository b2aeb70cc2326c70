package provider

import (
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
		if !p.AllowInsecureHTTP && !isLoopback(host) {
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

func isLoopback(host string) bool {
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
