package mockprovider_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
)

const callback = "http://127.0.0.1:9/callback"

// authorize sends GET /authorize with q (plus defaults) without following
// the redirect, and returns the status and the redirect's query.
func authorize(t *testing.T, srv *httptest.Server, q url.Values) (int, url.Values) {
	t.Helper()
	def := url.Values{
		"response_type": {"code"}, "client_id": {"cid"}, "redirect_uri": {callback}, "state": {"st-1"},
		"code_challenge_method": {"S256"},
	}
	for k, v := range def {
		if _, set := q[k]; !set {
			q[k] = v
		}
	}
	for k, v := range q {
		if len(v) == 1 && v[0] == "-" {
			delete(q, k)
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/authorize?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return redirectBack(t, srv, req)
}

// redirectBack sends req without following a redirect, and returns the
// status and, for a redirect, its query, checking that it goes back to
// the callback.
func redirectBack(t *testing.T, srv *httptest.Server, req *http.Request) (int, url.Values) {
	t.Helper()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return resp.StatusCode, nil
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != callback {
		t.Fatalf("redirected to %s, want %s", got, callback)
	}
	return resp.StatusCode, loc.Query()
}

func redeem(t *testing.T, srv *httptest.Server, code, verifier string) answer {
	t.Helper()
	return post(t, srv, reqOpts{form: url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback},
		"client_id": {"cid"}, "code_verifier": {verifier},
	}})
}

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{Rotate: true})
	verifier := oauth2.GenerateVerifier()

	status, q := authorize(t, srv, url.Values{
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "scope": {"read write"},
	})
	if status != http.StatusFound || q.Get("state") != "st-1" || q.Get("code") == "" || q.Get("error") != "" {
		t.Fatalf("authorize: %d %v", status, q)
	}
	a := redeem(t, srv, q.Get("code"), verifier)
	if a.status != http.StatusOK || a.str("access_token") == "" || a.str("refresh_token") == "" ||
		a.str("scope") != "read write" || a.body["expires_in"] != float64(3600) {
		t.Fatalf("exchange: %d %s", a.status, a.raw)
	}
	granted := mp.Authorized()
	want := mockprovider.Issued{AccessToken: a.str("access_token"), RefreshToken: a.str("refresh_token"), ExpiresIn: 3600}
	if len(granted) != 1 || granted[0] != want {
		t.Fatalf("Authorized() = %+v, want [%+v]", granted, want)
	}
	if mp.Current(a.str("refresh_token")) != a.str("refresh_token") {
		t.Errorf("the issued refresh token does not start a family")
	}
	// The access token is accepted as an API accepts it.
	if code := validate(t, srv, a.str("access_token")); code != http.StatusOK {
		t.Errorf("GET /userinfo with the issued access token: %d, want 200", code)
	}

	// The refresh token works like any other.
	if r := refresh(t, srv, a.str("refresh_token")); r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	// The code is single-use, and presenting it again revokes its tokens.
	wantError(t, redeem(t, srv, q.Get("code"), verifier), http.StatusBadRequest, "invalid_grant")
	wantError(t, refresh(t, srv, mp.Current(a.str("refresh_token"))), http.StatusBadRequest, "invalid_grant")
	if len(mp.Authorized()) != 1 {
		t.Errorf("a reused code issued tokens")
	}
}

func TestAuthorizationCodeRefusals(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{})
	verifier := oauth2.GenerateVerifier()
	challenge := oauth2.S256ChallengeFromVerifier(verifier)
	code := func() string {
		t.Helper()
		status, q := authorize(t, srv, url.Values{"code_challenge": {challenge}})
		if status != http.StatusFound || q.Get("code") == "" {
			t.Fatalf("authorize: %d %v", status, q)
		}
		return q.Get("code")
	}

	// Errors that go back to the client carry the state.
	for _, tc := range []struct {
		name string
		q    url.Values
		want string
	}{
		{"no PKCE", url.Values{"code_challenge": {"-"}}, "invalid_request"},
		{"plain PKCE", url.Values{"code_challenge": {challenge}, "code_challenge_method": {"plain"}}, "invalid_request"},
		{"implicit", url.Values{"code_challenge": {challenge}, "response_type": {"token"}}, "unsupported_response_type"},
	} {
		status, q := authorize(t, srv, tc.q)
		if status != http.StatusFound || q.Get("error") != tc.want || q.Get("state") != "st-1" || q.Get("code") != "" {
			t.Errorf("%s: %d %v, want error %s", tc.name, status, q, tc.want)
		}
	}
	mp.DenyAuthorization(true)
	if status, q := authorize(t, srv, url.Values{"code_challenge": {challenge}}); q.Get("error") != "access_denied" || q.Get("code") != "" {
		t.Errorf("denied: %d %v", status, q)
	}
	mp.DenyAuthorization(false)
	// A bad redirect URI is never redirected to.
	if status, _ := authorize(t, srv, url.Values{"code_challenge": {challenge}, "redirect_uri": {"not a url"}}); status != http.StatusBadRequest {
		t.Errorf("bad redirect_uri: %d", status)
	}

	wantError(t, redeem(t, srv, code(), "wrong-verifier-0123456789012345678901234567890123"), http.StatusBadRequest, "invalid_grant")
	wantError(t, redeem(t, srv, code(), ""), http.StatusBadRequest, "invalid_grant")
	wantError(t, redeem(t, srv, "code-unknown", verifier), http.StatusBadRequest, "invalid_grant")
	wantError(t, post(t, srv, reqOpts{form: url.Values{
		"grant_type": {"authorization_code"}, "code": {code()}, "redirect_uri": {"http://127.0.0.1:10/callback"},
		"client_id": {"cid"}, "code_verifier": {verifier},
	}}), http.StatusBadRequest, "invalid_grant")
	wantError(t, post(t, srv, reqOpts{form: url.Values{
		"grant_type": {"authorization_code"}, "code": {code()}, "redirect_uri": {callback},
		"client_id": {"other"}, "code_verifier": {verifier},
	}}), http.StatusBadRequest, "invalid_grant")
	if len(mp.Authorized()) != 0 || mp.Successes() != 0 {
		t.Errorf("refused exchanges issued tokens: %+v", mp.Authorized())
	}
}

func TestAuthorizationCodeClientAuthentication(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{ClientID: "cid", ClientSecret: "cs-1"})
	verifier := oauth2.GenerateVerifier()
	challenge := oauth2.S256ChallengeFromVerifier(verifier)
	if status, _ := authorize(t, srv, url.Values{"code_challenge": {challenge}, "client_id": {"other"}}); status != http.StatusBadRequest {
		t.Errorf("unknown client: %d, want 400 without a redirect", status)
	}
	_, q := authorize(t, srv, url.Values{"code_challenge": {challenge}})
	form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {callback}, "code_verifier": {verifier}}
	wantError(t, post(t, srv, reqOpts{form: form, basicID: "cid", basicSecret: "wrong"}), http.StatusUnauthorized, "invalid_client")
	_, q = authorize(t, srv, url.Values{"code_challenge": {challenge}})
	form.Set("code", q.Get("code"))
	if a := post(t, srv, reqOpts{form: form, basicID: "cid", basicSecret: "cs-1"}); a.status != http.StatusOK {
		t.Fatalf("exchange with Basic: %d %s", a.status, a.raw)
	}
	if len(mp.Authorized()) != 1 {
		t.Errorf("Authorized() = %+v", mp.Authorized())
	}
}

// validate asks the server's validation endpoint about an access token and
// returns the status.
func validate(t *testing.T, srv *httptest.Server, accessToken string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
