package console

import (
	"maps"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestConnectionOfTakesOnlyTheChosenTemplatesFields: the connect form
// holds every template's own fields; only the chosen one's are sent on.
func TestConnectionOfTakesOnlyTheChosenTemplatesFields(t *testing.T) {
	t.Parallel()
	form := url.Values{
		"name": {" ms-acme "}, "provider": {"microsoft"}, "client_id": {"c1"}, "client_secret": {" s p "},
		"scopes": {"offline_access"}, "param.microsoft.tenant": {"acme.example"}, "param.other.tenant": {"x"},
		"authorize_url.oauth2": {"https://a.example/auth"}, "token_url.oauth2": {"https://a.example/token"},
	}
	r := httptest.NewRequest("POST", "/console/connect", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	nc, values := connectionOf(r)
	if nc.Name != "ms-acme" || nc.Provider != "microsoft" || nc.ClientID != "c1" || nc.Scopes != "offline_access" {
		t.Errorf("connection %+v", nc)
	}
	if nc.ClientSecret != " s p " {
		t.Error("the client secret is not sent as typed")
	}
	if !maps.Equal(nc.Params, map[string]string{"tenant": "acme.example"}) || nc.AuthorizeURL != "" || nc.TokenURL != "" {
		t.Errorf("params %v, URLs %q %q: want microsoft's tenant only", nc.Params, nc.AuthorizeURL, nc.TokenURL)
	}
	if !maps.Equal(values, map[string]string{"microsoft.tenant": "acme.example"}) {
		t.Errorf("values kept for the form %v", values)
	}
}
