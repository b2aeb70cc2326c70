package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
)

// `worker run` serves the proxy on TOKENS_HTTP_ADDR beside the token API:
// the upstream API gets the refreshed token, never the caller's key, and a
// path with ".." is refused by the proxy, not redirected by a mux.
func TestRunServesTheProxy(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	env := envFor(dsn)
	prov, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour})
	seen := make(chan string, 10)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.URL.Path + " " + r.Header.Get("Authorization")
		io.WriteString(w, "from upstream")
	}))
	t.Cleanup(api.Close)
	mustRun(t, env, record("xero-acme", tokenURL, "at-SECRET-old", "rt-SECRET-1",
		`"expires_at":"2000-01-01T00:00:00Z","params":{"api_base_url":"`+api.URL+`/api"}`), "import")
	key := strings.TrimSpace(mustRun(t, env, "", "apikey", "create", "--names", "xero-*").stdout)

	d := startDaemon(t, env, "run")
	d.stderr.wait(t, "msg=refreshed")
	issued, ok := prov.Issued("rt-SECRET-1")
	if !ok {
		t.Fatal("the provider issued nothing")
	}
	if code, body := d.get(t, "/proxy/xero-acme/v1/items", key); code != 200 || body["text"] != "from upstream" {
		t.Fatalf("proxied GET: %d %v", code, body)
	}
	if got := <-seen; got != "/api/v1/items Bearer "+issued.AccessToken {
		t.Errorf("upstream saw %q", got)
	}
	if code, body := d.get(t, "/proxy/xero-acme/../../v1/tokens/xero-acme", key); code != 400 {
		t.Errorf("path with ..: %d %v, want 400", code, body)
	}
	_, metrics := d.get(t, "/metrics", "")
	for _, want := range []string{`tokenwarden_proxy_requests_total{code_class="2xx",connection="xero-acme"} 1`,
		`tokenwarden_proxy_requests_total{code_class="refused",connection="_unknown"} 1`} {
		if !strings.Contains(metrics["text"].(string), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("run exited %d; stderr:\n%s", code, d.stderr.String())
	}
	if logs := d.stderr.String(); strings.Contains(logs, "SECRET") || strings.Contains(logs, issued.AccessToken) || strings.Contains(logs, key) {
		t.Errorf("run's log holds a secret:\n%s", logs)
	}
}
