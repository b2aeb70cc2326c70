package provider

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkRefresh measures one standard exchange against a loopback
// endpoint: request shaping, x/oauth2, response parsing and the result.
func BenchmarkRefresh(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"at-new","token_type":"Bearer","expires_in":1800,"refresh_token":"rt-new","scope":"a b"}`))
	}))
	defer srv.Close()
	r := NewRefresher(NewCatalogue(), NewHTTPClient(5*time.Second, 4), nil)
	conn := Request{Provider: "xero", TokenURL: srv.URL + "/token",
		ClientID: "cid", ClientSecret: "cs", RefreshToken: "rt"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Refresh(b.Context(), conn); err != nil {
			b.Fatal(err)
		}
	}
}
