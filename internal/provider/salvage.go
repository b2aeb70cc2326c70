package provider

import (
	"encoding/json"
	"errors"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// A provider that rotates refresh tokens has already revoked the one it was
// sent by the time its answer arrives. Whatever else is wrong with a 2xx
// answer (an unparseable expires_in, a missing or malformed access token),
// a new refresh token in it is the connection's only future: salvage reads
// it from the raw answer that x/oauth2 refused, so that the worker can
// store it with the failure.

// salvaged is what could still be read from a 2xx answer x/oauth2 refused.
type salvaged struct {
	// tok is the whole answer as a token when it has a usable access
	// token: x/oauth2 refused only a field it types strictly (an
	// expires_in such as "soon" or 3600.5), which Expiries then reports.
	tok *oauth2.Token
	// refreshToken is the answer's refresh token, when well formed.
	refreshToken string
}

// salvage reads body, a 2xx answer of the given Content-Type, the way
// x/oauth2 does (a query string for form and text/plain, else JSON), but
// with every field optional and loosely typed.
func salvage(body []byte, contentType string) salvaged {
	fields := map[string]any{}
	switch ct, _, _ := mime.ParseMediaType(contentType); ct {
	case "application/x-www-form-urlencoded", "text/plain":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return salvaged{}
		}
		for k := range vals {
			fields[k] = vals.Get(k)
		}
	default:
		if json.Unmarshal(body, &fields) != nil {
			return salvaged{}
		}
	}
	var out salvaged
	if rt, ok := fields["refresh_token"].(string); ok && wellFormed(rt) {
		out.refreshToken = rt
	}
	at, _ := fields["access_token"].(string)
	code, _ := fields["error"].(string)
	if at != "" && code == "" {
		tt, _ := fields["token_type"].(string)
		out.tok = (&oauth2.Token{AccessToken: at, TokenType: tt, RefreshToken: out.refreshToken}).WithExtra(fields)
	}
	return out
}

// salvageable reports whether x/oauth2's err may have refused an answer
// that carried tokens: it got a 2xx that it could not read. A provider's
// error answer (RetrieveError with a code) is not a token answer.
func salvageable(err error) bool {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode == ""
	}
	return true
}

// wellFormed reports whether t can be stored and sent back as a token:
// bounded, valid UTF-8, no control characters (PostgreSQL cannot store
// NUL, and no API would accept the rest in a header).
func wellFormed(t string) bool {
	return t != "" && len(t) <= maxTokenLen && utf8.ValidString(t) &&
		strings.IndexFunc(t, func(c rune) bool { return c < 0x20 || c == 0x7f }) < 0
}
