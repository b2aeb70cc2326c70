package mockprovider

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// GitHubGrant is the GrantType a GitHub installation token is recorded
// with in ClientGrants.
const GitHubGrant = "github_app"

// githubMaxJWT is GitHub's ceiling on an app JWT's exp, from now.
const githubMaxJWT = 10 * time.Minute

// GitHubOptions enable GitHub's installation-token endpoint, POST
// /app/installations/{id}/access_tokens: an app JWT is accepted when it is
// signed RS256 by the private half of Key, its iss is AppID, its iat is
// not in the future and its exp is in the next ten minutes, as GitHub
// checks it.
type GitHubOptions struct {
	Key   *rsa.PublicKey
	AppID string
	// Installations are the installation ids that exist; others are 404.
	Installations []string
	// Skew runs the server's clock ahead of the caller's by this much, so
	// that a test can see a JWT expire without waiting.
	Skew time.Duration
}

// installationOf returns the id in /app/installations/{id}/access_tokens.
func installationOf(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/app/installations/")
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, "/access_tokens")
	return id, ok && id != "" && !strings.Contains(id, "/")
}

// serveInstallationToken answers GitHub's installation-token request as
// GitHub does: 401 with a message for a JWT it cannot accept, 404 for an
// installation it does not know, 201 {"token","expires_at"} otherwise.
func (s *Server) serveInstallationToken(w http.ResponseWriter, r *http.Request, installation string) {
	o := s.opts.GitHub
	if o == nil || o.Key == nil {
		writeGitHubError(w, http.StatusNotFound, "Not Found")
		return
	}
	jwt, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		writeGitHubError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return
	}
	if reason := checkAppJWT(o, jwt, time.Now().Add(o.Skew)); reason != "" {
		writeGitHubError(w, http.StatusUnauthorized, reason)
		return
	}
	if !slices.Contains(o.Installations, installation) {
		writeGitHubError(w, http.StatusNotFound, "Not Found")
		return
	}
	g := ClientGrant{AccessToken: randomToken("ghs_"), GrantType: GitHubGrant, Params: url.Values{"installation_id": {installation}}}
	s.record(g)
	writeJSON(w, http.StatusCreated, map[string]any{
		"token":                g.AccessToken,
		"expires_at":           time.Now().Add(s.opts.Lifetime).UTC().Format(time.RFC3339),
		"permissions":          map[string]string{"contents": "read", "metadata": "read"},
		"repository_selection": "all",
	})
}

// checkAppJWT returns why GitHub would refuse jwt at now, or "".
func checkAppJWT(o *GitHubOptions, jwt string, now time.Time) string {
	var claims struct {
		Iss any    `json:"iss"` // GitHub takes the app id as a number or a string
		Iat *int64 `json:"iat"`
		Exp *int64 `json:"exp"`
	}
	if reason := verifyRS256(o.Key, jwt, &claims); reason != "" {
		return "A JSON web token could not be decoded: " + reason
	}
	switch {
	case claims.Iss == nil || fmt.Sprint(claims.Iss) != o.AppID:
		return "Integration not found"
	case claims.Iat == nil || *claims.Iat > now.Unix():
		return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	case claims.Exp == nil || *claims.Exp <= now.Unix():
		return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	case *claims.Exp > now.Add(githubMaxJWT).Unix():
		return "'Expiration time' claim ('exp') is too far in the future"
	}
	return ""
}

func writeGitHubError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"message": message, "documentation_url": "https://docs.github.com/rest"})
}

// validationPaths are the requests a provider answers to tell whether an
// access token is accepted (the templates' validate URLs): Salesforce's
// userinfo, GitHub's installation repositories, a generic userinfo.
var validationPaths = []string{"/userinfo", "/services/oauth2/userinfo", "/installation/repositories"}

// serveValidation accepts an access token this server issued, by any
// grant, and refuses any other with 401, as an API does.
func (s *Server) serveValidation(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" || !s.issuedAccessToken(token) {
		writeGitHubError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": 0, "repositories": []any{}})
}

// issuedAccessToken reports an access token the server handed out.
func (s *Server) issuedAccessToken(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.granted {
		if g.AccessToken == token {
			return true
		}
	}
	for _, st := range s.tokens {
		if st.issued != nil && st.issued.AccessToken == token {
			return true
		}
	}
	for _, g := range s.authz.granted {
		if g.AccessToken == token {
			return true
		}
	}
	return false
}
