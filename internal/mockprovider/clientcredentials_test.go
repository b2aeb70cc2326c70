package mockprovider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
)

// clientCredentials is a client_credentials request of client cid with
// extra form fields.
func clientCredentials(extra url.Values) reqOpts {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
	for k, vs := range extra {
		form[k] = vs
	}
	return reqOpts{basicID: "cid", basicSecret: "s3cret", form: form}
}

// With Audiences set, an audience or resource the server does not serve is
// refused as RFC 8707's invalid_target, 400 with a description naming it,
// a RESOURCE/.default scope as Microsoft refuses it, and nothing is
// granted; a known one, or none, is granted.
func TestClientCredentialsRefusesAnUnknownTarget(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{ClientID: "cid", ClientSecret: "s3cret", Audiences: []string{"https://api.example", "https://graph.example"}})
	for _, extra := range []url.Values{
		{"audience": {"https://other.example"}},
		{"resource": {"https://other.example"}},
		{"resource": {"https://api.example", "https://other.example"}},
		{"grant_type": {"account_credentials"}, "account_id": {"acc-1"}, "audience": {"https://other.example"}},
	} {
		a := post(t, srv, clientCredentials(extra))
		wantError(t, a, http.StatusBadRequest, "invalid_target")
		if !strings.Contains(a.str("error_description"), "https://other.example") {
			t.Errorf("%v: description %q does not name the target", extra, a.str("error_description"))
		}
	}
	// Microsoft names the API in the scope and answers its own code.
	a := post(t, srv, clientCredentials(url.Values{"scope": {"https://other.example/.default"}}))
	wantError(t, a, http.StatusBadRequest, "invalid_resource")
	if !strings.Contains(a.str("error_description"), "AADSTS500011") || !strings.Contains(a.str("error_description"), "https://other.example") {
		t.Errorf(".default scope: description %q, want AADSTS500011 naming the resource", a.str("error_description"))
	}
	for _, extra := range []url.Values{
		{"audience": {"https://api.example"}},
		{"resource": {"https://graph.example", "https://api.example"}},
		{"scope": {"https://graph.example/.default"}},
		nil,
	} {
		if a := post(t, srv, clientCredentials(extra)); a.status != http.StatusOK || a.str("access_token") == "" {
			t.Errorf("%v: %d %s, want a token", extra, a.status, a.raw)
		}
	}
	if mp.Calls() != 9 || mp.Successes() != 4 || len(mp.ClientGrants()) != 4 {
		t.Errorf("calls=%d successes=%d grants=%d, want 9, 4 and 4", mp.Calls(), mp.Successes(), len(mp.ClientGrants()))
	}
}

// Without Audiences, any audience or resource is granted, and recorded as
// sent.
func TestClientCredentialsWithoutAudiencesAcceptsAnyTarget(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{ClientID: "cid", ClientSecret: "s3cret"})
	a := post(t, srv, clientCredentials(url.Values{"audience": {"https://any.example"}, "resource": {"https://else.example"}, "scope": {"https://any.example/.default"}}))
	if a.status != http.StatusOK {
		t.Fatalf("%d %s, want a token", a.status, a.raw)
	}
	g := mp.ClientGrants()
	if len(g) != 1 || g[0].Params.Get("audience") != "https://any.example" || g[0].Params.Get("resource") != "https://else.example" {
		t.Fatalf("grants = %+v, want one with the audience and resource sent", g)
	}
}
