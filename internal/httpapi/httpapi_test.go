package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/httpapi"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

type env struct {
	dsn   string
	st    *store.Store
	srv   *httptest.Server
	entry chan struct{}
}

// countingTokens reports each Get as it starts, so a test knows a request
// reached the client without sleeping.
type countingTokens struct {
	*tokens.Client
	e *env
}

func (c countingTokens) Get(ctx context.Context, name string) (*tokens.Token, error) {
	select {
	case c.e.entry <- struct{}{}:
	default:
	}
	return c.Client.Get(ctx, name)
}

// setup gives a test its own database and the API on it, with a client
// whose fallback poll is an hour, so only notifications wake a long poll.
func setup(t *testing.T) *env {
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
	e := &env{dsn: dsn, st: st, entry: make(chan struct{}, 1)}
	h := httpapi.New(httpapi.Config{
		Tokens:  countingTokens{c, e},
		Keys:    st,
		Ready:   st.Ready,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "metrics\n") }),
		Logger:  testutil.Quiet(),
	})
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

func ptr[T any](v T) *T { return &v }

func (e *env) insert(t *testing.T, name string, expiresIn time.Duration) {
	t.Helper()
	err := e.st.Import(t.Context(), []store.ImportRow{{
		Name:               name,
		TokenURL:           ptr("http://127.0.0.1:1/token"),
		AccessToken:        ptr("at-" + name),
		RefreshToken:       ptr("rt-" + name),
		AccessTokenExpires: ptr(time.Now().Add(expiresIn)),
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if err := e.st.DB().Exec(sql, args...).Error; err != nil {
		t.Fatal(err)
	}
}

// key creates an API key for patterns and returns it.
func (e *env) key(t *testing.T, patterns ...string) apikey.Key {
	t.Helper()
	k, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateAPIKey(t.Context(), k.ID, "test", k.Hash, patterns); err != nil {
		t.Fatal(err)
	}
	return k
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) do(t *testing.T, method, path, key, body string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.body); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, b, err)
		}
	}
	return r
}

func (r response) want(t *testing.T, what string, status int, errCode string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d; body %s", what, r.status, status, r.raw)
		return
	}
	if errCode != "" && (r.body["error"] != errCode || r.body["message"] == "") {
		t.Errorf("%s: body %s, want error %q with a message", what, r.raw, errCode)
	}
}

func TestGetReturnsToken(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.insert(t, "xero-acme", time.Hour)
	e.exec(t, `UPDATE oauth_tokens SET json_data = '{"tenant":"t1"}'`)
	k := e.key(t, "xero-*")
	r := e.do(t, "GET", "/v1/tokens/xero-acme", k.Secret, "")
	r.want(t, "GET", 200, "")
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	in, _ := r.body["expires_in"].(float64)
	at, _ := time.Parse(time.RFC3339, r.body["expires_at"].(string))
	extra, _ := r.body["extra"].(map[string]any)
	if r.body["name"] != "xero-acme" || r.body["access_token"] != "at-xero-acme" || r.body["token_type"] != "Bearer" ||
		r.body["version"] != float64(0) || in < 3500 || in > 3600 || time.Until(at) < 59*time.Minute || extra["tenant"] != "t1" {
		t.Errorf("body %s", r.raw)
	}
	var lastUsed *time.Time
	if err := e.st.DB().Raw("SELECT last_used_at FROM api_keys WHERE id = ?", k.ID).Row().Scan(&lastUsed); err != nil || lastUsed == nil {
		t.Errorf("last_used_at = %v, %v; want set", lastUsed, err)
	}
}

func TestLongPollReturnsTokenCommittedDuringWait(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.insert(t, "a", time.Hour)
	k := e.key(t, "*")
	// A worker holds a live claim: the old token is still valid but must
	// not be handed out while its replacement is being fetched.
	e.exec(t, "UPDATE oauth_tokens SET updating = true, updating_until = now() + interval '1 minute'")

	done := make(chan response, 1)
	go func() { done <- e.do(t, "GET", "/v1/tokens/a?wait=10s", k.Secret, "") }()
	<-e.entry // the request is in Get
	select {
	case r := <-done:
		t.Fatalf("GET answered %d %s while the row was updating", r.status, r.raw)
	default:
	}
	e.exec(t, "UPDATE oauth_tokens SET access_token = 'at-new', updating = false, version = version + 1")
	r := <-done
	r.want(t, "long poll", 200, "")
	if r.body["access_token"] != "at-new" || r.body["version"] != float64(1) {
		t.Fatalf("long poll answered %s, want the new token", r.raw)
	}
}

func TestLongPollTimesOut(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.insert(t, "a", time.Hour)
	k := e.key(t, "a")
	e.exec(t, "UPDATE oauth_tokens SET updating = true, updating_until = now() + interval '1 minute'")
	start := time.Now()
	r := e.do(t, "GET", "/v1/tokens/a?wait=200ms", k.Secret, "")
	r.want(t, "wait=200ms on an updating row", 504, "timeout")
	if took := time.Since(start); took < 200*time.Millisecond || took > 10*time.Second {
		t.Errorf("answered after %v, want about 200ms", took)
	}
	if !strings.Contains(r.body["message"].(string), "refresh in progress") {
		t.Errorf("message %q does not say what it waited for", r.body["message"])
	}
}

func TestErrorsAndKeyScopes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.insert(t, "xero-acme", time.Hour)
	e.insert(t, "hubspot-acme", time.Hour)
	e.insert(t, "reauth", time.Hour)
	e.insert(t, "off", time.Hour)
	e.exec(t, "UPDATE oauth_tokens SET status = 'needs_reauth', last_error = 'invalid_grant: revoked' WHERE name = 'reauth'")
	e.exec(t, "UPDATE oauth_tokens SET status = 'disabled' WHERE name = 'off'")
	xero := e.key(t, "xero-*")
	all := e.key(t, "*")
	revoked := e.key(t, "*")
	if err := e.st.RevokeAPIKey(t.Context(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	unknown, _ := apikey.Generate()
	// Right id, wrong secret.
	forged := "tw_" + all.ID + "_" + strings.Repeat("A", 43)

	for _, tc := range []struct {
		what, path, key string
		status          int
		code            string
	}{
		{"no key", "/v1/tokens/xero-acme", "", 401, "unauthorized"},
		{"malformed key", "/v1/tokens/xero-acme", "hello", 401, "unauthorized"},
		{"unknown key", "/v1/tokens/xero-acme", unknown.Secret, 401, "unauthorized"},
		{"forged key", "/v1/tokens/xero-acme", forged, 401, "unauthorized"},
		{"revoked key", "/v1/tokens/xero-acme", revoked.Secret, 401, "unauthorized"},
		{"key outside its patterns", "/v1/tokens/hubspot-acme", xero.Secret, 403, "forbidden"},
		{"key within its patterns", "/v1/tokens/xero-acme", xero.Secret, 200, ""},
		{"unknown name outside patterns", "/v1/tokens/nope", xero.Secret, 403, "forbidden"},
		{"unknown name", "/v1/tokens/nope", all.Secret, 404, "not_found"},
		{"needs_reauth", "/v1/tokens/reauth", all.Secret, 409, "needs_reauth"},
		{"disabled", "/v1/tokens/off", all.Secret, 409, "disabled"},
		{"bad wait", "/v1/tokens/xero-acme?wait=soon", all.Secret, 400, "bad_request"},
		{"wait too long", "/v1/tokens/xero-acme?wait=6m", all.Secret, 400, "bad_request"},
		{"negative wait", "/v1/tokens/xero-acme?wait=-1s", all.Secret, 400, "bad_request"},
		{"invalidate without key", "/v1/tokens/xero-acme/invalidate", "", 401, "unauthorized"},
		{"invalidate outside patterns", "/v1/tokens/hubspot-acme/invalidate", xero.Secret, 403, "forbidden"},
	} {
		method, body := "GET", ""
		if strings.HasSuffix(tc.path, "/invalidate") {
			method, body = "POST", `{"access_token":"x"}`
		}
		r := e.do(t, method, tc.path, tc.key, body)
		r.want(t, tc.what, tc.status, tc.code)
		if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", tc.what)
		}
		if tc.status != 200 && strings.Contains(r.raw, "at-") {
			t.Errorf("%s: error body holds a token: %s", tc.what, r.raw)
		}
	}
	r := e.do(t, "GET", "/v1/tokens/reauth", all.Secret, "")
	if r.body["last_error"] != "invalid_grant: revoked" {
		t.Errorf("needs_reauth body %s lacks last_error", r.raw)
	}
}

func TestInvalidateMarksDueOnlyForStoredToken(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.insert(t, "a", time.Hour)
	k := e.key(t, "*")
	due := func() bool {
		t.Helper()
		var d bool
		if err := e.st.DB().Raw("SELECT access_token_expires <= now() FROM oauth_tokens WHERE name = 'a'").Row().Scan(&d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	e.do(t, "POST", "/v1/tokens/a/invalidate", k.Secret, `{"access_token":"at-older"}`).want(t, "stale token", 204, "")
	if due() {
		t.Fatal("a token other than the stored one made the row due")
	}
	e.do(t, "POST", "/v1/tokens/a/invalidate", k.Secret, `{}`).want(t, "no token", 400, "bad_request")
	e.do(t, "POST", "/v1/tokens/a/invalidate", k.Secret, `not json`).want(t, "bad body", 400, "bad_request")
	if due() {
		t.Fatal("a bad request made the row due")
	}
	e.do(t, "POST", "/v1/tokens/nope/invalidate", k.Secret, `{"access_token":"x"}`).want(t, "unknown name", 404, "not_found")
	e.do(t, "POST", "/v1/tokens/a/invalidate", k.Secret, `{"access_token":"at-a"}`).want(t, "stored token", 204, "")
	if !due() {
		t.Fatal("invalidating the stored token did not make the row due")
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.do(t, "GET", "/healthz", "", "").want(t, "healthz", 200, "")
	e.do(t, "GET", "/readyz", "", "").want(t, "readyz with the database up", 200, "")
	if r := e.do(t, "GET", "/metrics", "", ""); r.status != 200 || r.raw != "metrics\n" {
		t.Errorf("metrics: %d %q", r.status, r.raw)
	}

	// Without the schema the API needs, not ready.
	e.exec(t, "DROP TABLE api_keys CASCADE")
	e.do(t, "GET", "/readyz", "", "").want(t, "readyz without api_keys", 503, "not_ready")

	// With the database gone, not ready; still healthy.
	e2 := setup(t)
	e2.do(t, "GET", "/readyz", "", "").want(t, "readyz", 200, "")
	dropDatabase(t, e2.dsn)
	e2.do(t, "GET", "/readyz", "", "").want(t, "readyz with the database gone", 503, "not_ready")
	e2.do(t, "GET", "/healthz", "", "").want(t, "healthz with the database gone", 200, "")
}

func dropDatabase(t *testing.T, dsn string) {
	t.Helper()
	ctx := t.Context()
	c, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "DROP DATABASE "+pgx.Identifier{cfg.Database}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- httpapi.Serve(ctx, ln, httpapi.New(httpapi.Config{Logger: testutil.Quiet()}), testutil.Quiet())
	}()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v after ctx ended, want nil", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}
