package provider

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// reservedHeaders are the headers api_headers may not set: the token has
// api_auth_scheme, and the others belong to the HTTP framing or to the
// caller's own connection, which the proxy handles itself.
var reservedHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Host": true, "Cookie": true,
	"Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Keep-Alive": true,
	"Te": true, "Trailer": true, "Upgrade": true, "Proxy-Connection": true,
}

// checkAPI checks the proxy's fields: the scheme is one HTTP token, and
// each header has a token for a name, is not reserved, and has a value
// without control characters (CR or LF would start another header).
func (t *Template) checkAPI() error {
	if t.APIAuthScheme != "" && !isToken(t.APIAuthScheme) {
		return fmt.Errorf("api_auth_scheme %q must be one word of letters, digits and !#$%%&'*+-.^_`|~", t.APIAuthScheme)
	}
	for name, value := range t.APIHeaders {
		switch {
		case !isToken(name):
			return fmt.Errorf("api_headers: %q is not a header name", name)
		case reservedHeaders[http.CanonicalHeaderKey(name)]:
			return fmt.Errorf("api_headers: %s is set by the proxy itself", name)
		case !validHeaderValue(value):
			return fmt.Errorf("api_headers: the value of %s has control characters", name)
		}
	}
	return nil
}

// FillAPIHeaders returns t's api_headers with their {placeholders} filled
// from vars (Placeholders of the connection). A header with a placeholder
// the connection does not fill is left out, so that a Xero connection
// without params.tenant_id still reaches /connections and its callers
// may name the tenant themselves. A filled value with a control character
// is an error: a parameter must not smuggle in another header.
func (t *Template) FillAPIHeaders(vars map[string]string) (http.Header, error) {
	if len(t.APIHeaders) == 0 {
		return nil, nil
	}
	h := make(http.Header, len(t.APIHeaders))
	for name, raw := range t.APIHeaders {
		v, err := Fill(raw, vars, t.Params)
		if err != nil {
			continue
		}
		if !validHeaderValue(v) {
			return nil, errors.New("api_headers: the value of " + name + " has control characters")
		}
		h.Set(name, v)
	}
	return h, nil
}

// isToken reports whether s is an HTTP token (RFC 9110, section 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters but horizontal tab.
func validHeaderValue(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
