package provider

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzRefreshResponse feeds arbitrary token-endpoint answers to every
// provider template. Whatever comes back, Refresh must not panic, must
// classify it (a *Error or a Result with an access token), and must never
// repeat the refresh token or client secret it sent, even when the answer
// echoes them.
func FuzzRefreshResponse(f *testing.F) {
	f.Add("oauth2", 200, "application/json", []byte(`{"access_token":"at","expires_in":3600,"refresh_token":"rt2"}`))
	f.Add("oauth2", 200, "application/x-www-form-urlencoded", []byte(`access_token=at&expires_in=60`))
	f.Add("slack", 200, "application/json", []byte(`{"ok":false,"error":"invalid_refresh_token"}`))
	f.Add("hubspot", 400, "application/json", []byte(`{"status":"BAD_REFRESH_TOKEN","message":"rt-FUZZSECRET is bad"}`))
	f.Add("quartile", 201, "application/json", []byte(`{"authorization":{"token":"a","expires_at":"2030-01-01T00:00:00Z"},"refresh":{"token":"r"}}`))
	f.Add("quartile", 201, "application/json", []byte(`{"authorization":7}`))
	f.Add("salesforce", 200, "application/json", []byte(`{"access_token":"at","issued_at":"1700000000000","instance_url":"https://x"}`))
	f.Add("oauth2", 502, "text/html", []byte(`<html>cs-FUZZSECRET</html>`))
	f.Add("oauth2", 200, "application/json", []byte(`{"access_token":"","expires_in":"soon"}`))
	f.Add("oauth2", 429, "application/json", []byte(`{"error":"slow_down"}`))
	f.Add("microsoft", 200, "application/json", []byte(`{"access_token":"at","expires_in":1e400}`))
	f.Fuzz(func(t *testing.T, providerName string, status int, contentType string, body []byte) {
		if status < 100 || status > 599 {
			status = 200
		}
		cat := NewCatalogue()
		if _, ok := cat.Lookup(providerName); !ok {
			providerName = "oauth2"
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(status)
			w.Write(body)
		}))
		defer srv.Close()
		conn := Request{
			Provider: providerName, TokenURL: srv.URL + "/{tenant}/token",
			Params:   paramsOf(t, `{"tenant":"t","app_id":"a","target_org_id":"o","token_manager":"m","app_token_url":"`+srv.URL+`/app"}`),
			ClientID: "cid", ClientSecret: "cs-FUZZSECRET", RefreshToken: "rt-FUZZSECRET",
		}
		r := NewRefresher(cat, NewHTTPClient(5*time.Second, 1), func(context.Context, string) (string, error) { return "mgr-FUZZSECRET", nil })
		res, err := r.Refresh(t.Context(), conn)
		switch {
		case err != nil:
			if pe := (*Error)(nil); !errors.As(err, &pe) {
				t.Fatalf("unclassified error %T: %v", err, err)
			}
			if strings.Contains(err.Error(), "FUZZSECRET") {
				t.Fatalf("error repeats a secret: %v", err)
			}
		case res == nil || res.AccessToken == "":
			t.Fatal("success without an access token")
		}
	})
}
