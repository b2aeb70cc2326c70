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

// clientCredentialsServer is the mock provider for app-id / app-secret,
// also served under /contoso, a Microsoft tenant's path, which issues
// tokens for audiences only, or for any when none are given.
func clientCredentialsServer(t *testing.T, audiences ...string) (*mockprovider.Server, *httptest.Server, *Refresher) {
	t.Helper()
	prov := mockprovider.New(mockprovider.Options{ClientID: "app-id", ClientSecret: "app-secret", Audiences: audiences})
	mux := http.NewServeMux()
	mux.Handle("/token", prov)
	mux.Handle("/oauth/token", prov)
	mux.Handle("/contoso/", http.StripPrefix("/contoso", prov))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return prov, srv, NewRefresher(NewCatalogue(), NewHTTPClient(5*time.Second, 4), nil)
}

func TestClientCredentialsTemplates(t *testing.T) {
	t.Parallel()
	prov, srv, r := clientCredentialsServer(t)
	cases := []struct {
		name      string
		req       Request
		grantType string
		scope     string
		param     string
	}{
		{"generic oauth2 with audience", Request{Provider: "oauth2", TokenURL: srv.URL + "/token", Scopes: "read write",
			Params: map[string]string{"audience": "https://api.example", "resource": "urn:api"}}, "client_credentials", "read write", "audience"},
		{"microsoft app-only", Request{Provider: "microsoft", TokenURL: srv.URL + "/{tenant}/token",
			Scopes: "https://graph.microsoft.com/.default", Params: map[string]string{"tenant": "contoso"}}, "client_credentials", "https://graph.microsoft.com/.default", ""},
		{"zoom server-to-server", Request{Provider: "zoom", TokenURL: srv.URL + "/oauth/token",
			Params: map[string]string{"grant_type": "account_credentials", "account_id": "acc-1"}}, "account_credentials", "", "account_id"},
	}
	for i, c := range cases {
		c.req.Grant, c.req.ClientID, c.req.ClientSecret = model.GrantClientCredentials, "app-id", "app-secret"
		res, err := r.Refresh(t.Context(), c.req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		grants := prov.ClientGrants()
		if len(grants) != i+1 {
			t.Fatalf("%s: provider answered %d requests, want %d", c.name, len(grants), i+1)
		}
		g := grants[i]
		if res.AccessToken != g.AccessToken || res.RefreshToken != "" || res.Expiry == nil {
			t.Fatalf("%s: result does not hold the provider's answer", c.name)
		}
		if g.GrantType != c.grantType || g.Scope != c.scope || c.param != "" && g.Params.Get(c.param) != c.req.Params[c.param] {
			t.Fatalf("%s: sent grant %q scope %q params %v", c.name, g.GrantType, g.Scope, g.Params)
		}
		if g.Params.Has("tenant") {
			t.Fatalf("%s: a placeholder parameter was sent", c.name)
		}
	}
}

func TestClientCredentialsRefusals(t *testing.T) {
	t.Parallel()
	prov, srv, r := clientCredentialsServer(t)
	base := Request{Provider: "oauth2", TokenURL: srv.URL + "/token", Grant: model.GrantClientCredentials, ClientID: "app-id", ClientSecret: "app-secret"}

	wrong := base
	wrong.ClientSecret = "wrong-SECRET"
	for _, style := range []string{"basic", "post"} {
		wrong.AuthStyle = style
		_, err := r.Refresh(t.Context(), wrong)
		var pe *Error
		if !errors.As(err, &pe) || !pe.Reauth || pe.Code != "invalid_client" {
			t.Fatalf("%s: wrong secret: %v, want a reauth invalid_client", style, err)
		}
		if strings.Contains(err.Error(), "wrong-SECRET") {
			t.Fatalf("%s: error quotes the secret", style)
		}
	}
	calls := prov.Calls()

	noSecret := base
	noSecret.ClientSecret = ""
	badGrantType := base
	badGrantType.Params = map[string]string{"grant_type": "password"}
	bearer := base
	bearer.AuthStyle = "bearer"
	unsupported := base
	unsupported.Grant = model.GrantJWTBearer
	for name, q := range map[string]Request{"no secret": noSecret, "grant_type param": badGrantType, "bearer auth": bearer, "jwt_bearer": unsupported} {
		_, err := r.Refresh(t.Context(), q)
		var pe *Error
		if !errors.As(err, &pe) || !pe.Config {
			t.Fatalf("%s: %v, want a configuration error", name, err)
		}
	}
	if prov.Calls() != calls {
		t.Fatalf("a refused configuration was sent: %d calls, want %d", prov.Calls(), calls)
	}
}

// A client_credentials connection naming an API the provider does not
// serve, as an audience or resource (RFC 8707's invalid_target) or as
// Microsoft's RESOURCE/.default scope (invalid_resource), can never obtain
// a token until a person fixes it: the error is needs_reauth, not a
// configuration error (the request was sent), and holds no secret.
func TestClientCredentialsWrongTargetNeedsReauth(t *testing.T) {
	t.Parallel()
	prov, srv, r := clientCredentialsServer(t, "https://api.example", "https://graph.microsoft.com")
	base := Request{Provider: "oauth2", TokenURL: srv.URL + "/token", Grant: model.GrantClientCredentials, ClientID: "app-id", ClientSecret: "app-secret"}
	microsoft := base
	microsoft.Provider, microsoft.TokenURL, microsoft.Params = "microsoft", srv.URL+"/{tenant}/token", map[string]string{"tenant": "contoso"}
	for _, tc := range []struct {
		name, code string
		req        Request
		param      map[string]string
		scopes     string
	}{
		{"audience", "invalid_target", base, map[string]string{"audience": "https://other.example"}, ""},
		{"resource", "invalid_target", base, map[string]string{"resource": "https://other.example"}, ""},
		{"microsoft .default scope", "invalid_resource", microsoft, nil, "https://other.example/.default"},
	} {
		q := tc.req
		q.Scopes = tc.scopes
		if tc.param != nil {
			q.Params = tc.param
		}
		_, err := r.Refresh(t.Context(), q)
		var pe *Error
		if !errors.As(err, &pe) || !pe.Reauth || pe.Config || pe.Code != tc.code || !strings.Contains(pe.Description, "https://other.example") {
			t.Fatalf("%s: %v, want a needs_reauth %s naming the target", tc.name, err, tc.code)
		}
		if leak := testutil.Leaked(err.Error(), testutil.SecretForms("app-id", "app-secret")); leak != "" {
			t.Fatalf("%s: error holds %q of the secret", tc.name, leak)
		}
	}
	// The same client, for an API the provider serves, is granted.
	good := base
	good.Params = map[string]string{"audience": "https://api.example"}
	goodMS := microsoft
	goodMS.Scopes = "https://graph.microsoft.com/.default"
	for _, q := range []Request{good, goodMS} {
		if _, err := r.Refresh(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q.Provider, err)
		}
	}
	if prov.Calls() != 5 || len(prov.ClientGrants()) != 2 {
		t.Fatalf("provider calls %d, grants %d; want 5 and 2", prov.Calls(), len(prov.ClientGrants()))
	}
}
