package provider

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// githubSetup is a mock GitHub whose app 4242 is installed as 77, the
// headers of every request it received, and a github_app connection of
// it, with the app's key.
type githubSetup struct {
	prov    *mockprovider.Server
	srv     *httptest.Server
	r       *Refresher
	req     Request
	mu      sync.Mutex
	headers []http.Header
}

func newGitHubSetup(t *testing.T, skew time.Duration) *githubSetup {
	t.Helper()
	key, keyPEM := testutil.RSAKey(t)
	g := &githubSetup{prov: mockprovider.New(mockprovider.Options{GitHub: &mockprovider.GitHubOptions{
		Key: &key.PublicKey, AppID: "4242", Installations: []string{"77"}, Skew: skew}})}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.headers = append(g.headers, r.Header.Clone())
		g.mu.Unlock()
		g.prov.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	g.r = NewRefresher(NewCatalogue(), NewHTTPClient(5*time.Second, 4), nil)
	g.req = Request{Provider: "github_app", Grant: model.GrantGitHubApp, ClientSecret: model.Secret(keyPEM),
		Params: map[string]string{"app_id": "4242", "installation_id": "77", "api_base_url": g.srv.URL}}
	return g
}

// The app JWT is exchanged at {api_base_url}/app/installations/{id}/
// access_tokens with GitHub's headers; the 201 answer is read through the
// template's response map: the token, its expires_at, the kept fields.
func TestGitHubAppInstallationToken(t *testing.T) {
	t.Parallel()
	g := newGitHubSetup(t, 0)
	res, err := g.r.Refresh(t.Context(), g.req)
	if err != nil {
		t.Fatal(err)
	}
	grants := g.prov.ClientGrants()
	if len(grants) != 1 || res.AccessToken != grants[0].AccessToken || grants[0].Params.Get("installation_id") != "77" {
		t.Fatalf("result does not hold the installation token (%d grants)", len(grants))
	}
	if res.RefreshToken != "" || res.Expiry == nil || res.Expiry.Before(time.Now().Add(59*time.Minute)) || res.Expiry.After(time.Now().Add(61*time.Minute)) {
		t.Fatalf("expiry %v, refresh token %q: want expires_at, an hour away, and none", res.Expiry, res.RefreshToken)
	}
	var kept map[string]any
	if err := json.Unmarshal(res.JSONData, &kept); err != nil || kept["repository_selection"] != "all" || kept["token"] != nil {
		t.Fatalf("json_data %s: want repository_selection and never the token", res.JSONData)
	}
	h := g.headers[0]
	if h.Get("Accept") != "application/vnd.github+json" || h.Get("X-GitHub-Api-Version") != "2022-11-28" || !strings.HasPrefix(h.Get("Authorization"), "Bearer ey") {
		t.Fatalf("headers sent: %v", h)
	}
}

// A key GitHub does not know, an installation that is gone and a JWT that
// GitHub's clock sees expired are refused: credentials revoked or wrong,
// needs_reauth. Neither the key nor the JWT is in the error.
func TestGitHubAppRefusalsNeedReauth(t *testing.T) {
	t.Parallel()
	g := newGitHubSetup(t, 0)
	_, otherPEM := testutil.RSAKey(t)
	wrongKey, gone := g.req, g.req
	wrongKey.ClientSecret = model.Secret(otherPEM)
	gone.Params = map[string]string{"app_id": "4242", "installation_id": "78", "api_base_url": g.srv.URL}
	late := newGitHubSetup(t, 10*time.Minute) // GitHub's clock ten minutes ahead: exp has passed
	for name, c := range map[string]struct {
		r      *Refresher
		req    Request
		status int
		says   string
	}{
		"wrong key":            {g.r, wrongKey, 401, "could not be decoded"},
		"unknown installation": {g.r, gone, 404, "Not Found"},
		"expired JWT":          {late.r, late.req, 401, "'exp'"},
	} {
		_, err := c.r.Refresh(t.Context(), c.req)
		var pe *Error
		if !errors.As(err, &pe) || !pe.Reauth || pe.Config || pe.Status != c.status || !strings.Contains(err.Error(), c.says) ||
			!strings.Contains(err.Error(), "credentials revoked or wrong") {
			t.Fatalf("%s: %v, want a reauth %d saying %q", name, err, c.status, c.says)
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "eyJ") {
			t.Fatalf("%s: the error quotes the key or the JWT: %s", name, err)
		}
	}
}

// Rate limits and GitHub's outages are transient; a 403 that is not a rate
// limit (a suspended installation) needs a person. A GitHub that echoes
// the JWT gets it scrubbed.
func TestGitHubAppFailuresAreClassified(t *testing.T) {
	t.Parallel()
	g := newGitHubSetup(t, 0)
	for _, c := range []struct {
		name   string
		status int
		body   string
		header http.Header
		reauth bool
	}{
		{"primary rate limit", 403, `{"message":"API rate limit exceeded"}`, http.Header{"X-Ratelimit-Remaining": {"0"}}, false},
		{"secondary rate limit", 403, `{"message":"You have exceeded a secondary rate limit"}`, nil, false},
		{"too many requests", 429, `{"message":"slow down"}`, http.Header{"Retry-After": {"30"}}, false},
		{"outage", 502, `<html>bad gateway</html>`, nil, false},
		{"suspended", 403, `{"message":"This installation has been suspended"}`, nil, true},
	} {
		g.prov.FailNext(1, c.status, c.body, c.header)
		_, err := g.r.Refresh(t.Context(), g.req)
		var pe *Error
		if !errors.As(err, &pe) || pe.Reauth != c.reauth || pe.Status != c.status {
			t.Fatalf("%s: %v, want reauth=%v", c.name, err, c.reauth)
		}
	}

	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "bad JWT " + r.Header.Get("Authorization")})
	}))
	t.Cleanup(echo.Close)
	q := g.req
	q.Params = map[string]string{"app_id": "4242", "installation_id": "77", "api_base_url": echo.URL}
	_, err := g.r.Refresh(t.Context(), q)
	if err == nil || strings.Contains(err.Error(), "eyJ") || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Fatalf("echoed JWT: %v", err)
	}
}

// A connection without its app id, installation or key is refused before
// anything is sent.
func TestGitHubAppConfigurationIsRefusedUnsent(t *testing.T) {
	t.Parallel()
	g := newGitHubSetup(t, 0)
	noApp, noInstallation, notAKey, otherTemplate := g.req, g.req, g.req, g.req
	noApp.Params = map[string]string{"installation_id": "77", "api_base_url": g.srv.URL}
	noInstallation.Params = map[string]string{"app_id": "4242", "api_base_url": g.srv.URL}
	notAKey.ClientSecret = "not-a-key-SECRET"
	otherTemplate.Provider, otherTemplate.TokenURL = "github", g.srv.URL+"/app/installations/77/access_tokens"
	for name, q := range map[string]Request{"no app_id": noApp, "no installation_id": noInstallation, "not a key": notAKey, "template without the grant": otherTemplate} {
		_, err := g.r.Refresh(t.Context(), q)
		var pe *Error
		if !errors.As(err, &pe) || !pe.Config || strings.Contains(err.Error(), "SECRET") {
			t.Fatalf("%s: %v, want a configuration error", name, err)
		}
	}
	if n := g.prov.Calls(); n != 0 {
		t.Fatalf("%d requests sent, want none", n)
	}
}
