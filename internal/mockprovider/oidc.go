package mockprovider

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// idTokenLifetime is how long an ID token the server issues is valid.
const idTokenLifetime = 10 * time.Minute

// OIDCOptions make the server an OpenID Connect provider too: it serves
// /.well-known/openid-configuration and /jwks, and the token answer to an
// authorization code whose scope has "openid" carries an id_token.
type OIDCOptions struct {
	// Key signs the ID tokens (RS256); its public half is at /jwks. Nil
	// is a new 2048-bit key.
	Key *rsa.PrivateKey
	// Email and EmailVerified are the person's email claims, until
	// SetOIDCUser changes them.
	Email         string
	EmailVerified bool
}

// oidcState is the OpenID Connect side of a Server; guarded by Server.mu
// but for key and kid, which never change.
type oidcState struct {
	key           *rsa.PrivateKey
	kid           string
	email         string
	emailVerified bool
}

// newOIDC returns the state of o, nil when o is nil (not a provider).
func newOIDC(o *OIDCOptions) *oidcState {
	if o == nil {
		return nil
	}
	key := o.Key
	if key == nil {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic("mockprovider: generate the ID token key: " + err.Error())
		}
	}
	sum := sha256.Sum256(key.N.Bytes())
	return &oidcState{key: key, kid: hex.EncodeToString(sum[:8]), email: o.Email, emailVerified: o.EmailVerified}
}

// SetOIDCUser changes who the next ID tokens name: the person signing in
// at the provider, as a test switches between an allowed and a refused one.
func (s *Server) SetOIDCUser(email string, verified bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oidc != nil {
		s.oidc.email, s.oidc.emailVerified = email, verified
	}
}

// issuer is the server's URL as the request reached it, which is the
// issuer a client discovers (httptest's URL, or cmd/mockprovider's).
func issuer(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// serveDiscovery answers /.well-known/openid-configuration (OpenID
// Connect Discovery 1.0 section 4).
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	iss := issuer(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"jwks_uri":                              iss + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
	})
}

// serveJWKS answers /jwks with the public half of the ID token key.
func (s *Server) serveJWKS(w http.ResponseWriter) {
	pub := s.oidc.key.PublicKey
	b64 := base64.RawURLEncoding.EncodeToString
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": s.oidc.kid,
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// idToken returns the ID token of a code redeemed by clientID, or "" when
// the server is no OpenID Connect provider or the scope lacks openid.
// The subject is derived from the email, as stable as a real one.
func (s *Server) idToken(r *http.Request, c *authCode) string {
	if s.oidc == nil || !slices.Contains(strings.Fields(c.scope), "openid") {
		return ""
	}
	now := time.Now()
	sum := sha256.Sum256([]byte(strings.ToLower(s.oidc.email)))
	claims := jwt.MapClaims{
		"iss": issuer(r), "aud": c.clientID, "sub": "user-" + hex.EncodeToString(sum[:8]),
		"iat": now.Unix(), "exp": now.Add(idTokenLifetime).Unix(),
		"email": s.oidc.email, "email_verified": s.oidc.emailVerified,
	}
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = s.oidc.kid
	signed, err := t.SignedString(s.oidc.key)
	if err != nil {
		panic("mockprovider: sign an ID token: " + err.Error())
	}
	return signed
}
