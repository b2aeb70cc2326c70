package provider

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// clientCredentialsServer is the mock provider for app-id / app-secret,
// also served under /contoso, a Microsoft tenant's path.
func clientCredentialsServer(t *testing.T) (*mockprovider.Server, *httptest.Server, *Refresher) {
	t.Helper()
	prov := mockprovider.New(mockprovider.Options{ClientID: "app-id", ClientSecret: "app-secret"})
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
