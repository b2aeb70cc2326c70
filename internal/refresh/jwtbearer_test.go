package refresh_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/connfile"
	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// A jwt_bearer connection, imported with its PEM key, obtains its token by
// a signed assertion the provider verifies; one whose assertion names
// another audience is needs_reauth.
func TestJWTBearerConnectionIsObtainedOrNeedsReauth(t *testing.T) {
	t.Parallel()
	key, keyPEM := testutil.RSAKey(t)
	e := setup(t, mockprovider.Options{Lifetime: time.Hour, JWT: &mockprovider.JWTOptions{
		Key: &key.PublicKey, Issuer: "consumer-key", Audience: "https://login.example", Subject: "integration@example.com"}})
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	k, err := keyring.Parse("k1:" + base64.StdEncoding.EncodeToString(secret))
	if err != nil {
		t.Fatal(err)
	}
	e.st = e.st.WithKeyring(k)

	var b strings.Builder
	for name, aud := range map[string]string{"sf": "https://login.example", "sf-wrong-aud": "https://test.example"} {
		rec, _ := json.Marshal(map[string]any{"name": name, "grant": "jwt_bearer", "token_url": e.srv.URL + "/token",
			"client_id": "consumer-key", "client_secret": keyPEM, "params": map[string]string{"audience": aud, "subject": "integration@example.com"}})
		b.Write(append(rec, '\n'))
	}
	rows, err := connfile.Parse(strings.NewReader(b.String()), provider.NewCatalogue(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.Import(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw(t, e, "sf"), "PRIVATE KEY") {
		t.Fatal("the private key is stored in the clear")
	}

	stats := pass(t, e.worker(refresh.Config{}))
	if stats.Refreshed != 1 || stats.Reauth != 1 {
		t.Fatalf("stats = %+v, want one obtained and one needs_reauth", stats)
	}
	grants := e.prov.ClientGrants()
	if r := e.row(t, "sf"); len(grants) != 1 || r.AccessToken.Reveal() != grants[0].AccessToken || r.Grant != model.GrantJWTBearer || r.Status != model.StatusActive {
		t.Fatalf("sf: %d grants, status %s", len(grants), r.Status)
	}
	if r := e.row(t, "sf-wrong-aud"); r.Status != model.StatusNeedsReauth || !strings.Contains(store.Str(r.LastError), "wrong audience") ||
		strings.Contains(store.Str(r.LastError), "PRIVATE KEY") {
		t.Fatalf("sf-wrong-aud: status %s last_error %q", r.Status, store.Str(r.LastError))
	}
}

// raw reads a column as stored, bypassing the keyring.
func raw(t *testing.T, e *env, name string) string {
	t.Helper()
	var v *string
	if err := e.st.DB().Raw("SELECT client_secret FROM oauth_tokens WHERE name = ?", name).Row().Scan(&v); err != nil {
		t.Fatal(err)
	}
	return store.Str(v)
}
