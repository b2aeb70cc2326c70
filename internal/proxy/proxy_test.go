package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/metrics"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/notify"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/proxy"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

type env struct {
	dsn    string
	st     *store.Store
	prov   *mockprovider.Server
	token  *httptest.Server // the mock OAuth provider
	api    *httptest.Server // the upstream API
	proxy  *httptest.Server
	tokens *tokens.Client
	// catalogue is the worker's templates; nil means the built-ins.
	catalogue *provider.Catalogue
	key       string // a key for the connection "a"
	// seen is the last request the upstream API received.
	mu   sync.Mutex
	seen *http.Request
}

// setup gives a test its own database with connection "a" whose API base is
// the upstream api, a real tokens client, a key for "a", and the proxy.
func setup(t *testing.T, api http.HandlerFunc, cfg proxy.Config) *env {
	t.Helper()
	dsn := pgtest.New(t)
	st, err := store.Open(t.Context(), dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c, err := tokens.Open(t.Context(), dsn, &tokens.Options{PollInterval: time.Hour, WaitTimeout: time.Hour, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := &env{dsn: dsn, st: st, prov: mockprovider.New(mockprovider.Options{})}
	e.token = httptest.NewServer(e.prov)
	t.Cleanup(e.token.Close)
	e.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.seen = r.Clone(context.Background())
		e.mu.Unlock()
		api(w, r)
	}))
	t.Cleanup(e.api.Close)
	e.insert(t, "a", `{"api_base_url": "`+e.api.URL+`/base"}`)
	e.key = e.newKey(t, "a")
	e.tokens = c
	e.proxy = e.serve(t, cfg)
	return e
}

// serve starts a proxy on the test's database; cfg's Keys, Connections,
// Catalogue and Logger default to the store, the built-in templates and
// a quiet logger.
func (e *env) serve(t *testing.T, cfg proxy.Config) *httptest.Server {
	t.Helper()
	cfg.Tokens = e.tokens
	if cfg.Keys == nil {
		cfg.Keys = e.st
	}
	if cfg.Connections == nil {
		cfg.Connections = e.st
	}
	if cfg.Catalogue == nil {
		cfg.Catalogue = provider.NewCatalogue()
	}
	if cfg.Logger == nil {
		cfg.Logger = testutil.Quiet()
	}
	srv := httptest.NewServer(proxy.New(cfg))
	t.Cleanup(srv.Close)
	return srv
}

func ptr[T any](v T) *T { return &v }

func (e *env) insert(t *testing.T, name, params string) {
	t.Helper()
	err := e.st.Import(t.Context(), []store.ImportRow{{
		Name:               name,
		TokenURL:           ptr(e.token.URL + "/token"),
		AccessToken:        ptr("at-" + name),
		RefreshToken:       ptr("rt-" + name),
		AccessTokenExpires: ptr(time.Now().Add(time.Hour)),
		Params:             ptr(params),
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) newKey(t *testing.T, patterns ...string) string {
	t.Helper()
	k, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateAPIKey(t.Context(), k.ID, "test", k.Hash, patterns); err != nil {
		t.Fatal(err)
	}
	return k.Secret
}

// runWorker runs a worker, polling only hourly, until the test ends.
func (e *env) runWorker(t *testing.T) {
	t.Helper()
	cat := e.catalogue
	if cat == nil {
		cat = provider.NewCatalogue()
	}
	ex := provider.NewRefresher(cat, e.token.Client(), nil)
	hub := notify.NewHub(notify.RefreshChannel)
	w := refresh.New(e.st, ex, refresh.Config{PollInterval: time.Hour, Listener: hub}, testutil.Quiet())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { hub.Run(ctx, e.dsn, testutil.Quiet()) })
	wg.Go(func() { w.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request on a raw connection, so that the path reaches the
// proxy exactly as written.
func (e *env) do(t *testing.T, method, path, key string, body io.Reader, header http.Header) response {
	t.Helper()
	r, err := e.send(t.Context(), method, path, key, body, header)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is do for a goroutine of the test's, which may not call t.Fatal.
func (e *env) send(ctx context.Context, method, path, key string, body io.Reader, header http.Header) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.proxy.URL, body)
	if err != nil {
		return response{}, err
	}
	req.URL.Opaque = path
	for k, v := range header {
		req.Header[k] = v
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := e.proxy.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}, err
}

func (e *env) last() *http.Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seen
}

func TestProxyScrubsHeadersAndPassesTheAnswerBack(t *testing.T) {
	t.Parallel()
	e := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "body of "+r.Method+" "+r.URL.RequestURI())
	}, proxy.Config{})
	h := http.Header{"Connection": {"X-Secret-Hop"}, "X-Secret-Hop": {"hop"}, "Proxy-Authorization": {"Basic x"},
		"Keep-Alive": {"timeout=5"}, "X-Custom": {"kept"}, "Cookie": {"session=1"}}
	r := e.do(t, "POST", "/proxy/a/v1/items?q=1", e.key, strings.NewReader("payload"), h)
	if r.status != http.StatusTeapot || r.header.Get("X-Upstream") != "yes" || r.body != "body of POST /base/v1/items?q=1" {
		t.Fatalf("answer changed: %d %v %q", r.status, r.header, r.body)
	}
	got := e.last()
	if a := got.Header.Get("Authorization"); a != "Bearer at-a" {
		t.Errorf("upstream Authorization %q, want the connection's token", a)
	}
	for _, k := range []string{"X-Secret-Hop", "Proxy-Authorization", "Keep-Alive", "Cookie"} {
		if v := got.Header.Get(k); v != "" {
			t.Errorf("%s reached upstream: %q", k, v)
		}
	}
	if got.Header.Get("X-Custom") != "kept" {
		t.Errorf("X-Custom was dropped")
	}
	if strings.Contains(got.Header.Get("Authorization"), e.key) {
		t.Error("the caller's API key reached upstream")
	}
}

func TestProxyRefusesPathsThatCouldLeaveTheAPIBase(t *testing.T) {
	t.Parallel()
	e := setup(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reached") }, proxy.Config{})
	for _, p := range []string{
		"/proxy/a/../x", "/proxy/a/v1/../../x", "/proxy/a/%2e%2e/x", "/proxy/a/v1/%2E%2E",
		"/proxy/a/v1%2fx", "/proxy/a/v1%2F..%2Fx", "/proxy/a/%5c..%5cx", `/proxy/a/\evil.com`,
		"/proxy/a/@evil.com/x", "/proxy/a/user%40evil.com", "/proxy/a//evil.com/x",
		"/proxy/a/http://evil.com/x", "/proxy/a/https:%2f%2fevil.com", "/proxy/a/%252e%252e/x",
		"/proxy/a/./x", "/proxy/a%2f..%2fb/x",
	} {
		r := e.do(t, "GET", p, e.key, nil, nil)
		if r.status != http.StatusBadRequest || strings.Contains(r.body, "reached") {
			t.Errorf("%s: %d %q, want 400", p, r.status, r.body)
		}
	}
	if e.last() != nil {
		t.Fatalf("a refused path reached upstream: %s", e.last().URL)
	}
	if r := e.do(t, "GET", "/proxy/a/v1/ok%20space", e.key, nil, nil); r.status != 200 || e.last().URL.EscapedPath() != "/base/v1/ok%20space" {
		t.Fatalf("a plain path failed: %d %q", r.status, r.body)
	}
}

func TestProxyKeyScopedToAnotherNameIsRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reached") }, proxy.Config{})
	other := e.newKey(t, "b*")
	if r := e.do(t, "GET", "/proxy/a/x", other, nil, nil); r.status != http.StatusForbidden {
		t.Errorf("key for b*: %d %q", r.status, r.body)
	}
	if r := e.do(t, "GET", "/proxy/a/x", "", nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("no key: %d %q", r.status, r.body)
	}
	if e.last() != nil {
		t.Fatal("a refused caller reached upstream")
	}
}

func TestProxyPassesRedirectsBack(t *testing.T) {
	t.Parallel()
	e := setup(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://evil.example/steal", http.StatusFound)
	}, proxy.Config{})
	c := *e.proxy.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.proxy.URL+"/proxy/a/x", nil)
	req.Header.Set("Authorization", "Bearer "+e.key)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://evil.example/steal" {
		t.Fatalf("redirect not passed back: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// unauthorizedUntilRefreshed answers 401 to the imported token "at-a" and
// 200 to any other, counting the 401s.
func unauthorizedUntilRefreshed(n *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("Authorization") == "Bearer at-a" {
			n.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok")
	}
}

func TestProxy401sRefreshOnceAndRetry(t *testing.T) {
	t.Parallel()
	// The upstream holds each 401 until all 100 requests have been
	// refused, so every one of them invalidates the same token.
	var refused atomic.Int64
	all := make(chan struct{})
	e := setup(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("Authorization") == "Bearer at-a" {
			if refused.Add(1) == 100 {
				close(all)
			}
			select {
			case <-all:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok")
	}, proxy.Config{})
	e.runWorker(t)
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for range 100 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", e.proxy.URL+"/proxy/a/x", strings.NewReader("replayable"))
			req.Header.Set("Authorization", "Bearer "+e.key)
			resp, err := e.proxy.Client().Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "ok" {
				errs <- resp.Status + " " + string(b)
			}
		})
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Error(s)
	}
	if n := e.prov.Calls(); n != 1 {
		t.Errorf("the provider saw %d refreshes, want 1", n)
	}
	if n := refused.Load(); n != 100 {
		t.Errorf("%d requests saw the 401, want 100", n)
	}
}

func TestProxyLargeBodyIsNotReplayed(t *testing.T) {
	t.Parallel()
	var refused atomic.Int64
	e := setup(t, unauthorizedUntilRefreshed(&refused), proxy.Config{MaxReplayBody: 1024})
	r := e.do(t, "PUT", "/proxy/a/upload", e.key, strings.NewReader(strings.Repeat("x", 4096)), nil)
	if r.status != http.StatusUnauthorized || refused.Load() != 1 {
		t.Fatalf("large body: %d, %d upstream 401s; want the one 401 passed back", r.status, refused.Load())
	}
	if n := e.prov.Calls(); n != 0 {
		t.Errorf("the provider saw %d refreshes; nothing was due", n)
	}
}

func TestProxyUsesTheTemplatesAPIBase(t *testing.T) {
	t.Parallel()
	e := setup(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }, proxy.Config{})
	// Salesforce's base is {instance_url} from the token response.
	err := e.st.Import(t.Context(), []store.ImportRow{{Name: "sf", Provider: ptr("salesforce"),
		TokenURL: ptr(e.token.URL + "/token"), AccessToken: ptr("at-sf"), RefreshToken: ptr("rt-sf"),
		AccessTokenExpires: ptr(time.Now().Add(time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	key := e.newKey(t, "sf")
	if r := e.do(t, "GET", "/proxy/sf/x", key, nil, nil); r.status != http.StatusBadGateway || !strings.Contains(r.body, "instance_url") {
		t.Errorf("no instance_url: %d %q", r.status, r.body)
	}
	if err := e.st.DB().Exec(`UPDATE oauth_tokens SET json_data = jsonb_build_object('instance_url', ?::text) WHERE name = 'sf'`, e.api.URL).Error; err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, "GET", "/proxy/sf/services/data", key, nil, nil); r.status != 200 || e.last().URL.Path != "/services/data" ||
		e.last().Header.Get("Authorization") != "Bearer at-sf" {
		t.Errorf("salesforce: %d %q", r.status, r.body)
	}
}

func TestProxyMetricsPerConnectionAndStatusClass(t *testing.T) {
	t.Parallel()
	e := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/missing") {
			w.WriteHeader(http.StatusNotFound)
		}
		io.WriteString(w, "UPSTREAM-ANSWER-BODY")
	}, proxy.Config{})
	m := metrics.New()
	var logs testutil.Buffer
	e.proxy = e.serve(t, proxy.Config{Observer: m.Proxy(0), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	e.insert(t, "down", `{"api_base_url": "`+closed.URL+`"}`)
	key := e.newKey(t, "a", "down", "gone")
	for _, c := range []struct {
		path, key string
		status    int
	}{
		{"/proxy/a/x", key, 200},
		{"/proxy/a/y", key, 200},
		{"/proxy/a/missing", key, 404},
		{"/proxy/a/../x", key, 400},
		{"/proxy/a/x", "", 401},
		{"/proxy/gone/x", key, 404},
		{"/proxy/down/x", key, 502},
	} {
		if r := e.do(t, "GET", c.path, c.key, nil, nil); r.status != c.status {
			t.Errorf("%s: %d %q, want %d", c.path, r.status, r.body, c.status)
		}
	}
	got := testutil.Scrape(t, m.Handler())
	want := map[string]float64{
		`tokenwarden_proxy_requests_total{code_class="2xx",connection="a"}`:            2,
		`tokenwarden_proxy_requests_total{code_class="4xx",connection="a"}`:            1,
		`tokenwarden_proxy_requests_total{code_class="refused",connection="_unknown"}`: 3,
		`tokenwarden_proxy_requests_total{code_class="error",connection="down"}`:       1,
		`tokenwarden_proxy_request_duration_seconds_count{code_class="2xx"}`:           2,
		`tokenwarden_proxy_requests_in_flight`:                                         0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if strings.Contains(logs.String(), "UPSTREAM-ANSWER-BODY") {
		t.Error("the provider's answer body was logged")
	}
	if !strings.Contains(logs.String(), "upstream request failed") {
		t.Errorf("the unreachable upstream was not logged: %q", logs.String())
	}
}

// The bodies held for retries share MaxReplayMemory: while one request
// holds it, another's body streams and its 401 is passed back.
func TestProxyReplayMemoryIsShared(t *testing.T) {
	t.Parallel()
	var refused atomic.Int64
	holding, release := make(chan struct{}), make(chan struct{})
	retry := unauthorizedUntilRefreshed(&refused)
	e := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/base/hold" {
			close(holding)
			<-release
			return
		}
		retry(w, r)
	}, proxy.Config{MaxReplayBody: 1024, MaxReplayMemory: 1024})
	// Registered after setup's, so it runs first: a failed test must
	// not leave the held request blocking the upstream's Close.
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock)
	held := make(chan response, 1)
	go func() {
		r, err := e.send(t.Context(), "POST", "/proxy/a/hold", e.key, strings.NewReader(strings.Repeat("h", 600)), nil)
		if err != nil {
			r.body = err.Error()
		}
		held <- r
	}()
	<-holding
	r := e.do(t, "PUT", "/proxy/a/upload", e.key, strings.NewReader(strings.Repeat("x", 600)), nil)
	unblock()
	if r.status != http.StatusUnauthorized || refused.Load() != 1 || e.prov.Calls() != 0 {
		t.Errorf("second body: %d after %d upstream 401s, %d refreshes; want its 401 passed back", r.status, refused.Load(), e.prov.Calls())
	}
	if h := <-held; h.status != 200 {
		t.Errorf("held request: %d %q", h.status, h.body)
	}
}

// An API may answer while the upload still streams: the proxy carries both
// ways at once, each piece of the request echoed back before the next is
// sent.
func TestProxyStreamsBothWaysAtOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("upstream: %v", err)
		}
		w.WriteHeader(http.StatusOK)
		rc.Flush()
		buf := make([]byte, 5)
		for {
			n, err := io.ReadFull(r.Body, buf)
			if n > 0 {
				w.Write(buf[:n])
				rc.Flush()
			}
			if err != nil {
				return
			}
		}
	}, proxy.Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.proxy.URL+"/proxy/a/echo", pr)
	req.Header.Set("Authorization", "Bearer "+e.key)
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := e.proxy.Client().Do(req)
		done <- result{resp, err}
	}()
	if _, err := io.WriteString(pw, "ping1"); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.resp.Body.Close()
	for _, piece := range []string{"ping1", "ping2", "ping3"} {
		if piece != "ping1" {
			if _, err := io.WriteString(pw, piece); err != nil {
				t.Fatal(err)
			}
		}
		got := make([]byte, 5)
		if _, err := io.ReadFull(res.resp.Body, got); err != nil || string(got) != piece {
			t.Fatalf("echo of %s: %q, %v", piece, got, err)
		}
	}
	pw.Close()
	if rest, err := io.ReadAll(res.resp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("after the upload ended: %q, %v", rest, err)
	}
}
