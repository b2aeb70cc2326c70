package mockprovider

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"time"
)

// codeLifetime is how long an authorization code can be redeemed; RFC 6749
// section 4.1.2 recommends at most ten minutes.
const codeLifetime = 10 * time.Minute

// authzState is the authorization-code side of a Server. Its zero value is
// ready; it is guarded by Server.mu.
type authzState struct {
	deny    bool
	codes   map[string]*authCode
	granted []Issued
}

// authCode is one issued authorization code and what it was bound to.
type authCode struct {
	clientID, redirectURI, challenge, scope string
	// nonce is OpenID Connect's, echoed in the ID token.
	nonce   string
	expires time.Time
	used    bool
	// fam is the token family issued for the code, revoked if the code is
	// presented again.
	fam *family
}

// DenyAuthorization makes GET /authorize answer as if the user refused
// consent (error=access_denied), or approve again with deny false.
func (s *Server) DenyAuthorization(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authz.deny = deny
}

// Authorized returns what the token endpoint issued for authorization codes,
// in order, so a test can compare it with what was stored.
func (s *Server) Authorized() []Issued {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Issued(nil), s.authz.granted...)
}

// serveAuthorize answers /authorize (RFC 6749 section 4.1.1 with PKCE,
// RFC 7636). By default a GET approves at once, redirecting to
// redirect_uri with a code and the state. With Options.Consent a GET shows
// a consent page instead, whose Allow and Deny buttons POST the request
// back (consent.go). Errors about the client or the redirect URI are shown
// here; the others go back to the client in the redirect, as the RFC says.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q, ok := s.authorizeParams(w, r)
	if !ok {
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !redirect.IsAbs() || (redirect.Scheme != "http" && redirect.Scheme != "https") || redirect.Fragment != "" {
		http.Error(w, "invalid or missing redirect_uri", http.StatusBadRequest)
		return
	}
	clientID := q.Get("client_id")
	if clientID == "" || (s.opts.ClientID != "" && subtle.ConstantTimeCompare([]byte(clientID), []byte(s.opts.ClientID)) != 1) {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	back := func(params url.Values) {
		v := redirect.Query()
		for k, vs := range params {
			v[k] = vs
		}
		if st := q.Get("state"); st != "" {
			v.Set("state", st)
		}
		u := *redirect
		u.RawQuery = v.Encode()
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	fail := func(code, desc string) {
		back(url.Values{"error": {code}, "error_description": {desc}})
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	case q.Get("code_challenge") == "":
		fail("invalid_request", "code_challenge is required (PKCE)")
		return
	case q.Get("code_challenge_method") != "S256":
		fail("invalid_request", "code_challenge_method must be S256")
		return
	}
	if s.opts.Consent {
		if r.Method == http.MethodGet {
			s.showConsent(w, q)
			return
		}
		if q.Get(decisionField) != allow {
			fail("access_denied", "the user refused")
			return
		}
	}

	s.mu.Lock()
	if s.authz.deny {
		s.mu.Unlock()
		fail("access_denied", "the user refused")
		return
	}
	code := randomToken("code-")
	if s.authz.codes == nil {
		s.authz.codes = make(map[string]*authCode)
	}
	s.authz.codes[code] = &authCode{
		clientID: clientID, redirectURI: redirect.String(), challenge: q.Get("code_challenge"),
		scope: q.Get("scope"), nonce: q.Get("nonce"), expires: time.Now().Add(codeLifetime),
	}
	s.mu.Unlock()
	back(url.Values{"code": {code}})
}

// serveAuthorizationCode redeems a code at the token endpoint (RFC 6749
// section 4.1.3): single use, bound to the client and redirect URI it was
// issued for, and to the PKCE challenge (S256). The tokens are minted as a
// refresh mints them; the refresh token starts a new family.
func (s *Server) serveAuthorizationCode(w http.ResponseWriter, r *http.Request, form url.Values) {
	code := form.Get("code")
	if code == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "missing code")
		return
	}
	clientID := form.Get("client_id")
	if id, _, ok := r.BasicAuth(); ok {
		if uid, err := url.QueryUnescape(id); err == nil {
			id = uid
		}
		clientID = id
	}
	resp, desc := s.redeem(r, code, clientID, form.Get("redirect_uri"), form.Get("code_verifier"))
	if desc != "" {
		writeError(w, http.StatusBadRequest, "invalid_grant", desc)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) redeem(r *http.Request, code, clientID, redirectURI, verifier string) (tokenResponse, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.authz.codes[code]
	switch {
	case !ok:
		return tokenResponse{}, "unknown authorization code"
	case c.used:
		// RFC 6749 section 4.1.2: a code presented twice revokes what
		// was issued for it.
		if c.fam != nil {
			c.fam.revoked = true
		}
		return tokenResponse{}, "authorization code already used"
	}
	// A code is single-use whatever the outcome of this attempt.
	c.used = true
	switch {
	case time.Now().After(c.expires):
		return tokenResponse{}, "authorization code expired"
	case clientID != c.clientID:
		return tokenResponse{}, "authorization code was issued to another client"
	case redirectURI != c.redirectURI:
		return tokenResponse{}, "redirect_uri does not match the authorization request"
	case verifier == "":
		return tokenResponse{}, "missing code_verifier (PKCE)"
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.challenge)) != 1 {
		return tokenResponse{}, "code_verifier does not match the code_challenge"
	}

	resp := tokenResponse{
		AccessToken: randomToken("at-"),
		TokenType:   "Bearer",
		ExpiresIn:   int64(s.opts.Lifetime / time.Second),
		Scope:       c.scope,
		IDToken:     s.idToken(r, c),
	}
	if !s.opts.OmitRefreshToken {
		rt := randomToken("rt-")
		f := &family{current: rt}
		s.tokens[rt] = &tokenState{fam: f}
		s.families[rt] = f
		c.fam = f
		resp.RefreshToken = rt
	}
	s.authz.granted = append(s.authz.granted, Issued{
		AccessToken: resp.AccessToken, RefreshToken: resp.RefreshToken, ExpiresIn: resp.ExpiresIn,
	})
	s.successes++
	return resp, ""
}
