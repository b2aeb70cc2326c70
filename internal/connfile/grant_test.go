package connfile

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

func TestGrantField(t *testing.T) {
	t.Parallel()
	cat, now := provider.NewCatalogue(), time.Now()
	rows, err := Parse(strings.NewReader(`{"name":"app","grant":"client_credentials","client_id":"id","client_secret":"cs-SECRET","access_token":"at-SECRET"}`), cat, now)
	if err != nil {
		t.Fatal(err)
	}
	// An access token without an expiry is due now: the worker obtains the
	// next one, where a refresh-token connection's would never expire.
	if r := rows[0]; r.Grant == nil || *r.Grant != model.GrantClientCredentials || r.AccessTokenExpires == nil || r.AccessTokenExpires.After(now) {
		t.Fatalf("row: grant %v expiry %v", r.Grant, r.AccessTokenExpires)
	}
	for bad, want := range map[string]string{
		`{"name":"a","grant":"password"}`:                                                        `record 1 ("a"): grant must be one of refresh_token, client_credentials, jwt_bearer, github_app`,
		`{"name":"a","grant":"client_credentials","refresh_token":"rt-SECRET"}`:                  "grant client_credentials has no refresh token",
		`{"name":"a","grant":"jwt_bearer","client_id":"iss","client_secret":"not-a-key-SECRET"}`: "client_secret must hold an RSA private key",
	} {
		_, err := Parse(strings.NewReader(bad), cat, now)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%s: %v, want %q", bad, err, want)
		}
	}
}

// A github_app connection carries its app's PEM key in client_secret (line
// breaks and all) and needs its app id; a grant the connection's template
// does not list is refused before anything is written.
func TestGitHubAppGrantAndTheTemplatesGrants(t *testing.T) {
	t.Parallel()
	cat, now := provider.NewCatalogue(), time.Now()
	k, _ := testutil.RSAKey(t)
	// GitHub's downloaded keys are PKCS #1.
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	rec := func(params string) string {
		b, _ := json.Marshal(keyPEM)
		return `{"name":"gh","provider":"github_app","grant":"github_app","client_secret":` + string(b) + `,"params":` + params + `}`
	}
	rows, err := Parse(strings.NewReader(rec(`{"app_id":"4242","installation_id":"77"}`)), cat, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckEndpoints(1, rows, nil, cat, provider.EndpointPolicy{}); err != nil || store.Str(rows[0].ClientSecret) != keyPEM {
		t.Fatalf("github_app record: %v", err)
	}
	if _, err := Parse(strings.NewReader(rec(`{"installation_id":"77"}`)), cat, now); err == nil || !strings.Contains(err.Error(), "params.app_id") ||
		strings.Contains(err.Error(), "PRIVATE") {
		t.Fatalf("without app_id: %v", err)
	}
	noInstallation, err := Parse(strings.NewReader(rec(`{"app_id":"4242"}`)), cat, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckEndpoints(1, noInstallation, nil, cat, provider.EndpointPolicy{}); err == nil || !strings.Contains(err.Error(), `missing parameter "installation_id"`) {
		t.Fatalf("without installation_id: %v", err)
	}

	stored := map[string]*model.OAuthToken{"gh-old": {Name: "gh-old", Provider: "github_app", Grant: model.GrantGitHubApp}}
	for name, c := range map[string]struct {
		row  store.ImportRow
		want string
	}{
		"client_credentials at google": {store.ImportRow{Name: "g", Provider: strp("google"), Grant: strp("client_credentials"), ClientID: strp("id"), ClientSecret: strp("cs-SECRET")},
			"provider google does not support grant client_credentials (it supports refresh_token)"},
		"github_app at oauth2": {store.ImportRow{Name: "o", TokenURL: strp("https://auth.example.com/t"), Grant: strp("github_app")},
			"provider oauth2 does not support grant github_app"},
		"refresh token at github_app": {store.ImportRow{Name: "gh-old", Grant: strp("refresh_token"), RefreshToken: strp("rt-SECRET")},
			"provider github_app does not support grant refresh_token"},
	} {
		err := CheckEndpoints(1, []store.ImportRow{c.row}, stored, cat, provider.EndpointPolicy{})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
