package provider

import (
	"encoding/json"
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

// The grants each built-in template lists, as docs/providers.md documents
// them: a template that gains or loses a grant changes this test too.
func TestTemplatesGrants(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"oauth2":                 "refresh_token client_credentials jwt_bearer",
		"salesforce":             "refresh_token client_credentials jwt_bearer",
		"microsoft":              "refresh_token client_credentials",
		"zoom":                   "refresh_token client_credentials",
		"google_service_account": "jwt_bearer",
		"github_app":             "github_app",
	}
	cat := NewCatalogue()
	for _, name := range cat.Names() {
		tmpl, _ := cat.Lookup(name)
		got := strings.Join(tmpl.SupportedGrants(), " ")
		if w, ok := want[name]; ok && got != w || !ok && got != model.GrantRefreshToken {
			t.Errorf("%s: grants %q", name, got)
		}
	}
	if _, err := LoadCatalogue(writeCatalogueFile(t, `[{"name": "x", "auth": "post", "default_lifetime": "1h", "grants": ["password"]}]`)); err == nil ||
		!strings.Contains(err.Error(), `provider x: unknown grant "password"`) {
		t.Fatalf("a template with an unknown grant: %v", err)
	}
}

// salesforceMock serves the mock provider, configured for its host by
// opts, over TLS at Salesforce's token path, so that the template's
// https://{login_host} URLs reach it.
func salesforceMock(t *testing.T, opts func(host string) mockprovider.Options) (*mockprovider.Server, string, *Refresher) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	host := srv.Listener.Addr().String()
	prov := mockprovider.New(opts(host))
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/services/oauth2/token" {
			r.URL.Path = "/token"
		}
		prov.ServeHTTP(w, r)
	})
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.Timeout = 5 * time.Second
	return prov, host, NewRefresher(NewCatalogue(), client, nil)
}

// Salesforce's client-credentials and JWT-bearer flows go to the token
// endpoint of params.login_host (a My Domain, a sandbox); the JWT's
// audience is https://{login_host} unless params.audience says otherwise.
func TestSalesforceMachineGrants(t *testing.T) {
	t.Parallel()
	prov, host, r := salesforceMock(t, func(string) mockprovider.Options {
		return mockprovider.Options{ClientID: "sf-consumer", ClientSecret: "sf-SECRET"}
	})
	res, err := r.Refresh(t.Context(), Request{Provider: "salesforce", Grant: model.GrantClientCredentials, ClientID: "sf-consumer",
		ClientSecret: "sf-SECRET", Params: map[string]string{"login_host": host}})
	if err != nil || len(prov.ClientGrants()) != 1 || res.AccessToken != prov.ClientGrants()[0].AccessToken {
		t.Fatalf("client credentials at the login host: %v", err)
	}

	key, keyPEM := testutil.RSAKey(t)
	// The mock wants the audience the template makes of the login host.
	jwtProv, jwtHost, jr := salesforceMock(t, func(host string) mockprovider.Options {
		return mockprovider.Options{JWT: &mockprovider.JWTOptions{
			Key: &key.PublicKey, Issuer: "sf-consumer", Subject: "integration@acme.example", Audience: "https://" + host}}
	})
	req := Request{Provider: "salesforce", Grant: model.GrantJWTBearer, ClientID: "sf-consumer", ClientSecret: model.Secret(keyPEM),
		Params: map[string]string{"login_host": jwtHost, "subject": "integration@acme.example"}}
	if _, err := jr.Refresh(t.Context(), req); err != nil || len(jwtProv.ClientGrants()) != 1 {
		t.Fatalf("JWT bearer with the template's audience: %v", err)
	}
	req.Params = map[string]string{"login_host": jwtHost, "subject": "integration@acme.example", "audience": "https://login.salesforce.com"}
	_, err = jr.Refresh(t.Context(), req)
	var pe *Error
	if !errors.As(err, &pe) || !pe.Reauth || !strings.Contains(err.Error(), "wrong audience") {
		t.Fatalf("params.audience overrides the template's: %v", err)
	}
}

// The google_service_account template obtains a token with the account's
// key, its scopes in the assertion.
func TestGoogleServiceAccountTemplate(t *testing.T) {
	t.Parallel()
	key, keyPEM := testutil.RSAKey(t)
	srv := httptest.NewUnstartedServer(nil)
	tokenURL := "http://" + srv.Listener.Addr().String() + "/token"
	prov := mockprovider.New(mockprovider.Options{JWT: &mockprovider.JWTOptions{Key: &key.PublicKey, Issuer: "sa@p.iam.gserviceaccount.com", Audience: tokenURL}})
	srv.Config.Handler = prov
	srv.Start()
	t.Cleanup(srv.Close)
	r := NewRefresher(NewCatalogue(), NewHTTPClient(5*time.Second, 4), nil)
	res, err := r.Refresh(t.Context(), Request{Provider: "google_service_account", Grant: model.GrantJWTBearer, TokenURL: tokenURL,
		ClientID: "sa@p.iam.gserviceaccount.com", ClientSecret: model.Secret(keyPEM), Scopes: "https://www.googleapis.com/auth/drive.readonly"})
	g := prov.ClientGrants()
	if err != nil || len(g) != 1 || res.AccessToken != g[0].AccessToken || g[0].Scope != "https://www.googleapis.com/auth/drive.readonly" {
		t.Fatalf("%v, grants %+v", err, g)
	}
	if _, err := r.Refresh(t.Context(), Request{Provider: "google_service_account", Grant: model.GrantClientCredentials, TokenURL: tokenURL,
		ClientID: "id", ClientSecret: "cs-SECRET"}); err == nil || !strings.Contains(err.Error(), "does not support grant client_credentials") {
		t.Fatalf("client_credentials at google_service_account: %v", err)
	}
}

// A template's response map shapes the answer of a grant without a refresh
// token as it does a refresh's: a provider nesting its token and giving an
// absolute expiry is read right.
func TestResponseMapShapesClientCredentials(t *testing.T) {
	t.Parallel()
	expires := time.Now().Add(45 * time.Minute).UTC().Format(time.RFC3339)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("grant_type") != "client_credentials" {
			http.Error(w, "want client_credentials", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]string{"token": "at-nested", "expires_at": expires}, "tenant": "t1"})
	}))
	t.Cleanup(srv.Close)
	cat, err := LoadCatalogue(writeCatalogueFile(t, `[{"name": "nested", "auth": "basic", "default_lifetime": "5m",
		"grants": ["client_credentials"], "keep": ["tenant"],
		"response": {"access_token": "data.token", "expires_at": "data.expires_at"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	r := NewRefresher(cat, NewHTTPClient(5*time.Second, 4), nil)
	res, err := r.Refresh(t.Context(), Request{Provider: "nested", Grant: model.GrantClientCredentials, TokenURL: srv.URL + "/token", ClientID: "id", ClientSecret: "cs"})
	if err != nil {
		t.Fatal(err)
	}
	if res.AccessToken != "at-nested" || res.Expiry == nil || res.Expiry.Before(time.Now().Add(44*time.Minute)) || res.Expiry.After(time.Now().Add(46*time.Minute)) ||
		!strings.Contains(string(res.JSONData), `"tenant":"t1"`) {
		t.Fatalf("result: token %q expiry %v json_data %s; want the mapped token, its expires_at and the kept field", res.AccessToken, res.Expiry, res.JSONData)
	}
}
