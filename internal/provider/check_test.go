package provider

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// seenRequest is what the validation endpoint received.
type seenRequest struct {
	method, host, path, auth, contentType string
	form                                  url.Values
}

// checkFake answers validation requests. Its client sends every request,
// whatever its host, to the fake, so the catalogue's real validation URLs
// are exercised; the original host is kept in the Host header.
type checkFake struct {
	mu     sync.Mutex
	seen   []seenRequest
	answer impReply
	srv    *httptest.Server
}

func newCheckFake(t *testing.T, answer impReply) *checkFake {
	t.Helper()
	f := &checkFake{answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		f.mu.Lock()
		f.seen = append(f.seen, seenRequest{method: r.Method, host: r.Host, path: r.URL.Path,
			auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type"), form: form})
		f.mu.Unlock()
		f.answer.write(w)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// refresher returns a Refresher whose client reaches only the fake.
func (f *checkFake) refresher() *Refresher {
	target, _ := url.Parse(f.srv.URL)
	client := NewHTTPClient(5*time.Second, 4)
	base := client.Transport
	client.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Host = r.URL.Host
		r.URL.Scheme, r.URL.Host = target.Scheme, target.Host
		return base.RoundTrip(r)
	})
	return NewRefresher(NewCatalogue(), client, nil)
}

func (f *checkFake) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// checkConn is a connection of provider whose access token is checkToken.
func checkConn(provider string) Request {
	return Request{Provider: provider, ClientID: "cid", ClientSecret: impClientSecret, RefreshToken: impRefreshToken}
}

const checkToken = "at-SECRET"

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		provider string
		answer   impReply
		accepted bool
		want     seenRequest // form: the fields a form-borne token needs
	}{
		{"hubspot accepted", "hubspot", impReply{200, `{"portalId":62515,"timeZone":"US/Eastern"}`, nil}, true,
			seenRequest{method: "GET", host: "api.hubapi.com", path: "/account-info/v3/details", auth: "Bearer at-SECRET"}},
		{"xero refused", "xero", impReply{401, `{"Type":null,"Title":"Unauthorized","Status":401,"Detail":"TokenExpired: token expired"}`, nil}, false,
			seenRequest{method: "GET", host: "api.xero.com", path: "/connections", auth: "Bearer at-SECRET"}},
		{"microsoft forbidden", "microsoft", impReply{403, `{"error":{"code":"Authorization_RequestDenied"}}`, nil}, false,
			seenRequest{method: "GET", host: "graph.microsoft.com", path: "/v1.0/me", auth: "Bearer at-SECRET"}},
		{"slack accepted", "slack", impReply{200, `{"ok":true,"url":"https://acme.slack.com/","team":"Acme","user_id":"U1"}`, nil}, true,
			seenRequest{method: "POST", host: "slack.com", path: "/api/auth.test", auth: "Bearer at-SECRET"}},
		{"slack 200 ok:false refused", "slack", impReply{200, `{"ok":false,"error":"invalid_auth"}`, nil}, false,
			seenRequest{method: "POST", host: "slack.com", path: "/api/auth.test", auth: "Bearer at-SECRET"}},
		{"google token in the form", "google", impReply{200, `{"azp":"cid","aud":"cid","scope":"openid","exp":"1700003600","expires_in":"3599"}`, nil}, true,
			seenRequest{method: "POST", host: "oauth2.googleapis.com", path: "/tokeninfo", contentType: "application/x-www-form-urlencoded",
				form: url.Values{"access_token": {"at-SECRET"}}}},
		{"bigquery alias refused", "bigquery", impReply{400, `{"error":"invalid_token","error_description":"Invalid Value"}`, nil}, false,
			seenRequest{method: "POST", host: "oauth2.googleapis.com", path: "/tokeninfo", contentType: "application/x-www-form-urlencoded",
				form: url.Values{"access_token": {"at-SECRET"}}}},
		{"dropbox POST", "dropbox", impReply{200, `{"account_id":"dbid:1"}`, nil}, true,
			seenRequest{method: "POST", host: "api.dropboxapi.com", path: "/2/users/get_current_account", auth: "Bearer at-SECRET"}},
		{"webex service app", "webex_service_app", impReply{200, `{"items":[]}`, nil}, true,
			seenRequest{method: "GET", host: "webexapis.com", path: "/v1/dataSources", auth: "Bearer at-SECRET"}},
		{"redirect is not acceptance", "github", impReply{302, "", []string{"Location", "https://elsewhere.example/"}}, false,
			seenRequest{method: "GET", host: "api.github.com", path: "/user", auth: "Bearer at-SECRET"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newCheckFake(t, tc.answer)
			res, err := f.refresher().Check(t.Context(), checkConn(tc.provider), checkToken, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != tc.accepted || res.Status != tc.answer.status {
				t.Fatalf("result %+v, want accepted=%v status %d", res, tc.accepted, tc.answer.status)
			}
			seen := f.requests()
			if len(seen) != 1 {
				t.Fatalf("%d validation requests, want 1", len(seen))
			}
			got := seen[0]
			if got.method != tc.want.method || got.host != tc.want.host || got.path != tc.want.path || got.auth != tc.want.auth {
				t.Fatalf("request %s %s%s auth %q; want %s %s%s auth %q", got.method, got.host, got.path, got.auth,
					tc.want.method, tc.want.host, tc.want.path, tc.want.auth)
			}
			if tc.want.form != nil {
				if got.contentType != tc.want.contentType || got.form.Get("access_token") != tc.want.form.Get("access_token") {
					t.Fatalf("form request: content type %q, form %v", got.contentType, got.form)
				}
			} else if len(got.form) != 0 && got.form.Get("access_token") != "" {
				t.Fatalf("the token went in the body as well: %v", got.form)
			}
		})
	}
}

// Salesforce's validation URL lives on the connection's own instance,
// which the refresh stored in json_data.
func TestCheckSalesforceInstanceURL(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var path, auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		path, auth = r.URL.Path, r.Header.Get("Authorization")
		mu.Unlock()
		impReply{200, `{"sub":"https://login.salesforce.com/id/00D/005","user_id":"005"}`, nil}.write(w)
	}))
	t.Cleanup(srv.Close)
	conn := checkConn("salesforce")
	data := json.RawMessage(`{"instance_url":"` + srv.URL + `","issued_at":"1700000000000","token_type":"Bearer"}`)
	res, err := NewRefresher(NewCatalogue(), NewHTTPClient(5*time.Second, 4), nil).Check(t.Context(), conn, checkToken, data)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !res.Accepted || res.URL != srv.URL+"/services/oauth2/userinfo" || path != "/services/oauth2/userinfo" || auth != "Bearer at-SECRET" {
		t.Fatalf("result %+v, request path %q auth %q", res, path, auth)
	}

	// Without an instance_url there is nowhere to ask: a configuration error.
	data = json.RawMessage(`{"token_type":"Bearer"}`)
	_, err = NewRefresher(NewCatalogue(), NewHTTPClient(5*time.Second, 4), nil).Check(t.Context(), conn, checkToken, data)
	var pe *Error
	if !errors.As(err, &pe) || !pe.Reauth {
		t.Fatalf("got %v, want a configuration error", err)
	}
}

func TestCheckWithoutValidation(t *testing.T) {
	t.Parallel()
	f := newCheckFake(t, impReply{200, `{}`, nil})
	for _, p := range []string{"oauth2", "mailchimp", "quickbooks", "quartile"} {
		if _, err := f.refresher().Check(t.Context(), checkConn(p), checkToken, nil); !errors.Is(err, ErrNoValidation) {
			t.Errorf("%s: %v, want ErrNoValidation", p, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests sent for providers without validation", n)
	}
}

func TestCheckErrors(t *testing.T) {
	t.Parallel()
	f := newCheckFake(t, impReply{200, `{}`, nil})
	if _, err := f.refresher().Check(t.Context(), checkConn("hubspot"), "", nil); err == nil {
		t.Error("a connection without an access token was checked")
	}
	if _, err := f.refresher().Check(t.Context(), checkConn("nope"), checkToken, nil); err == nil {
		t.Error("an unknown provider was checked")
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}

	// A provider that is unreachable: a transport error naming neither the
	// token nor the URL's query.
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	data := json.RawMessage(`{"instance_url":"` + srv.URL + `"}`)
	_, err := NewRefresher(NewCatalogue(), NewHTTPClient(5*time.Second, 4), nil).Check(t.Context(), checkConn("salesforce"), checkToken, data)
	var pe *Error
	if !errors.As(err, &pe) || pe.Reauth {
		t.Fatalf("got %v, want a transient *Error", err)
	}
	assertNoSecrets(t, err.Error(), "at-SECRET")
}
