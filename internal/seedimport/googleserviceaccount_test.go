package seedimport_test

import (
	"crypto/rsa"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

const saEmail = "reports@acme-prod.iam.gserviceaccount.com"

// serviceAccountKey writes a service account key file as Google's console
// downloads it, whose token_uri is tokenURL, and returns its path and the
// key.
func serviceAccountKey(t *testing.T, tokenURL string) (string, *rsa.PrivateKey) {
	t.Helper()
	k, keyPEM := testutil.RSAKey(t)
	data, _ := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  "acme-prod",
		"private_key_id":              "0123456789abcdef",
		"private_key":                 keyPEM,
		"client_email":                saEmail,
		"client_id":                   "104242424242424242424",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURL,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	path := filepath.Join(t.TempDir(), "acme-prod-0123456789ab.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, k
}

// The downloaded key is imported as it is: a jwt_bearer connection whose
// assertion, signed with the account's key for its email, the token URI as
// audience and the delegated user as subject, the provider accepts on the
// next pass.
func TestGoogleServiceAccountImportRefreshToken(t *testing.T) {
	t.Parallel()
	// The key file names the token URL, which the provider checks as the
	// assertion's audience: the server's address is taken before it starts.
	srv := httptest.NewUnstartedServer(nil)
	tokenURL := "http://" + srv.Listener.Addr().String() + "/token"
	keyFile, key := serviceAccountKey(t, tokenURL)
	mp := mockprovider.New(mockprovider.Options{JWT: &mockprovider.JWTOptions{Key: &key.PublicKey, Issuer: saEmail, Audience: tokenURL, Subject: "admin@acme.example"}})
	srv.Config.Handler = mp
	srv.Start()
	t.Cleanup(srv.Close)
	o := opts(t, "--file", keyFile, "--name", "gsa", "--scopes", "https://www.googleapis.com/auth/admin.directory.user.readonly,https://www.googleapis.com/auth/drive.readonly",
		"--subject", "admin@acme.example")
	dsn := migrated(t, "google-service-account", o, 1)

	grants := mp.ClientGrants()
	if len(grants) != 1 || grants[0].Scope != "https://www.googleapis.com/auth/admin.directory.user.readonly https://www.googleapis.com/auth/drive.readonly" {
		t.Fatalf("provider answered %+v, want one jwt-bearer request with both scopes", grants)
	}
	r := getRow(t, dsn, "gsa")
	if r.provider != "google_service_account" || r.status != "active" || r.accessToken != grants[0].AccessToken || r.refresh != "" || r.version != 1 {
		t.Fatalf("row: provider %s status %s version %d, holds the issued token: %v", r.provider, r.status, r.version, r.accessToken == grants[0].AccessToken)
	}
	var params map[string]string
	if err := json.Unmarshal([]byte(r.params), &params); err != nil || params["key_id"] != "0123456789abcdef" || params["subject"] != "admin@acme.example" {
		t.Fatalf("params %s", r.params)
	}
}

// A file that is not a service account key is refused in one line naming
// the file, quoting nothing of it.
func TestGoogleServiceAccountRefusesOtherFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"user.json":   `{"type":"authorized_user","client_id":"cid","client_secret":"cs-SECRET","refresh_token":"rt-SECRET"}`,
		"notjson.txt": "SECRET not json at all",
		"nokey.json":  `{"type":"service_account","client_email":"x@y","private_key_id":"SECRET-id"}`,
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := opts(t, "--file", path, "--name", "gsa", "--scopes", "s").Open(t.Context(), "google-service-account")
		if err == nil || !strings.Contains(err.Error(), path+": not a Google service account key") || strings.ContainsAny(err.Error(), "\n") {
			t.Fatalf("%s: %v, want a one-line refusal naming the file", name, err)
		}
		noSecret(t, err)
	}
	keyFile, _ := serviceAccountKey(t, "https://oauth2.googleapis.com/token")
	for _, args := range [][]string{{"--name", "gsa", "--scopes", "s"}, {"--file", keyFile, "--scopes", "s"}, {"--file", keyFile, "--name", "gsa"}} {
		if _, err := opts(t, args...).Open(t.Context(), "google-service-account"); err == nil {
			t.Fatalf("%v: accepted", args)
		}
	}
}
