package mockprovider

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
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
// credentials the same way. An audience or resource outside
// Options.Audiences is refused as invalid_target, and a RESOURCE/.default
// scope outside them as Microsoft refuses it. No refresh token is issued
// (section 4.4.3).
func (s *Server) serveClientCredentials(w http.ResponseWriter, grantType string, form url.Values) {
	if s.opts.ClientID == "" {
		writeError(w, http.StatusUnauthorized, "invalid_client", "client_credentials needs an authenticated client")
		return
	}
	if grantType == "account_credentials" && form.Get("account_id") == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "missing account_id")
		return
	}
	if field, v, ok := s.unknownTarget(form); ok {
		writeError(w, http.StatusBadRequest, "invalid_target", fmt.Sprintf("%s %q is not a resource this server issues tokens for", field, v))
		return
	}
	if res, ok := s.unknownDefaultScope(form.Get("scope")); ok {
		// Microsoft's identity platform names the API in the scope, as
		// RESOURCE/.default, and refuses an unknown one so.
		writeError(w, http.StatusBadRequest, "invalid_resource", fmt.Sprintf("AADSTS500011: The resource principal named %s was not found in the tenant.", res))
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

// unknownTarget returns the first audience or resource value of form that
// is not one of Options.Audiences, if they are set. Auth0-style audience
// and RFC 8707's resource name the same thing, the API the token is for,
// so both are checked, and each of several resource values (RFC 8707
// section 2 allows more than one). A real server refuses such a request as
// invalid_target, 400 (RFC 8707 section 2): no retry makes it pass.
func (s *Server) unknownTarget(form url.Values) (field, value string, ok bool) {
	if len(s.opts.Audiences) == 0 {
		return "", "", false
	}
	for _, f := range []string{"audience", "resource"} {
		for _, v := range form[f] {
			if !slices.Contains(s.opts.Audiences, v) {
				return f, v, true
			}
		}
	}
	return "", "", false
}

// unknownDefaultScope returns the resource of a Microsoft-style
// RESOURCE/.default scope that is not one of Options.Audiences, if they are
// set.
func (s *Server) unknownDefaultScope(scope string) (string, bool) {
	if len(s.opts.Audiences) == 0 {
		return "", false
	}
	for _, sc := range strings.Fields(scope) {
		if res, ok := strings.CutSuffix(sc, "/.default"); ok && !slices.Contains(s.opts.Audiences, res) {
			return res, true
		}
	}
	return "", false
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
