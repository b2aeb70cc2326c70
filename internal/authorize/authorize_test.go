package authorize_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tokenwarden/tokenwarden/internal/authorize"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

const secret = "cs-SECRET-1"

type run struct {
	urls  chan string
	done  chan struct{}
	res   *authorize.Result
	err   error
	saved atomic.Int32
}

func template(t *testing.T, name string) provider.Template {
	t.Helper()
	tmpl, ok := provider.NewCatalogue().Lookup(name)
	if !ok {
		t.Fatalf("no template %s", name)
	}
	return tmpl
}

// start runs a flow against a mock provider with a free port; the URL to
// open arrives on r.urls.
func start(t *testing.T, mp *mockprovider.Server, mutate func(*authorize.Options)) *run {
	t.Helper()
	srv := httptest.NewServer(mp)
	t.Cleanup(srv.Close)
	opts := authorize.Options{
		Template: template(t, "oauth2"), AuthURL: srv.URL + "/authorize", TokenURL: srv.URL + "/token",
		ClientID: "cid", ClientSecret: secret, Scopes: "read write", Timeout: 10 * time.Second,
		HTTPClient: provider.NewHTTPClient(5*time.Second, 1),
	}
	if mutate != nil {
		mutate(&opts)
	}
	f, err := authorize.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{urls: make(chan string, 1), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.res, r.err = f.Run(t.Context(),
			func(u string) error { r.urls <- u; return nil },
			func(context.Context, *authorize.Result) error { r.saved.Add(1); return nil })
	}()
	return r
}

func (r *run) url(t *testing.T) *url.URL {
	t.Helper()
	select {
	case s := <-r.urls:
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	case <-r.done:
		t.Fatalf("Run ended before showing the URL: %v", r.err)
	}
	return nil
}

func (r *run) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestFlow(t *testing.T) {
	t.Parallel()
	mp := mockprovider.New(mockprovider.Options{Lifetime: 30 * time.Minute, ClientID: "cid", ClientSecret: secret})
	r := start(t, mp, nil)
	u := r.url(t)
	q := u.Query()
	redirect, _ := url.Parse(q.Get("redirect_uri"))
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || len(q.Get("state")) < 32 ||
		q.Get("scope") != "read write" || redirect.Hostname() != "127.0.0.1" || redirect.Port() == "0" || redirect.Path != "/callback" {
		t.Fatalf("authorization URL %s", u)
	}
	if strings.Contains(u.String(), secret) {
		t.Fatal("the authorization URL holds the client secret")
	}
	status, body := testutil.Browse(t, u.String())
	if status != http.StatusOK || !strings.Contains(body, "Authorized") {
		t.Fatalf("browser got %d %s", status, body)
	}
	r.wait(t)
	if r.err != nil {
		t.Fatal(r.err)
	}
	granted := mp.Authorized()
	if len(granted) != 1 || r.res.AccessToken != granted[0].AccessToken || r.res.RefreshToken != granted[0].RefreshToken {
		t.Fatalf("result %+v, issued %+v", r.res, granted)
	}
	if r.res.Expiry == nil || time.Until(*r.res.Expiry) < 29*time.Minute || time.Until(*r.res.Expiry) > 31*time.Minute {
		t.Errorf("expiry %v, want in 30m", r.res.Expiry)
	}
	if r.saved.Load() != 1 {
		t.Errorf("save called %d times", r.saved.Load())
	}
	// The callback server is gone.
	if _, err := http.Get("http://" + redirect.Host + "/callback"); err == nil {
		t.Error("the callback server still answers")
	}
}

func TestWrongStateIsRefused(t *testing.T) {
	t.Parallel()
	mp := mockprovider.New(mockprovider.Options{})
	r := start(t, mp, nil)
	redirect := r.url(t).Query().Get("redirect_uri")
	status, body := testutil.Browse(t, redirect+"?code=stolen&state=forged")
	if status != http.StatusBadRequest || !strings.Contains(body, "state") {
		t.Errorf("browser got %d %s", status, body)
	}
	r.wait(t)
	if r.err == nil || !strings.Contains(r.err.Error(), "state does not match") || r.saved.Load() != 0 || mp.Calls() != 0 {
		t.Fatalf("err %v, saved %d, token calls %d", r.err, r.saved.Load(), mp.Calls())
	}
}

func TestAccessDenied(t *testing.T) {
	t.Parallel()
	mp := mockprovider.New(mockprovider.Options{})
	mp.DenyAuthorization(true)
	r := start(t, mp, nil)
	status, body := testutil.Browse(t, r.url(t).String())
	if status != http.StatusOK || !strings.Contains(body, "access_denied") {
		t.Errorf("browser got %d %s", status, body)
	}
	r.wait(t)
	if r.err == nil || !strings.Contains(r.err.Error(), "access_denied") || r.saved.Load() != 0 {
		t.Fatalf("err %v, saved %d", r.err, r.saved.Load())
	}
}

func TestExchangeRefusedWithoutSecrets(t *testing.T) {
	t.Parallel()
	// The provider knows another secret: invalid_client.
	mp := mockprovider.New(mockprovider.Options{ClientID: "cid", ClientSecret: "other"})
	r := start(t, mp, nil)
	status, _ := testutil.Browse(t, r.url(t).String())
	r.wait(t)
	if status != http.StatusBadGateway || r.err == nil || !strings.Contains(r.err.Error(), "invalid_client") {
		t.Fatalf("status %d, err %v", status, r.err)
	}
	if strings.Contains(r.err.Error(), secret) {
		t.Fatalf("error repeats the secret: %v", r.err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	r := start(t, mockprovider.New(mockprovider.Options{}), func(o *authorize.Options) { o.Timeout = 50 * time.Millisecond })
	r.url(t)
	r.wait(t)
	if !errors.Is(r.err, context.DeadlineExceeded) || !strings.Contains(r.err.Error(), "no redirect") {
		t.Fatalf("err %v", r.err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	base := func() authorize.Options {
		return authorize.Options{Template: template(t, "xero"), ClientID: "cid", ClientSecret: secret}
	}
	if _, err := authorize.New(base()); err != nil {
		t.Fatalf("xero: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*authorize.Options)
		want   string
		// setting, when set, is what the SettingError names.
		setting string
	}{
		{"no auth URL", func(o *authorize.Options) { o.Template = template(t, "oauth2"); o.TokenURL = "https://x/token" }, "no authorization URL", authorize.SettingAuthURL},
		{"no token URL", func(o *authorize.Options) { o.Template = template(t, "oauth2"); o.AuthURL = "https://x/auth" }, "no token URL", authorize.SettingTokenURL},
		{"service app", func(o *authorize.Options) { o.Template = template(t, "webex_service_app") }, "exchange", ""},
		{"json", func(o *authorize.Options) { o.Template = template(t, "quartile") }, "JSON", ""},
		{"no secret", func(o *authorize.Options) { o.ClientSecret = "" }, "client secret", authorize.SettingClientSecret},
		{"no client", func(o *authorize.Options) { o.ClientID = "" }, "client ID", authorize.SettingClientID},
		{"bad URL", func(o *authorize.Options) { o.AuthURL = "ftp://x" }, "http(s)", authorize.SettingAuthURL},
		{"missing param", func(o *authorize.Options) {
			o.Template = template(t, "microsoft")
			o.Template.Params = nil
		}, "tenant", ""},
		{"bad lifetime", func(o *authorize.Options) { o.Params = map[string]string{"lifetime": "-1h"} }, "lifetime", ""},
	} {
		o := base()
		tc.mutate(&o)
		_, err := authorize.New(o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to mention %q", tc.name, err, tc.want)
			continue
		}
		// Both front ends say how to give the setting: the error names it
		// and says nothing of flags, which the console does not have.
		se, ok := errors.AsType[*authorize.SettingError](err)
		if tc.setting != "" && (!ok || se.Setting != tc.setting) {
			t.Errorf("%s: err %v names setting %v, want %s", tc.name, err, se, tc.setting)
		}
		if strings.Contains(err.Error(), "--") {
			t.Errorf("%s: err %q names a flag", tc.name, err)
		}
	}
	// A public client (auth none) needs no secret.
	o := base()
	o.AuthStyle, o.ClientSecret = "none", ""
	if _, err := authorize.New(o); err != nil {
		t.Errorf("auth none: %v", err)
	}
}

// echoingServer is an authorization server that approves at once, with code,
// and whose token endpoint answers token.
func echoingServer(t *testing.T, code string, token http.HandlerFunc) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("/token", token)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// A token endpoint that echoes the code in a long description must not get
// any part of it, or of the client secret, into the error: the text is
// scrubbed before it is cut, so a secret straddling the cut is found whole.
func TestExchangeErrorScrubsBeforeItCuts(t *testing.T) {
	t.Parallel()
	code := "code-SECRET-" + strings.Repeat("0123456789abcdef", 4)
	for _, at := range []int{0, 120, 150, 180, 195} {
		srv := echoingServer(t, code, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			desc := strings.Repeat("x", at) + r.PostFormValue("code") + " from client " + r.PostFormValue("client_secret") + " was refused"
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": desc})
		})
		r := start(t, mockprovider.New(mockprovider.Options{}), func(o *authorize.Options) {
			o.AuthURL, o.TokenURL, o.AuthStyle = srv.URL+"/authorize", srv.URL+"/token", "post"
		})
		testutil.Browse(t, r.url(t).String())
		r.wait(t)
		if r.err == nil || !strings.Contains(r.err.Error(), "invalid_grant") {
			t.Fatalf("code echoed at %d: err %v, want the provider's refusal", at, r.err)
		}
		if leak := testutil.Leaked(r.err.Error(), testutil.SecretForms("cid", secret, code)); leak != "" {
			t.Fatalf("code echoed at %d: the error keeps %q of a secret: %v", at, leak, r.err)
		}
	}
}

// What the provider or the browser puts in the redirect reaches the
// terminal as one line of valid UTF-8, without control characters, however
// long it is.
func TestRedirectErrorIsOneCleanLine(t *testing.T) {
	t.Parallel()
	r := start(t, mockprovider.New(mockprovider.Options{}), nil)
	u := r.url(t)
	desc := "denied\u009b31m\x1b[0m\r\nbye " + strings.Repeat("é", 150) // the cut falls inside a character
	q := url.Values{"state": {u.Query().Get("state")}, "error": {"access_denied"}, "error_description": {desc}}
	testutil.Browse(t, u.Query().Get("redirect_uri")+"?"+q.Encode())
	r.wait(t)
	if r.err == nil || !strings.Contains(r.err.Error(), "access_denied: denied 31m [0m bye é") {
		t.Fatalf("err %v", r.err)
	}
	if msg := r.err.Error(); !utf8.ValidString(msg) || strings.IndexFunc(msg, unicode.IsControl) >= 0 || len(msg) > 400 {
		t.Fatalf("not one clean bounded line: %q", msg)
	}
}

// Start and Finish are the flow for a server's own callback: the consent
// URL carries the state and an S256 challenge for the given redirect URI,
// and the callback's code is exchanged with Start's verifier; a wrong
// verifier or a refusal is an *Error with the status a page answers.
func TestStartAndFinishForAServersCallback(t *testing.T) {
	t.Parallel()
	mp := mockprovider.New(mockprovider.Options{Lifetime: 30 * time.Minute, ClientID: "cid", ClientSecret: secret})
	srv := httptest.NewServer(mp)
	t.Cleanup(srv.Close)
	f, err := authorize.New(authorize.Options{Template: template(t, "oauth2"), AuthURL: srv.URL + "/authorize",
		TokenURL: srv.URL + "/token", ClientID: "cid", ClientSecret: secret, HTTPClient: provider.NewHTTPClient(5*time.Second, 1)})
	if err != nil {
		t.Fatal(err)
	}
	const redirect = "https://tw.example/oauth/callback"
	consent := func(p *authorize.Pending) url.Values {
		t.Helper()
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Get(p.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || !strings.HasPrefix(loc.String(), redirect+"?") {
			t.Fatalf("redirected to %q", resp.Header.Get("Location"))
		}
		return loc.Query()
	}

	p := f.Start(redirect)
	u, _ := url.Parse(p.URL)
	if q := u.Query(); q.Get("redirect_uri") != redirect || q.Get("state") != p.State || q.Get("code_challenge_method") != "S256" ||
		strings.Contains(p.URL, p.Verifier) || strings.Contains(p.URL, secret) {
		t.Fatalf("consent URL %s", p.URL)
	}
	if other := f.Start(redirect); other.State == p.State || other.Verifier == p.Verifier {
		t.Fatal("two starts share a state or a verifier")
	}
	q := consent(p)
	if q.Get("state") != p.State {
		t.Fatalf("the callback's state %q", q.Get("state"))
	}
	res, err := f.Finish(t.Context(), q, p.Verifier, redirect)
	if err != nil {
		t.Fatal(err)
	}
	if granted := mp.Authorized(); len(granted) != 1 || res.AccessToken != granted[0].AccessToken || res.RefreshToken != granted[0].RefreshToken {
		t.Fatalf("result %+v, issued %+v", res, mp.Authorized())
	}

	p = f.Start(redirect)
	q = consent(p)
	_, err = f.Finish(t.Context(), q, "a-verifier-that-is-not-the-one-the-challenge-was-made-of-0123456789", redirect)
	if authorize.StatusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("a wrong verifier: %d %v", authorize.StatusOf(err), err)
	}
	if leak := testutil.Leaked(err.Error(), testutil.SecretForms("cid", secret, q.Get("code"))); leak != "" {
		t.Fatalf("the error holds %q", leak)
	}
	_, err = f.Finish(t.Context(), url.Values{"state": {p.State}, "error": {"access_denied"}}, p.Verifier, redirect)
	if authorize.StatusOf(err) != http.StatusOK || !strings.Contains(err.Error(), "access_denied") {
		t.Fatalf("a refusal: %d %v", authorize.StatusOf(err), err)
	}
	if _, err := f.Finish(t.Context(), url.Values{"state": {p.State}}, p.Verifier, redirect); authorize.StatusOf(err) != http.StatusBadRequest {
		t.Fatalf("no code: %v", err)
	}
}
