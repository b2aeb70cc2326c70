package mockprovider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
)

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a answer) str(key string) string {
	s, _ := a.body[key].(string)
	return s
}

type reqOpts struct {
	path        string
	basicID     string
	basicSecret string
	form        url.Values
}

func post(t *testing.T, srv *httptest.Server, o reqOpts) answer {
	t.Helper()
	if o.path == "" {
		o.path = "/token"
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+o.path, strings.NewReader(o.form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if o.basicID != "" {
		req.SetBasicAuth(url.QueryEscape(o.basicID), url.QueryEscape(o.basicSecret))
	}
	return do(t, srv, req)
}

func do(t *testing.T, srv *httptest.Server, req *http.Request) answer {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("decode %q: %v", raw, err)
		}
	}
	return a
}

func refresh(t *testing.T, srv *httptest.Server, rt string) answer {
	t.Helper()
	return post(t, srv, reqOpts{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}})
}

func start(t *testing.T, opts mockprovider.Options) (*mockprovider.Server, *httptest.Server) {
	t.Helper()
	mp := mockprovider.New(opts)
	srv := httptest.NewServer(mp)
	t.Cleanup(srv.Close)
	return mp, srv
}

func wantError(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.status != status || a.str("error") != code {
		t.Fatalf("got %d %s, want %d error %q", a.status, a.raw, status, code)
	}
}

func TestUnknownTokenAccepted(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{Lifetime: 30 * time.Minute})

	a := post(t, srv, reqOpts{path: "/oauth/token", form: url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {"rt-xero-1"}, "scope": {"offline_access"},
	}})
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if at := a.str("access_token"); !strings.HasPrefix(at, "at-") || len(at) != 3+32 {
		t.Errorf("access_token = %q", at)
	}
	if a.str("token_type") != "Bearer" || a.body["expires_in"] != float64(1800) || a.str("scope") != "offline_access" {
		t.Errorf("body = %s", a.raw)
	}
	if rt := a.str("refresh_token"); rt != "rt-xero-1" {
		t.Errorf("refresh_token = %q, want presented token", rt)
	}
	got, ok := mp.Issued("rt-xero-1")
	if !ok || got != (mockprovider.Issued{AccessToken: a.str("access_token"), RefreshToken: "rt-xero-1", ExpiresIn: 1800}) {
		t.Errorf("Issued = %+v, %v", got, ok)
	}
	if mp.Calls() != 1 || mp.Successes() != 1 || mp.Reuses() != 0 {
		t.Errorf("calls=%d successes=%d reuses=%d", mp.Calls(), mp.Successes(), mp.Reuses())
	}
}

func TestNonRotatingKeepsToken(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{})

	first := refresh(t, srv, "rt-1")
	second := refresh(t, srv, "rt-1")
	for _, a := range []answer{first, second} {
		if a.status != http.StatusOK || a.str("refresh_token") != "rt-1" || a.body["expires_in"] != float64(3600) {
			t.Fatalf("got %d %s", a.status, a.raw)
		}
	}
	if first.str("access_token") == second.str("access_token") {
		t.Error("access token not renewed")
	}
	if got, _ := mp.Issued("rt-1"); got.AccessToken != second.str("access_token") {
		t.Errorf("Issued should hold the latest answer, got %+v", got)
	}
	if mp.Reuses() != 0 || mp.Current("rt-1") != "rt-1" {
		t.Errorf("reuses=%d current=%q", mp.Reuses(), mp.Current("rt-1"))
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{Rotate: true})

	a := refresh(t, srv, "rt-a")
	next := a.str("refresh_token")
	if a.status != http.StatusOK || !strings.HasPrefix(next, "rt-") || next == "rt-a" || len(next) != 3+32 {
		t.Fatalf("got %d %s", a.status, a.raw)
	}
	if got, ok := mp.Issued("rt-a"); !ok || got.RefreshToken != next {
		t.Errorf("Issued = %+v, %v", got, ok)
	}
	if mp.Current("rt-a") != next {
		t.Errorf("Current = %q, want %q", mp.Current("rt-a"), next)
	}

	b := refresh(t, srv, next)
	if b.status != http.StatusOK {
		t.Fatalf("refresh with rotated token: %d %s", b.status, b.raw)
	}

	old := refresh(t, srv, "rt-a")
	wantError(t, old, http.StatusBadRequest, "invalid_grant")
	if old.str("error_description") != "refresh token already used" {
		t.Errorf("error_description = %q", old.str("error_description"))
	}
	if mp.Reuses() != 1 || mp.Calls() != 3 || mp.Successes() != 2 {
		t.Errorf("calls=%d successes=%d reuses=%d", mp.Calls(), mp.Successes(), mp.Reuses())
	}
}

func TestReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{Rotate: true})

	newest := refresh(t, srv, "rt-fam").str("refresh_token")
	other := refresh(t, srv, "rt-other").str("refresh_token")

	wantError(t, refresh(t, srv, "rt-fam"), http.StatusBadRequest, "invalid_grant")
	wantError(t, refresh(t, srv, newest), http.StatusBadRequest, "invalid_grant")
	if mp.Reuses() != 1 {
		t.Errorf("reuses = %d, want 1 (presenting the newest token is not a reuse)", mp.Reuses())
	}
	if a := refresh(t, srv, other); a.status != http.StatusOK {
		t.Errorf("unrelated family affected: %d %s", a.status, a.raw)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{Rotate: true})

	newest := refresh(t, srv, "rt-r").str("refresh_token")
	mp.Revoke("rt-r")
	wantError(t, refresh(t, srv, newest), http.StatusBadRequest, "invalid_grant")

	mp.Revoke("rt-never-seen")
	wantError(t, refresh(t, srv, "rt-never-seen"), http.StatusBadRequest, "invalid_grant")
	if mp.Reuses() != 0 {
		t.Errorf("reuses = %d", mp.Reuses())
	}
}

func TestClientAuth(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{ClientID: "cid", ClientSecret: "s3cr:et&"})
	grant := func(extra url.Values) url.Values {
		v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-c"}}
		for k, vs := range extra {
			v[k] = vs
		}
		return v
	}

	if a := post(t, srv, reqOpts{basicID: "cid", basicSecret: "s3cr:et&", form: grant(nil)}); a.status != http.StatusOK {
		t.Errorf("basic: %d %s", a.status, a.raw)
	}
	if a := post(t, srv, reqOpts{form: grant(url.Values{"client_id": {"cid"}, "client_secret": {"s3cr:et&"}})}); a.status != http.StatusOK {
		t.Errorf("body: %d %s", a.status, a.raw)
	}

	a := post(t, srv, reqOpts{basicID: "cid", basicSecret: "wrong", form: grant(nil)})
	wantError(t, a, http.StatusUnauthorized, "invalid_client")
	if a.header.Get("WWW-Authenticate") == "" {
		t.Error("missing WWW-Authenticate after failed Basic auth")
	}
	wantError(t, post(t, srv, reqOpts{form: grant(url.Values{"client_id": {"cid"}, "client_secret": {"wrong"}})}),
		http.StatusUnauthorized, "invalid_client")
	wantError(t, post(t, srv, reqOpts{form: grant(nil)}), http.StatusUnauthorized, "invalid_client")

	if mp.Calls() != 5 || mp.Successes() != 2 {
		t.Errorf("calls=%d successes=%d", mp.Calls(), mp.Successes())
	}
}

func TestRequestValidation(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{})

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := do(t, srv, req)
	if a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: %d allow=%q", a.status, a.header.Get("Allow"))
	}
	wantError(t, post(t, srv, reqOpts{form: url.Values{"grant_type": {"password"}, "username": {"x"}}}),
		http.StatusBadRequest, "unsupported_grant_type")
	wantError(t, post(t, srv, reqOpts{form: url.Values{"grant_type": {"refresh_token"}}}),
		http.StatusBadRequest, "invalid_request")
	if a := post(t, srv, reqOpts{path: "/elsewhere", form: url.Values{}}); a.status != http.StatusNotFound {
		t.Errorf("unknown path: %d", a.status)
	}
	if mp.Calls() != 3 || mp.Successes() != 0 {
		t.Errorf("calls=%d successes=%d", mp.Calls(), mp.Successes())
	}
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{Rotate: true})

	mp.FailNext(2, http.StatusTooManyRequests, `{"error":"slow_down"}`, http.Header{
		"Retry-After":  {"7"},
		"Content-Type": {"application/json"},
	})
	for i := range 2 {
		a := refresh(t, srv, "rt-f")
		if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "7" || a.str("error") != "slow_down" {
			t.Fatalf("attempt %d: %d %v %s", i, a.status, a.header, a.raw)
		}
	}
	// Injected failures must not consume the token.
	if a := refresh(t, srv, "rt-f"); a.status != http.StatusOK {
		t.Fatalf("after failures: %d %s", a.status, a.raw)
	}
	if mp.Calls() != 3 || mp.Successes() != 1 || mp.Reuses() != 0 {
		t.Errorf("calls=%d successes=%d reuses=%d", mp.Calls(), mp.Successes(), mp.Reuses())
	}
}

func TestOmitRefreshToken(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{OmitRefreshToken: true, Rotate: true})

	for range 2 {
		a := refresh(t, srv, "rt-google")
		if a.status != http.StatusOK {
			t.Fatalf("got %d %s", a.status, a.raw)
		}
		if _, present := a.body["refresh_token"]; present {
			t.Fatalf("refresh_token present: %s", a.raw)
		}
	}
	if got, ok := mp.Issued("rt-google"); !ok || got.RefreshToken != "" || got.AccessToken == "" {
		t.Errorf("Issued = %+v, %v", got, ok)
	}
}

func TestLatencyRespectsContext(t *testing.T) {
	t.Parallel()
	mp := mockprovider.New(mockprovider.Options{Latency: time.Hour})
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		mp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/token",
		strings.NewReader("grant_type=refresh_token&refresh_token=rt-l"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("expected a context error")
	}
	// Close blocks until the handler returns, which proves the hour-long
	// latency was cut short by the cancelled request.
	srv.Close()
	if mp.Calls() != 1 || mp.Successes() != 0 || mp.Held() != 0 {
		t.Errorf("calls=%d successes=%d held=%v", mp.Calls(), mp.Successes(), mp.Held())
	}
}

func TestHeldAddsUpLatency(t *testing.T) {
	t.Parallel()
	const latency = 5 * time.Millisecond
	mp, srv := start(t, mockprovider.Options{Latency: latency})
	for i := range 3 {
		if a := refresh(t, srv, fmt.Sprintf("rt-held-%d", i)); a.status != http.StatusOK {
			t.Fatalf("refresh %d: status %d", i, a.status)
		}
	}
	// A timer never fires early, so three answers held at least 3 × latency.
	if got := mp.Held(); got < 3*latency {
		t.Fatalf("Held() = %v, want at least %v", got, 3*latency)
	}
}

func TestConcurrentRotation(t *testing.T) {
	t.Parallel()
	// Latency widens the window in which all requests are in flight together.
	mp, srv := start(t, mockprovider.Options{Rotate: true, Latency: 10 * time.Millisecond})

	const n = 20
	var (
		wg       sync.WaitGroup
		statuses = make([]int, n)
	)
	for i := range n {
		wg.Go(func() {
			// t.Fatal is not allowed off the test goroutine, so errors are
			// reported and the status left at zero.
			resp, err := srv.Client().PostForm(srv.URL+"/token", url.Values{
				"grant_type": {"refresh_token"}, "refresh_token": {"rt-race"},
			})
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()

	ok, bad := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusBadRequest:
			bad++
		}
	}
	if ok != 1 || bad != n-1 {
		t.Fatalf("ok=%d invalid_grant=%d, want 1 and %d", ok, bad, n-1)
	}
	if mp.Successes() != 1 || mp.Reuses() != n-1 || mp.Calls() != n {
		t.Errorf("calls=%d successes=%d reuses=%d", mp.Calls(), mp.Successes(), mp.Reuses())
	}
}

func Example() {
	mp := mockprovider.New(mockprovider.Options{Rotate: true})
	srv := httptest.NewServer(mp)
	defer srv.Close()

	resp, err := http.PostForm(srv.URL+"/token", url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {"rt-demo-1"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var tok struct {
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		fmt.Println(err)
		return
	}

	issued, _ := mp.Issued("rt-demo-1")
	fmt.Println(resp.StatusCode, tok.ExpiresIn)
	fmt.Println("rotated:", tok.RefreshToken != "rt-demo-1")
	fmt.Println("matches Issued:", issued.RefreshToken == tok.RefreshToken)
	fmt.Println("is Current:", mp.Current("rt-demo-1") == tok.RefreshToken)
	// Output:
	// 200 3600
	// rotated: true
	// matches Issued: true
	// is Current: true
}
