package connfile

import (
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/provider"
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
		`{"name":"a","grant":"password"}`:                                                        `record 1 ("a"): grant must be one of refresh_token, client_credentials`,
		`{"name":"a","grant":"client_credentials","refresh_token":"rt-SECRET"}`:                  "grant client_credentials has no refresh token",
		`{"name":"a","grant":"jwt_bearer","client_id":"iss","client_secret":"not-a-key-SECRET"}`: "client_secret must hold an RSA private key",
	} {
		_, err := Parse(strings.NewReader(bad), cat, now)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%s: %v, want %q", bad, err, want)
		}
	}
}
