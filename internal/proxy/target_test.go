package proxy_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/proxy"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// importAs imports a connection of the given template with params.
func (e *env) importAs(t *testing.T, name, template, params string) {
	t.Helper()
	err := e.st.Import(t.Context(), []store.ImportRow{{Name: name, Provider: ptr(template),
		TokenURL: ptr(e.token.URL + "/token"), AccessToken: ptr("at-" + name), RefreshToken: ptr("rt-" + name),
		AccessTokenExpires: ptr(time.Now().Add(time.Hour)), Params: ptr(params)}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestProxyUsesTheTemplatesSchemeAndHeaders(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "providers.json")
	err := os.WriteFile(path, []byte(`[{"name": "zoho_like", "auth": "post", "default_lifetime": "1h",
		"api_auth_scheme": "Zoho-oauthtoken", "api_headers": {"X-Org": "{org}"}}]`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := provider.LoadCatalogue(path)
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	e := setup(t, unauthorizedUntilRefreshed(&refused), proxy.Config{})
	srv := e.serve(t, proxy.Config{Catalogue: cat})
	e.proxy = srv
	base := `"api_base_url": "` + e.api.URL + `"`
	e.importAs(t, "z", "zoho_like", `{`+base+`, "org": "o-1"}`)
	e.importAs(t, "xero-one", "xero", `{`+base+`, "tenant_id": "t-1"}`)
	e.importAs(t, "xero-any", "xero", `{`+base+`}`)
	e.importAs(t, "xero-bad", "xero", `{`+base+`, "tenant_id": "t\r\nX-Evil: 1"}`)
	key := e.newKey(t, "z", "xero-*")

	// The caller's X-Org and Authorization do not reach upstream.
	h := http.Header{"X-Org": {"evil"}}
	if r := e.do(t, "GET", "/proxy/z/crm/v2/Leads", key, nil, h); r.status != 200 {
		t.Fatalf("zoho: %d %q", r.status, r.body)
	}
	if got := e.last().Header; got.Get("Authorization") != "Zoho-oauthtoken at-z" || got.Values("X-Org")[0] != "o-1" || len(got.Values("X-Org")) != 1 {
		t.Errorf("zoho sent Authorization %q, X-Org %q", got.Get("Authorization"), got.Values("X-Org"))
	}
	h = http.Header{"Xero-Tenant-Id": {"someone-else"}}
	if r := e.do(t, "GET", "/proxy/xero-one/api.xro/2.0/Invoices", key, nil, h); r.status != 200 ||
		e.last().Header.Get("Xero-Tenant-Id") != "t-1" || e.last().Header.Get("Authorization") != "Bearer at-xero-one" {
		t.Errorf("xero with tenant_id: %d, sent %v", r.status, e.last().Header)
	}
	// Without params.tenant_id the caller names the tenant.
	if r := e.do(t, "GET", "/proxy/xero-any/connections", key, nil, h); r.status != 200 || e.last().Header.Get("Xero-Tenant-Id") != "someone-else" {
		t.Errorf("xero without tenant_id: %d, sent %v", r.status, e.last().Header)
	}
	// A parameter with CR LF is refused before anything is sent.
	before := e.last()
	if r := e.do(t, "GET", "/proxy/xero-bad/connections", key, nil, nil); r.status != http.StatusBadGateway || !strings.Contains(r.body, "control characters") {
		t.Errorf("tenant_id with CR LF: %d %q", r.status, r.body)
	}
	if e.last() != before {
		t.Error("a request with a smuggled header reached upstream")
	}
}

func TestProxyRetriesA401UnderTheTemplatesScheme(t *testing.T) {
	t.Parallel()
	var refused atomic.Int64
	e := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Zoho-oauthtoken at-z" {
			refused.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Zoho-oauthtoken ") {
			w.WriteHeader(http.StatusBadRequest)
		}
	}, proxy.Config{})
	// The built-in zoho template: its API base is {api_domain} from the
	// token answer, here params.api_base_url.
	e.importAs(t, "z", "zoho", `{"api_base_url": "`+e.api.URL+`"}`)
	e.runWorker(t)
	if r := e.do(t, "GET", "/proxy/z/crm/v2/Leads", e.newKey(t, "z"), nil, nil); r.status != 200 || refused.Load() != 1 || e.prov.Calls() != 1 {
		t.Fatalf("%d after %d 401s and %d refreshes; want 200 after 1 and 1", r.status, refused.Load(), e.prov.Calls())
	}
}

// counting counts the reads of keys and connections the proxy makes.
type counting struct {
	*store.Store
	keyReads, touches, describes atomic.Int64
}

func (c *counting) APIKeyByID(ctx context.Context, id string) (*store.APIKey, error) {
	c.keyReads.Add(1)
	return c.Store.APIKeyByID(ctx, id)
}

func (c *counting) TouchAPIKey(ctx context.Context, id string) error {
	c.touches.Add(1)
	return c.Store.TouchAPIKey(ctx, id)
}

func (c *counting) Describe(ctx context.Context, names []string) (map[string]*model.OAuthToken, error) {
	c.describes.Add(1)
	return c.Store.Describe(ctx, names)
}

func TestProxyReadsKeyAndConnectionOncePerTTL(t *testing.T) {
	t.Parallel()
	e := setup(t, func(w http.ResponseWriter, r *http.Request) {}, proxy.Config{})
	c := &counting{Store: e.st}
	e.proxy = e.serve(t, proxy.Config{Keys: c, Connections: c, CacheTTL: time.Hour})
	for range 20 {
		if r := e.do(t, "GET", "/proxy/a/x", e.key, nil, nil); r.status != 200 {
			t.Fatalf("%d %q", r.status, r.body)
		}
	}
	if k, tc, d := c.keyReads.Load(), c.touches.Load(), c.describes.Load(); k != 1 || tc != 1 || d != 1 {
		t.Errorf("20 requests read the key %d times, touched it %d times and the connection %d times; want 1 each", k, tc, d)
	}
	// A wrong secret with a cached key's id is still refused.
	id, _ := apikey.ID(e.key)
	forged := e.key[:len(e.key)-4] + "AAAA"
	if fid, _ := apikey.ID(forged); fid != id {
		t.Fatalf("forged key has id %q, want %q", fid, id)
	}
	if r := e.do(t, "GET", "/proxy/a/x", forged, nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("forged key: %d", r.status)
	}
}

func TestProxyRevokedKeyIsRefusedWithinTheTTL(t *testing.T) {
	t.Parallel()
	e := setup(t, func(w http.ResponseWriter, r *http.Request) {}, proxy.Config{CacheTTL: 50 * time.Millisecond})
	if r := e.do(t, "GET", "/proxy/a/x", e.key, nil, nil); r.status != 200 {
		t.Fatalf("%d %q", r.status, r.body)
	}
	id, _ := apikey.ID(e.key)
	if err := e.st.RevokeAPIKey(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the revoked key refused", func() bool {
		return e.do(t, "GET", "/proxy/a/x", e.key, nil, nil).status == http.StatusUnauthorized
	})
}
