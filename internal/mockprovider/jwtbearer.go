package mockprovider

import (
	"cmp"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer" //nolint:gosec // a grant type URN (RFC 7523), not a credential

// JWTOptions are what a jwt-bearer assertion must be to be accepted: signed
// RS256 by the private half of Key, with these iss, aud and (when set) sub,
// and not expired.
type JWTOptions struct {
	Key      *rsa.PublicKey
	Issuer   string
	Audience string
	Subject  string
}

// serveJWTBearer answers RFC 7523 section 2.1's grant. The assertion is
// checked as a provider checks it (signature, iss, sub, aud, exp), and
// refused as invalid_grant otherwise. No refresh token is issued.
func (s *Server) serveJWTBearer(w http.ResponseWriter, form url.Values) {
	scope, reason := s.checkAssertion(form.Get("assertion"), time.Now())
	if reason != "" {
		writeError(w, http.StatusBadRequest, "invalid_grant", reason)
		return
	}
	s.grant(w, ClientGrant{AccessToken: randomToken("at-"), GrantType: jwtBearerGrant, Scope: cmp.Or(form.Get("scope"), scope)})
}

// checkAssertion returns why the assertion is refused, or "", and the
// scopes it asks for (Google's scope claim).
func (s *Server) checkAssertion(assertion string, now time.Time) (scope, reason string) {
	o := s.opts.JWT
	if o == nil || o.Key == nil {
		return "", "jwt-bearer is not enabled"
	}
	var claims struct {
		Iss   string `json:"iss"`
		Sub   string `json:"sub"`
		Aud   string `json:"aud"`
		Exp   int64  `json:"exp"`
		Scope string `json:"scope"`
	}
	if reason := verifyRS256(o.Key, assertion, &claims); reason != "" {
		return "", reason
	}
	switch {
	case claims.Iss != o.Issuer:
		return "", "unknown issuer"
	case claims.Aud != o.Audience:
		return "", "wrong audience"
	case o.Subject != "" && claims.Sub != o.Subject:
		return "", "wrong subject"
	case claims.Exp <= now.Unix():
		return "", "assertion expired"
	}
	return claims.Scope, ""
}

// verifyRS256 checks that token, a compact JWS, is signed RS256 by the
// private half of key, and decodes its claims into claims. It returns why
// the token is refused, or "".
func verifyRS256(key *rsa.PublicKey, token string, claims any) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "malformed assertion"
	}
	var header struct {
		Alg string `json:"alg"`
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || decodePart(parts[0], &header) != nil || decodePart(parts[1], claims) != nil {
		return "malformed assertion"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if header.Alg != "RS256" || rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return "invalid signature"
	}
	return ""
}

func decodePart(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
