package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// The secrets every imitation's connection carries. An error text must
// never repeat them, even when the provider echoes them back.
const (
	impClientSecret = "cs-SECRET"
	impRefreshToken = "rt-SECRET"
)

// impReply is one answer of an imitated token endpoint.
type impReply struct {
	status int
	body   string
	header []string // name, value pairs; Content-Type defaults to JSON
}

func (r impReply) write(w http.ResponseWriter) {
	for i := 0; i+1 < len(r.header); i += 2 {
		w.Header().Set(r.header[i], r.header[i+1])
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(r.status)
	io.WriteString(w, r.body)
}

// impWant is what Refresh must make of a reply.
type impWant struct {
	// Success.
	access        string
	rotated       string        // Result.RefreshToken; "" when the provider did not rotate
	expiry        time.Duration // 0: Expiry nil (never expires)
	refreshExpiry time.Duration // 0: RefreshExpiry nil
	jsonData      map[string]any
	// Failure.
	fail       bool
	reauth     bool
	code       string
	retryAfter time.Duration
}

type impCase struct {
	name   string
	params string // the connection's params; the imitation's own when empty
	reply  impReply
	// replyFor, when set, builds the reply from the request (GitHub
	// answers in the format the request accepts).
	replyFor func(*http.Request) impReply
	want     impWant
}

// imitation is one provider's token endpoint as its documentation
// describes it: it refuses a request that does not arrive as the provider
// requires, and answers in the provider's own shape.
type imitation struct {
	providers []string // connection providers (a name and its aliases)
	auth      string   // basic, post or none
	json      bool     // JSON request body instead of a form
	scope     string   // the connection's scopes, which must be re-sent when set
	tokenPath string   // path of the connection's token_url (may hold {placeholders})
	servePath string   // path the request must arrive at
	params    string
	cases     []impCase
}

// check returns why the provider would refuse the request, or "".
func (im imitation) check(r *http.Request) string {
	if r.Method != http.MethodPost {
		return "method " + r.Method
	}
	if r.URL.Path != im.servePath {
		return "path " + r.URL.Path
	}
	if a := r.Header.Get("Accept"); a != "application/json" {
		return "Accept " + a
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err.Error()
	}
	fields := map[string]string{}
	if im.json {
		if ct != "application/json" {
			return "content type " + ct
		}
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			return "body is not JSON: " + err.Error()
		}
		for k, v := range obj {
			s, ok := v.(string)
			if !ok {
				return "non-string field " + k
			}
			fields[k] = s
		}
		for _, noise := range []string{"grant_type", "client_secret"} {
			if _, ok := obj[noise]; ok {
				return "unexpected field " + noise
			}
		}
	} else {
		if ct != "application/x-www-form-urlencoded" {
			return "content type " + ct
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return err.Error()
		}
		for k, v := range form {
			if len(v) != 1 {
				return "repeated field " + k
			}
			fields[k] = v[0]
		}
		if fields["grant_type"] != "refresh_token" {
			return "grant_type " + fields["grant_type"]
		}
	}
	if fields["refresh_token"] != impRefreshToken {
		return "refresh_token " + fields["refresh_token"]
	}
	user, pass, basic := r.BasicAuth()
	switch im.auth {
	case "basic":
		if !basic || user != "cid" || pass != impClientSecret {
			return "no Basic client authentication"
		}
		if _, ok := fields["client_secret"]; ok {
			return "client_secret in the body as well as in Basic"
		}
	case "post":
		if r.Header.Get("Authorization") != "" {
			return "Authorization header on a body-authenticated endpoint"
		}
		if fields["client_id"] != "cid" || fields["client_secret"] != impClientSecret {
			return "no client credentials in the body"
		}
	case "none":
		if r.Header.Get("Authorization") != "" {
			return "Authorization header on an unauthenticated endpoint"
		}
		if _, ok := fields["client_secret"]; ok {
			return "client_secret sent"
		}
	}
	if im.scope != "" && fields["scope"] != im.scope {
		return fmt.Sprintf("scope %q, want %q", fields["scope"], im.scope)
	}
	return ""
}

func imitations() []imitation {
	invalidGrant := impReply{400, `{"error":"invalid_grant","error_description":"refresh token rt-SECRET is invalid or revoked"}`, nil}
	return []imitation{
		{
			providers: []string{"oauth2"}, auth: "basic", tokenPath: "/oauth/token", servePath: "/oauth/token",
			cases: []impCase{
				{name: "success", reply: impReply{200, `{"access_token":"at-new","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-new","scope":"read write"}`, nil},
					want: impWant{access: "at-new", rotated: "rt-new", expiry: time.Hour, jsonData: map[string]any{"scope": "read write", "token_type": "Bearer"}}},
				{name: "dead", reply: invalidGrant, want: impWant{fail: true, reauth: true, code: "invalid_grant"}},
				{name: "transient", reply: impReply{503, `{"error":"temporarily_unavailable"}`, nil}, want: impWant{fail: true}},
			},
		},
		{
			providers: []string{"salesforce"}, auth: "post", tokenPath: "/services/oauth2/token", servePath: "/services/oauth2/token",
			cases: []impCase{
				{name: "success", reply: salesforceOK,
					want: impWant{access: "00Dxx!AQ0AQ.at", expiry: 2 * time.Hour, jsonData: salesforceKept}},
				{name: "success with lifetime param", params: `{"lifetime":"30m"}`, reply: salesforceOK,
					want: impWant{access: "00Dxx!AQ0AQ.at", expiry: 30 * time.Minute, jsonData: salesforceKept}},
				{name: "dead", reply: impReply{400, `{"error":"invalid_grant","error_description":"expired access/refresh token"}`, nil},
					want: impWant{fail: true, reauth: true, code: "invalid_grant"}},
				{name: "concurrent refresh", reply: impReply{400, `{"error":"invalid_grant","error_description":"token request is already being processed"}`, nil},
					want: impWant{fail: true, code: "invalid_grant"}},
				{name: "transient", reply: impReply{503, `[{"message":"Server temporarily unavailable","errorCode":"SERVER_UNAVAILABLE"}]`, nil}, want: impWant{fail: true}},
			},
		},
		{
			providers: []string{"hubspot"}, auth: "post", tokenPath: "/oauth/v1/token", servePath: "/oauth/v1/token",
			cases: []impCase{
				{name: "success", reply: impReply{200, `{"token_type":"bearer","refresh_token":"rt-SECRET","access_token":"CJSP5qf1Ki","expires_in":1800}`, nil},
					want: impWant{access: "CJSP5qf1Ki", expiry: 30 * time.Minute, jsonData: map[string]any{"token_type": "bearer"}}},
				{name: "dead", reply: impReply{400, `{"status":"BAD_REFRESH_TOKEN","message":"missing or unknown refresh token rt-SECRET","correlationId":"a7c7d4c4-4c4b","policyName":"BAD_REFRESH_TOKEN"}`, nil},
					want: impWant{fail: true, reauth: true, code: "BAD_REFRESH_TOKEN"}},
				{name: "rate limited", reply: impReply{429, `{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","correlationId":"x","policyName":"SECONDLY"}`, []string{"Retry-After", "1"}},
					want: impWant{fail: true, retryAfter: time.Second}},
			},
		},
		{
			providers: []string{"google", "google_analytics", "bigquery"}, auth: "post", tokenPath: "/token", servePath: "/token",
			cases: []impCase{
				{name: "success", reply: impReply{200, `{"access_token":"ya29.a0Af","expires_in":3599,"scope":"https://www.googleapis.com/auth/bigquery","token_type":"Bearer"}`, nil},
					want: impWant{access: "ya29.a0Af", expiry: 3599 * time.Second, jsonData: map[string]any{"scope": "https://www.googleapis.com/auth/bigquery", "token_type": "Bearer"}}},
				{name: "time-limited refresh token", reply: impReply{200, `{"access_token":"ya29.a0Ag","expires_in":3599,"refresh_token_expires_in":604799,"token_type":"Bearer"}`, nil},
					want: impWant{access: "ya29.a0Ag", expiry: 3599 * time.Second, refreshExpiry: 604799 * time.Second, jsonData: map[string]any{"token_type": "Bearer"}}},
				{name: "dead (invalid_rapt)", reply: impReply{400, `{"error":"invalid_grant","error_description":"reauth related error (invalid_rapt)","error_uri":"https://support.google.com/a/answer/9368756","error_subtype":"invalid_rapt"}`, nil},
					want: impWant{fail: true, reauth: true, code: "invalid_grant"}},
				{name: "transient", reply: impReply{500, `{"error":"internal_failure","error_description":"Backend Error"}`, nil}, want: impWant{fail: true, code: "internal_failure"}},
			},
		},
		{
			providers: []string{"xero"}, auth: "basic", tokenPath: "/connect/token", servePath: "/connect/token",
			cases: []impCase{
				{name: "success", reply: impReply{200, `{"id_token":"eyJhbGciOi.id","access_token":"eyJhbGciOi.at","expires_in":1800,"token_type":"Bearer","refresh_token":"xero-rt-2","scope":"openid offline_access accounting.transactions"}`, nil},
					want: impWant{access: "eyJhbGciOi.at", rotated: "xero-rt-2", expiry: 30 * time.Minute, refreshExpiry: 60 * 24 * time.Hour,
						jsonData: map[string]any{"id_token": "eyJhbGciOi.id", "scope": "openid offline_access accounting.transactions", "token_type": "Bearer"}}},
				{name: "dead", reply: impReply{400, `{"error":"invalid_grant"}`, nil}, want: impWant{fail: true, reauth: true, code: "invalid_grant"}},
				{name: "rate limited", reply: impReply{429, `{"Title":"Too Many Requests"}`, []string{"Retry-After", "60"}}, want: impWant{fail: true, retryAfter: time.Minute}},
			},
		},
		{
			providers: []string{"microsoft"}, auth: "post", scope: "offline_access https://graph.microsoft.com/Mail.Read",
			tokenPath: "/{tenant}/oauth2/v2.0/token", servePath: "/contoso/oauth2/v2.0/token", params: `{"tenant":"contoso"}`,
			cases: []impCase{
				{name: "success", reply: impReply{200, `{"token_type":"Bearer","scope":"https://graph.microsoft.com/Mail.Read","expires_in":4763,"ext_expires_in":4763,"access_token":"eyJ0eXAi.at","refresh_token":"0.AAAA.rt2"}`, nil},
					want: impWant{access: "eyJ0eXAi.at", rotated: "0.AAAA.rt2", expiry: 4763 * time.Second,
						jsonData: map[string]any{"scope": "https://graph.microsoft.com/Mail.Read", "token_type": "Bearer", "ext_expires_in": float64(4763)}}},
				{name: "dead", reply: impReply{400, `{"error":"invalid_grant","error_description":"AADSTS70008: The provided authorization code or refresh token has expired due to inactivity. Trace ID: 1","error_codes":[70008],"timestamp":"2026-01-01 00:00:00Z","trace_id":"1","correlation_id":"2"}`, nil},
					want: impWant{fail: true, reauth: true, code: "invalid_grant"}},
				{name: "throttled", reply: impReply{429, `{"error":"temporarily_unavailable","error_description":"AADSTS50196: The server terminated an operation because it encountered a client request loop."}`, []string{"Retry-After", "30"}},
					want: impWant{fail: true, retryAfter: 30 * time.Second}},
			},
		},
		{
			providers: []string{"mailchimp"}, auth: "post", tokenPath: "/oauth2/token", servePath: "/oauth2/token",
			cases: []impCase{
				{name: "success never expires", reply: impReply{200, `{"access_token":"5c6ccc561059aa386da9d112215bae55","expires_in":0,"scope":null}`, nil},
					want: impWant{access: "5c6ccc561059aa386da9d112215bae55"}},
				{name: "dead", reply: impReply{400, `{"error":"invalid_grant","error_description":"Invalid authorization code"}`, nil}, want: impWant{fail: true, reauth: true, code: "invalid_grant"}},
				{name: "transient", reply: impReply{500, `{"error":"server_error"}`, nil}, want: impWant{fail: true}},
			},
		},
		{
			providers: []string{"webex"}, auth: "post", tokenPath: "/v1/access_token", servePath: "/v1/access_token",
			cases: []impCase{
				{name: "success", reply: impReply{200, `{"access_token":"ZDI3MGEyYzQtNmFl","expires_in":1209599,"refresh_token":"rt-SECRET","refresh_token_expires_in":7776000,"token_type":"Bearer"}`, nil},
					want: impWant{access: "ZDI3MGEyYzQtNmFl", expiry: 1209599 * time.Second, refreshExpiry: 7776000 * time.Second, jsonData: map[string]any{"token_type": "Bearer"}}},
				{name: "dead", reply: invalidGrant, want: impWant{fail: true, reauth: true, code: "invalid_grant"}},
				{name: "transient", reply: impReply{502, `{"message":"Bad Gateway","trackingId":"ROUTER_1"}`, nil}, want: impWant{fail: true}},
			},
		},
		{
			providers: []string{"quickbooks"}, auth: "basic", tokenPath: "/oauth2/v1/tokens/bearer", servePath: "/oauth2/v1/tokens/bearer",
			cases: []impCase{
				{name: "success", reply: impReply{200, `{"x_refresh_token_expires_in":8726400,"refresh_token":"AB11-rt-2","access_token":"eyJlbmMi.at","token_type":"bearer","expires_in":3600}`, nil},
					want: impWant{access: "eyJlbmMi.at", rotated: "AB11-rt-2", expiry: time.Hour, refreshExpiry: 8726400 * time.Second, jsonData: map[string]any{"token_type": "bearer"}}},
				{name: "dead", reply: impReply{400, `{"error":"invalid_grant"}`, nil}, want: impWant{fail: true, reauth: true, code: "invalid_grant"}},
				{name: "transient", reply: impReply{503, `{"error":"temporarily_unavailable"}`, nil}, want: impWant{fail: true}},
			},
		},
		{
			providers: []string{"zoom"}, auth: "basic", tokenPath: "/oauth/token", servePath: "/oauth/token",
			cases: []impCase{
				{name: "success", reply: impReply{200, `{"access_token":"eyJzdiI6.at","token_type":"bearer","refresh_token":"eyJzdiI6.rt2","expires_in":3599,"scope":"user:read:admin","api_url":"https://api.zoom.us"}`, nil},
					want: impWant{access: "eyJzdiI6.at", rotated: "eyJzdiI6.rt2", expiry: 3599 * time.Second,
						jsonData: map[string]any{"api_url": "https://api.zoom.us", "scope": "user:read:admin", "token_type": "bearer"}}},
				{name: "dead", reply: impReply{400, `{"reason":"Invalid Token!","error":"invalid_request"}`, nil}, want: impWant{fail: true, reauth: true, code: "invalid_request"}},
				{name: "rate limited", reply: impReply{429, `{"code":429,"message":"You have reached the maximum per-second rate limit."}`, nil}, want: impWant{fail: true}},
			},
		},
		{
			providers: []string{"dropbox"}, auth: "post", tokenPath: "/oauth2/token", servePath: "/oauth2/token",
			cases: []impCase{
				{name: "success", reply: impReply{200, `{"access_token":"sl.u.AbX9","token_type":"bearer","expires_in":14400}`, nil},
					want: impWant{access: "sl.u.AbX9", expiry: 4 * time.Hour, jsonData: map[string]any{"token_type": "bearer"}}},
				{name: "dead", reply: impReply{400, `{"error":"invalid_grant","error_description":"refresh token is invalid or revoked"}`, nil}, want: impWant{fail: true, reauth: true, code: "invalid_grant"}},
				{name: "rate limited", reply: impReply{429, `{"error_summary":"too_many_requests/","error":{".tag":"too_many_requests"}}`, []string{"Retry-After", "5"}},
					want: impWant{fail: true, retryAfter: 5 * time.Second}},
			},
		},
		{
			providers: []string{"slack"}, auth: "post", tokenPath: "/api/oauth.v2.access", servePath: "/api/oauth.v2.access",
			cases: []impCase{
				{name: "success", reply: impReply{200, `{"ok":true,"app_id":"A0KRD7HC3","authed_user":{"id":"U1234"},"scope":"chat:write","token_type":"bot","access_token":"xoxe.xoxp-1-Mi0y","bot_user_id":"U0KRQLJ9H","refresh_token":"xoxe-1-My0xLTI","expires_in":43200,"team":{"id":"T9TK3CUKW","name":"Slack Softball Team"},"enterprise":null,"is_enterprise_install":false}`, nil},
					want: impWant{access: "xoxe.xoxp-1-Mi0y", rotated: "xoxe-1-My0xLTI", expiry: 12 * time.Hour, jsonData: map[string]any{
						"app_id": "A0KRD7HC3", "bot_user_id": "U0KRQLJ9H", "scope": "chat:write", "token_type": "bot",
						"team": map[string]any{"id": "T9TK3CUKW", "name": "Slack Softball Team"}}}},
				{name: "dead", reply: impReply{200, `{"ok":false,"error":"invalid_refresh_token"}`, nil}, want: impWant{fail: true, reauth: true, code: "invalid_refresh_token"}},
				{name: "rate limited", reply: impReply{200, `{"ok":false,"error":"ratelimited"}`, nil}, want: impWant{fail: true, code: "ratelimited"}},
			},
		},
		{
			providers: []string{"zoho"}, auth: "post", tokenPath: "/oauth/v2/token", servePath: "/oauth/v2/token",
			cases: []impCase{
				{name: "success", reply: impReply{200, `{"access_token":"1000.2370ff","api_domain":"https://www.zohoapis.eu","token_type":"Bearer","expires_in":3600}`, nil},
					want: impWant{access: "1000.2370ff", expiry: time.Hour, jsonData: map[string]any{"api_domain": "https://www.zohoapis.eu", "token_type": "Bearer"}}},
				{name: "dead", reply: impReply{200, `{"error":"invalid_code"}`, nil}, want: impWant{fail: true, reauth: true, code: "invalid_code"}},
				{name: "transient", reply: impReply{503, `{"error":"internal_error"}`, nil}, want: impWant{fail: true, code: "internal_error"}},
			},
		},
		{
			providers: []string{"github"}, auth: "post", tokenPath: "/login/oauth/access_token", servePath: "/login/oauth/access_token",
			cases: []impCase{
				{name: "success", replyFor: githubAnswer,
					want: impWant{access: "ghu_16C7e42F", rotated: "ghr_1B4a2e77", expiry: 8 * time.Hour, refreshExpiry: 15811200 * time.Second, jsonData: map[string]any{"token_type": "bearer"}}},
				{name: "dead", reply: impReply{200, `{"error":"bad_refresh_token","error_description":"The refresh token passed is incorrect or expired.","error_uri":"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"}`, nil},
					want: impWant{fail: true, reauth: true, code: "bad_refresh_token"}},
				{name: "transient", reply: impReply{502, "<html>Unicorn!</html>", []string{"Content-Type", "text/html"}}, want: impWant{fail: true}},
			},
		},
		{
			providers: []string{"quartile"}, auth: "none", json: true, tokenPath: "/auth/v1/refresh-token", servePath: "/auth/v1/refresh-token",
			cases: []impCase{
				{name: "success", replyFor: func(*http.Request) impReply {
					now := time.Now().UTC()
					return impReply{201, fmt.Sprintf(`{"authorization":{"token":"q-at-2","expires_at":%q},"refresh":{"token":"q-rt-2","expires_at":%q}}`,
						now.Add(time.Hour).Format(time.RFC3339), now.Add(30*24*time.Hour).Format(time.RFC3339)), nil}
				}, want: impWant{access: "q-at-2", rotated: "q-rt-2", expiry: time.Hour, refreshExpiry: 30 * 24 * time.Hour, jsonData: map[string]any{"token_type": "Bearer"}}},
				{name: "dead", reply: invalidGrant, want: impWant{fail: true, reauth: true, code: "invalid_grant"}},
				{name: "transient", reply: impReply{500, `{"message":"Internal Server Error"}`, nil}, want: impWant{fail: true}},
			},
		},
	}
}

var salesforceOK = impReply{200, `{"access_token":"00Dxx!AQ0AQ.at","signature":"SSSbLO/gBhmmyNUvN18ODBDFYHzakxOMgqYtu+hDPsc=","scope":"refresh_token api","instance_url":"https://acme.my.salesforce.com","id":"https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS","token_type":"Bearer","issued_at":"1700000000000"}`, nil}

var salesforceKept = map[string]any{
	"instance_url": "https://acme.my.salesforce.com",
	"issued_at":    "1700000000000",
	"id":           "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS",
	"signature":    "SSSbLO/gBhmmyNUvN18ODBDFYHzakxOMgqYtu+hDPsc=",
	"scope":        "refresh_token api",
	"token_type":   "Bearer",
}

// githubAnswer is GitHub's token endpoint: JSON only when asked for it,
// otherwise a form-encoded body.
func githubAnswer(r *http.Request) impReply {
	if r.Header.Get("Accept") == "application/json" {
		return impReply{200, `{"access_token":"ghu_16C7e42F","expires_in":28800,"refresh_token":"ghr_1B4a2e77","refresh_token_expires_in":15811200,"scope":"","token_type":"bearer"}`, nil}
	}
	return impReply{200, "access_token=ghu_16C7e42F&expires_in=28800&refresh_token=ghr_1B4a2e77&refresh_token_expires_in=15811200&scope=&token_type=bearer",
		[]string{"Content-Type", "application/x-www-form-urlencoded"}}
}

func TestProviderImitations(t *testing.T) {
	t.Parallel()
	for _, im := range imitations() {
		// Every provider must also survive a proxy's error page.
		cases := append(im.cases, impCase{name: "proxy 503",
			reply: impReply{503, "<html><body>Service Unavailable</body></html>", []string{"Content-Type", "text/html"}}, want: impWant{fail: true}})
		for _, p := range im.providers {
			for _, tc := range cases {
				t.Run(p+"/"+tc.name, func(t *testing.T) {
					t.Parallel()
					var calls atomic.Int32
					srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						calls.Add(1)
						if why := im.check(r); why != "" {
							t.Errorf("%s would refuse the request: %s", p, why)
							impReply{400, `{"error":"invalid_request"}`, nil}.write(w)
							return
						}
						if tc.replyFor != nil {
							tc.replyFor(r).write(w)
							return
						}
						tc.reply.write(w)
					}))
					t.Cleanup(srv.Close)
					params := im.params
					if tc.params != "" {
						params = tc.params
					}
					conn := Request{
						Provider: p, TokenURL: srv.URL + im.tokenPath,
						ClientID: "cid", ClientSecret: impClientSecret,
						RefreshToken: impRefreshToken,
					}
					if im.scope != "" {
						conn.Scopes = im.scope
					}
					if params != "" {
						conn.Params = paramsOf(t, params)
					}
					start := time.Now()
					res, err := NewRefresher(NewCatalogue(), NewHTTPClient(5*time.Second, 4), nil).Refresh(t.Context(), conn)
					if n := calls.Load(); n != 1 {
						t.Fatalf("%d requests; a refresh token must be sent exactly once", n)
					}
					if tc.want.fail {
						assertRefreshError(t, res, err, tc.want)
						return
					}
					if err != nil {
						t.Fatalf("refresh failed: %v", err)
					}
					assertResult(t, res, tc.want, start)
				})
			}
		}
	}
}

func assertRefreshError(t *testing.T, res *Result, err error, want impWant) {
	t.Helper()
	var pe *Error
	if res != nil || !errors.As(err, &pe) {
		t.Fatalf("got %+v, %v; want *Error", res, err)
	}
	if pe.Reauth != want.reauth {
		t.Fatalf("Reauth = %v, want %v (%v)", pe.Reauth, want.reauth, err)
	}
	if want.code != "" && pe.Code != want.code {
		t.Fatalf("Code = %q, want %q", pe.Code, want.code)
	}
	if pe.RetryAfter != want.retryAfter {
		t.Fatalf("RetryAfter = %v, want %v", pe.RetryAfter, want.retryAfter)
	}
	assertNoSecrets(t, err.Error(), impClientSecret, impRefreshToken)
}

func assertNoSecrets(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Fatalf("error text %q holds the secret %q", text, s)
		}
	}
	if strings.Contains(text, "\n") {
		t.Fatalf("error text %q spans lines", text)
	}
}

func assertResult(t *testing.T, res *Result, want impWant, start time.Time) {
	t.Helper()
	if res.AccessToken != want.access {
		t.Errorf("AccessToken = %q, want %q", res.AccessToken, want.access)
	}
	if res.RefreshToken != want.rotated {
		t.Errorf("RefreshToken = %q, want %q", res.RefreshToken, want.rotated)
	}
	assertAbout(t, "Expiry", res.Expiry, want.expiry, start)
	assertAbout(t, "RefreshExpiry", res.RefreshExpiry, want.refreshExpiry, start)
	var got map[string]any
	if len(res.JSONData) > 0 {
		if err := json.Unmarshal(res.JSONData, &got); err != nil {
			t.Fatalf("json_data %s: %v", res.JSONData, err)
		}
	}
	if len(got) != 0 || len(want.jsonData) != 0 {
		if !reflect.DeepEqual(got, want.jsonData) {
			t.Errorf("json_data = %s, want %v", res.JSONData, want.jsonData)
		}
	}
}

// assertAbout checks that at is d after start, within the test's own
// duration and a second of rounding; d == 0 wants nil.
func assertAbout(t *testing.T, what string, at *time.Time, d time.Duration, start time.Time) {
	t.Helper()
	if d == 0 {
		if at != nil {
			t.Errorf("%s = %v, want none", what, at)
		}
		return
	}
	if at == nil {
		t.Errorf("%s is nil, want about %v from now", what, d)
		return
	}
	lo, hi := start.Add(d-2*time.Second), time.Now().Add(d+time.Second)
	if at.Before(lo) || at.After(hi) {
		t.Errorf("%s = %v from the start, want %v", what, at.Sub(start).Round(time.Second), d)
	}
}

// Microsoft's tenant defaults to "common" when the connection names none.
func TestMicrosoftDefaultTenant(t *testing.T) {
	t.Parallel()
	var path atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.Path)
		impReply{200, `{"token_type":"Bearer","expires_in":3600,"access_token":"at","refresh_token":"rt2"}`, nil}.write(w)
	}))
	t.Cleanup(srv.Close)
	conn := Request{Provider: "microsoft", TokenURL: srv.URL + "/{tenant}/oauth2/v2.0/token",
		ClientID: "cid", ClientSecret: impClientSecret, RefreshToken: impRefreshToken}
	if _, err := NewRefresher(NewCatalogue(), NewHTTPClient(5*time.Second, 4), nil).Refresh(t.Context(), conn); err != nil {
		t.Fatal(err)
	}
	if got := path.Load(); got != "/common/oauth2/v2.0/token" {
		t.Fatalf("path %v, want the common tenant", got)
	}
}

// cutAfterRequest reads the request, then drops the connection without an
// answer: the provider may have rotated the refresh token, and the answer
// is lost.
func cutAfterRequest(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// cutMidBody sends the headers and part of the body, then drops the
// connection.
func cutMidBody(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "200")
	w.WriteHeader(200)
	io.WriteString(w, `{"access_token":"at-2","refresh_tok`)
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

// A lost answer from a provider that rotates with a grace period must be
// retried within the grace (Xero: 30m, so within 7.5m); other providers
// get no such bound.
func TestLostAnswerRetryWithin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		provider string
		h        http.HandlerFunc
		within   time.Duration
	}{
		{"xero, connection cut before the answer", "xero", cutAfterRequest, 30 * time.Minute / 4},
		// Fails at the time of writing: x/oauth2 reads the body itself and
		// wraps the read error with %v, so io.ErrUnexpectedEOF is lost and
		// isLostAnswer does not see it (see the report).
		{"xero, connection cut mid-body", "xero", cutMidBody, 30 * time.Minute / 4},
		{"non-rotating provider, connection cut", "oauth2", cutAfterRequest, 0},
		{"rotating provider without grace, connection cut", "zoom", cutAfterRequest, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.h)
			t.Cleanup(srv.Close)
			conn := Request{Provider: tc.provider, TokenURL: srv.URL + "/token",
				ClientID: "cid", ClientSecret: impClientSecret, RefreshToken: impRefreshToken}
			_, err := NewRefresher(NewCatalogue(), NewHTTPClient(5*time.Second, 4), nil).Refresh(t.Context(), conn)
			var pe *Error
			if !errors.As(err, &pe) || pe.Reauth {
				t.Fatalf("got %v, want a transient *Error", err)
			}
			if pe.RetryWithin != tc.within {
				t.Fatalf("RetryWithin = %v, want %v (%v)", pe.RetryWithin, tc.within, err)
			}
			assertNoSecrets(t, err.Error(), impClientSecret, impRefreshToken, srv.URL)
		})
	}
}

func writeCatalogueFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "providers.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadCatalogueOverride(t *testing.T) {
	t.Parallel()
	path := writeCatalogueFile(t, `[
		{"name": "acme", "aliases": ["acme_eu"], "auth": "basic", "default_lifetime": "15m", "rotates": true,
		 "keep": ["region"], "errors": {"reauth": ["TOKEN_DEAD"], "code_fields": ["code"]}},
		{"name": "hubspot", "auth": "basic", "default_lifetime": "10m", "keep": ["hub_id"]}
	]`)
	c, err := LoadCatalogue(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"acme", "acme_eu", "hubspot", "xero", "google_analytics"} {
		if _, ok := c.Lookup(name); !ok {
			t.Errorf("%s not in the loaded catalogue", name)
		}
	}
	if names := c.Names(); len(names) != len(NewCatalogue().Names())+1 {
		t.Errorf("names %v: want the built-ins plus acme", names)
	}

	// The added provider works end to end, with its own error rules.
	var hubAuth atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		_, _, basic := r.BasicAuth()
		switch r.URL.Path {
		case "/acme":
			if !basic || r.PostForm.Get("client_secret") != "" {
				impReply{401, `{"error":"invalid_client"}`, nil}.write(w)
				return
			}
			if r.PostForm.Get("refresh_token") == "dead" {
				impReply{400, `{"code":"TOKEN_DEAD"}`, nil}.write(w)
				return
			}
			impReply{200, `{"access_token":"acme-at","region":"eu","refresh_token":"acme-rt2"}`, nil}.write(w)
		case "/hubspot":
			hubAuth.Store(basic && r.PostForm.Get("client_secret") == "")
			impReply{200, `{"access_token":"hs-at","hub_id":"42","token_type":"bearer"}`, nil}.write(w)
		}
	}))
	t.Cleanup(srv.Close)
	r := NewRefresher(c, NewHTTPClient(5*time.Second, 4), nil)
	row := func(provider, path, rt string) Request {
		return Request{Provider: provider, TokenURL: srv.URL + path, ClientID: "cid",
			ClientSecret: impClientSecret, RefreshToken: model.Secret(rt)}
	}
	start := time.Now()
	res, err := r.Refresh(t.Context(), row("acme_eu", "/acme", impRefreshToken))
	if err != nil {
		t.Fatal(err)
	}
	assertResult(t, res, impWant{access: "acme-at", rotated: "acme-rt2", expiry: 15 * time.Minute, jsonData: map[string]any{"region": "eu"}}, start)
	_, err = r.Refresh(t.Context(), row("acme", "/acme", "dead"))
	var pe *Error
	if !errors.As(err, &pe) || !pe.Reauth || pe.Code != "TOKEN_DEAD" {
		t.Fatalf("dead acme token: %v, want reauth TOKEN_DEAD", err)
	}

	// The override replaces the built-in hubspot template as a whole.
	res, err = r.Refresh(t.Context(), row("hubspot", "/hubspot", impRefreshToken))
	if err != nil {
		t.Fatal(err)
	}
	if !hubAuth.Load() {
		t.Error("overridden hubspot did not authenticate with Basic")
	}
	assertResult(t, res, impWant{access: "hs-at", expiry: 10 * time.Minute, jsonData: map[string]any{"hub_id": "42", "token_type": "bearer"}}, start)

	// The built-ins are untouched.
	if h, _ := NewCatalogue().Lookup("hubspot"); h.Auth != "post" {
		t.Error("loading a file changed the built-in catalogue")
	}
	if c, err := LoadCatalogue(""); err != nil || len(c.Names()) != len(NewCatalogue().Names()) {
		t.Errorf("empty path: %v, %v", c, err)
	}
}

func TestLoadCatalogueInvalidFile(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope.json")
	for _, tc := range []struct {
		name, path string
		contains   []string
	}{
		{"missing file", missing, []string{"TOKENS_PROVIDERS_FILE", "nope.json"}},
		{"not JSON", writeCatalogueFile(t, `{"name": "acme",`), []string{"TOKENS_PROVIDERS_FILE", "providers.json"}},
		{"not an array", writeCatalogueFile(t, `{"name": "acme", "auth": "basic"}`), []string{"TOKENS_PROVIDERS_FILE"}},
		{"no name", writeCatalogueFile(t, `[{"auth": "basic"}]`), []string{"TOKENS_PROVIDERS_FILE", "no name"}},
		{"unknown auth", writeCatalogueFile(t, `[{"name": "acme", "auth": "auto"}]`), []string{"acme", `"auto"`}},
		{"no auth", writeCatalogueFile(t, `[{"name": "acme"}]`), []string{"acme", "auth"}},
		{"bad encoding", writeCatalogueFile(t, `[{"name": "acme", "auth": "post", "default_lifetime": "1h", "encoding": "xml"}]`), []string{"acme", "encoding"}},
		{"bad duration", writeCatalogueFile(t, `[{"name": "acme", "auth": "post", "default_lifetime": "soon"}]`), []string{"TOKENS_PROVIDERS_FILE", "soon"}},
		{"duration as a number", writeCatalogueFile(t, `[{"name": "acme", "auth": "post", "default_lifetime": 3600}]`), []string{"TOKENS_PROVIDERS_FILE", "duration"}},
		{"no default lifetime", writeCatalogueFile(t, `[{"name": "acme", "auth": "post"}]`), []string{"acme", "default_lifetime"}},
		{"unknown exchange", writeCatalogueFile(t, `[{"name": "acme", "auth": "post", "default_lifetime": "1h", "exchange": "magic"}]`), []string{"acme", "magic"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadCatalogue(tc.path)
			if err == nil {
				t.Fatalf("loaded %v, want an error", c.Names())
			}
			for _, s := range tc.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

// The imitations are only worth their passes if they refuse what the real
// providers refuse.
func TestImitationsRefuseWrongRequests(t *testing.T) {
	t.Parallel()
	type shape struct {
		basic, json  bool
		fields       url.Values
		path, accept string
	}
	build := func(im imitation, s shape) *http.Request {
		var body string
		ct := "application/x-www-form-urlencoded"
		if s.json {
			obj := map[string]string{}
			for k := range s.fields {
				obj[k] = s.fields.Get(k)
			}
			b, _ := json.Marshal(obj)
			body, ct = string(b), "application/json"
		} else {
			body = s.fields.Encode()
		}
		r := httptest.NewRequest(http.MethodPost, "http://provider"+s.path, strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		r.Header.Set("Accept", s.accept)
		if s.basic {
			r.SetBasicAuth("cid", impClientSecret)
		}
		return r
	}
	for _, im := range imitations() {
		t.Run(im.providers[0], func(t *testing.T) {
			t.Parallel()
			good := func() shape {
				s := shape{json: im.json, path: im.servePath, accept: "application/json", fields: url.Values{"refresh_token": {impRefreshToken}}}
				if !im.json {
					s.fields.Set("grant_type", "refresh_token")
				}
				switch im.auth {
				case "basic":
					s.basic = true
				case "post":
					s.fields.Set("client_id", "cid")
					s.fields.Set("client_secret", impClientSecret)
				case "none":
					s.fields.Set("client_id", "cid")
				}
				if im.scope != "" {
					s.fields.Set("scope", im.scope)
				}
				return s
			}
			if why := im.check(build(im, good())); why != "" {
				t.Fatalf("a well-formed request is refused: %s", why)
			}
			bad := map[string]func(*shape){
				"wrong path":     func(s *shape) { s.path += "x" },
				"no Accept":      func(s *shape) { s.accept = "" },
				"wrong refresh":  func(s *shape) { s.fields.Set("refresh_token", "other") },
				"wrong encoding": func(s *shape) { s.json = !s.json },
				"secret in the body": func(s *shape) {
					s.basic = false
					s.fields.Set("client_id", "cid")
					s.fields.Set("client_secret", impClientSecret)
				},
			}
			switch im.auth {
			case "basic":
				bad["secret in both"] = func(s *shape) { s.fields.Set("client_secret", impClientSecret) }
			case "post":
				delete(bad, "secret in the body")
				bad["Basic instead of the body"] = func(s *shape) {
					s.basic = true
					s.fields.Del("client_id")
					s.fields.Del("client_secret")
				}
			case "none":
				bad["Basic"] = func(s *shape) { s.basic = true }
			}
			if im.json {
				bad["grant_type in JSON"] = func(s *shape) { s.fields.Set("grant_type", "refresh_token") }
			}
			if im.scope != "" {
				bad["no scope"] = func(s *shape) { s.fields.Del("scope") }
			}
			for name, mutate := range bad {
				s := good()
				mutate(&s)
				if why := im.check(build(im, s)); why == "" {
					t.Errorf("%s: accepted", name)
				}
			}
		})
	}
}

// A provider added to providers.json needs its imitation here.
func TestEveryProviderHasAnImitation(t *testing.T) {
	t.Parallel()
	// webex_test.go, githubapp_test.go, granttemplates_test.go
	covered := map[string]bool{"webex_service_app": true, "github_app": true, "google_service_account": true}
	for _, im := range imitations() {
		for _, p := range im.providers {
			covered[p] = true
		}
	}
	for _, name := range NewCatalogue().Names() {
		if !covered[name] {
			t.Errorf("provider %s has no imitation in TestProviderImitations", name)
		}
	}
}
