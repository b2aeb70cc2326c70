package mockprovider

import (
	"net/http"
	"net/url"
	"time"
)

// ClientGrant is what the server answered to one client-credentials,
// jwt-bearer or GitHub installation-token request, and what the request asked for, so that a test can assert both
// that the database holds the token handed out and that the scopes and
// parameters the connection names were sent.
type ClientGrant struct {
	AccessToken string
	// GrantType is client_credentials, Zoom's account_credentials,
	// jwt-bearer's URN or GitHubGrant.
	GrantType string
	Scope     string
	// Params are the request's other form fields (audience, resource,
	// account_id), the client's credentials left out; for GitHub, the
	// installation_id.
	Params url.Values
}

// serveClientCredentials answers RFC 6749 section 4.4's grant, and Zoom's
// account_credentials, which is the same with an account_id. The grant is
// for confidential clients only: without Options.ClientID every request is
// refused as invalid_client, and ServeHTTP has already refused wrong
// credentials the same way. No refresh token is issued (section 4.4.3).
func (s *Server) serveClientCredentials(w http.ResponseWriter, grantType string, form url.Values) {
	if s.opts.ClientID == "" {
		writeError(w, http.StatusUnauthorized, "invalid_client", "client_credentials needs an authenticated client")
		return
	}
	if grantType == "account_credentials" && form.Get("account_id") == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "missing account_id")
		return
	}
	params := url.Values{}
	for k, v := range form {
		switch k {
		case "grant_type", "scope", "client_id", "client_secret":
		default:
			params[k] = append([]string(nil), v...)
		}
	}
	s.grant(w, ClientGrant{AccessToken: randomToken("at-"), GrantType: grantType, Scope: form.Get("scope"), Params: params})
}

// grant records g and answers it: the one success path of the grants
// without a refresh token.
func (s *Server) grant(w http.ResponseWriter, g ClientGrant) {
	s.record(g)
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: g.AccessToken,
		TokenType:   "Bearer",
		ExpiresIn:   int64(s.opts.Lifetime / time.Second),
		Scope:       g.Scope,
	})
}

// record keeps g, a success of a grant without a refresh token.
func (s *Server) record(g ClientGrant) {
	s.mu.Lock()
	s.granted = append(s.granted, g)
	s.successes++
	s.mu.Unlock()
}

// ClientGrants returns every client-credentials answer so far, oldest
// first.
func (s *Server) ClientGrants() []ClientGrant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ClientGrant(nil), s.granted...)
}
