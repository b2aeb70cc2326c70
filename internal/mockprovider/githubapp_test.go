package mockprovider_test

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// appJWT signs a GitHub App JWT with key.
func appJWT(t *testing.T, key *rsa.PrivateKey, iss string, iat, exp time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer: iss, IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(exp)}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// installationToken posts GitHub's installation-token request.
func installationToken(t *testing.T, srv *httptest.Server, installation, bearer string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/app/installations/"+installation+"/access_tokens", http.NoBody)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// The installation-token endpoint checks the app JWT as GitHub does
// (signature, iss, iat, exp within ten minutes) and the installation, and
// answers 201 with a token its validation endpoint then accepts.
func TestGitHubInstallationToken(t *testing.T) {
	t.Parallel()
	key, _ := testutil.RSAKey(t)
	other, _ := testutil.RSAKey(t)
	prov := mockprovider.New(mockprovider.Options{GitHub: &mockprovider.GitHubOptions{Key: &key.PublicKey, AppID: "4242", Installations: []string{"77"}}})
	srv := httptest.NewServer(prov)
	t.Cleanup(srv.Close)
	now := time.Now()

	status, body := installationToken(t, srv, "77", appJWT(t, key, "4242", now.Add(-time.Minute), now.Add(9*time.Minute)))
	tok, _ := body["token"].(string)
	exp, err := time.Parse(time.RFC3339, body["expires_at"].(string))
	if status != http.StatusCreated || !strings.HasPrefix(tok, "ghs_") || err != nil || exp.Before(now.Add(50*time.Minute)) {
		t.Fatalf("good JWT: %d %v", status, body)
	}
	if g := prov.ClientGrants(); len(g) != 1 || g[0].AccessToken != tok || g[0].GrantType != mockprovider.GitHubGrant || g[0].Params.Get("installation_id") != "77" {
		t.Fatalf("recorded grants: %+v", g)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/installation/repositories", http.NoBody)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := srv.Client().Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("validation of the issued token: %v %v", resp, err)
	}
	resp.Body.Close()

	for name, c := range map[string]struct {
		installation, jwt string
		status            int
		message           string
	}{
		"wrong key":            {"77", appJWT(t, other, "4242", now.Add(-time.Minute), now.Add(9*time.Minute)), 401, "could not be decoded"},
		"other app":            {"77", appJWT(t, key, "4343", now.Add(-time.Minute), now.Add(9*time.Minute)), 401, "Integration not found"},
		"expired":              {"77", appJWT(t, key, "4242", now.Add(-11*time.Minute), now.Add(-time.Minute)), 401, "'exp'"},
		"issued in the future": {"77", appJWT(t, key, "4242", now.Add(time.Hour), now.Add(9*time.Minute)), 401, "'iat'"},
		"exp beyond 10 min":    {"77", appJWT(t, key, "4242", now.Add(-time.Minute), now.Add(time.Hour)), 401, "too far"},
		"not a JWT":            {"77", "not-a-jwt", 401, "could not be decoded"},
		"unknown installation": {"78", appJWT(t, key, "4242", now.Add(-time.Minute), now.Add(9*time.Minute)), 404, "Not Found"},
	} {
		status, body := installationToken(t, srv, c.installation, c.jwt)
		if msg, _ := body["message"].(string); status != c.status || !strings.Contains(msg, c.message) {
			t.Errorf("%s: %d %q, want %d %q", name, status, msg, c.status, c.message)
		}
	}
	if n := len(prov.ClientGrants()); n != 1 {
		t.Fatalf("%d tokens issued, want only the first", n)
	}
}
