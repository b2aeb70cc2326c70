package provider

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

func TestJWTBearer(t *testing.T) {
	t.Parallel()
	key, keyPEM := testutil.RSAKey(t)
	_, otherPEM := testutil.RSAKey(t)
	prov := mockprovider.New(mockprovider.Options{JWT: &mockprovider.JWTOptions{
		Key: &key.PublicKey, Issuer: "consumer-key", Audience: "https://login.example", Subject: "user@example.com"}})
	srv := httptest.NewServer(prov)
	t.Cleanup(srv.Close)
	r := NewRefresher(NewCatalogue(), NewHTTPClient(5*time.Second, 4), nil)
	good := Request{Provider: "oauth2", TokenURL: srv.URL + "/token", Grant: model.GrantJWTBearer, ClientID: "consumer-key",
		ClientSecret: model.Secret(keyPEM), Scopes: "api", Params: map[string]string{"audience": "https://login.example", "subject": "user@example.com"}}

	res, err := r.Refresh(t.Context(), good)
	if err != nil {
		t.Fatal(err)
	}
	grants := prov.ClientGrants()
	if len(grants) != 1 || res.AccessToken != grants[0].AccessToken || res.RefreshToken != "" || res.Expiry == nil {
		t.Fatalf("result does not hold the provider's answer (%d grants)", len(grants))
	}

	wrongKey, wrongAud, wrongSub := good, good, good
	wrongKey.ClientSecret = model.Secret(otherPEM)
	wrongAud.Params = map[string]string{"audience": "https://elsewhere.example", "subject": "user@example.com"}
	wrongSub.Params = map[string]string{"audience": "https://login.example", "subject": "mallory@example.com"}
	for name, q := range map[string]Request{"wrong key": wrongKey, "wrong audience": wrongAud, "wrong subject": wrongSub} {
		_, err := r.Refresh(t.Context(), q)
		var pe *Error
		if !errors.As(err, &pe) || !pe.Reauth || pe.Code != "invalid_grant" {
			t.Fatalf("%s: %v, want a reauth invalid_grant", name, err)
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Fatalf("%s: error quotes the key", name)
		}
	}

	calls := prov.Calls()
	notAKey := good
	notAKey.ClientSecret = "not-a-key-SECRET"
	_, err = r.Refresh(t.Context(), notAKey)
	var pe *Error
	if !errors.As(err, &pe) || !pe.Config || strings.Contains(err.Error(), "SECRET") || prov.Calls() != calls {
		t.Fatalf("a key that does not parse: %v, calls %d; want a configuration error and nothing sent", err, prov.Calls()-calls)
	}
}

// A provider that echoes the request in its error gets neither the key nor
// the signed assertion, a bearer credential for its lifetime, into the
// error.
func TestJWTBearerErrorIsScrubbedOfTheAssertion(t *testing.T) {
	t.Parallel()
	_, keyPEM := testutil.RSAKey(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"bad ` + req.PostForm.Get("assertion") + `"}`))
	}))
	t.Cleanup(srv.Close)
	r := NewRefresher(NewCatalogue(), NewHTTPClient(5*time.Second, 4), nil)
	_, err := r.Refresh(t.Context(), Request{Provider: "oauth2", TokenURL: srv.URL + "/token", Grant: model.GrantJWTBearer,
		ClientID: "iss", ClientSecret: model.Secret(keyPEM)})
	var pe *Error
	if !errors.As(err, &pe) || !pe.Reauth {
		t.Fatalf("%v, want a reauth", err)
	}
	if strings.Contains(err.Error(), "eyJ") {
		t.Fatalf("the error holds the assertion: %s", err)
	}
}
