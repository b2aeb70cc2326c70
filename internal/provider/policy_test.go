package provider

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEndpointPolicy(t *testing.T) {
	t.Parallel()
	strict := EndpointPolicy{}
	insecure := EndpointPolicy{AllowInsecureHTTP: true}
	pinned := EndpointPolicy{AllowedHosts: []string{"*.salesforce.com", "identity.xero.com"}}
	for _, tc := range []struct {
		p   EndpointPolicy
		url string
		ok  bool
	}{
		{strict, "https://identity.xero.com/connect/token", true},
		{strict, "http://127.0.0.1:8089/token", true},
		{strict, "http://localhost/token", true},
		{strict, "http://[::1]:1/token", true},
		{strict, "http://evil.example.com/token", false},
		{strict, "ftp://x/token", false},
		{strict, "/relative", false},
		{insecure, "http://mockprovider:8089/token", true},
		{pinned, "https://acme.my.salesforce.com/services/oauth2/token", true},
		{pinned, "https://identity.xero.com/connect/token", true},
		{pinned, "https://attacker.example/token", false},
	} {
		if err := tc.p.Check(tc.url); (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

func TestRefreshRefusesEndpointOutsidePolicy(t *testing.T) {
	t.Parallel()
	r := NewRefresher(NewCatalogue(), NewHTTPClient(time.Second, 1), nil).
		WithEndpointPolicy(EndpointPolicy{AllowedHosts: []string{"identity.xero.com"}})
	conn := Request{Provider: "oauth2", TokenURL: "https://attacker.example/token",
		ClientSecret: "cs-SECRET", RefreshToken: "rt-SECRET"}
	_, err := r.Refresh(t.Context(), conn)
	var pe *Error
	if !errors.As(err, &pe) || !pe.Reauth || !strings.Contains(err.Error(), "TOKENS_ALLOWED_TOKEN_HOSTS") {
		t.Fatalf("got %v, want a configuration error naming the policy", err)
	}
}
