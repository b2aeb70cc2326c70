package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// paramsOf reads a params object as the worker reads a row's.
func paramsOf(t testing.TB, raw string) map[string]string {
	t.Helper()
	p, err := ParseParams([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serve returns a connection whose token endpoint answers with h.
func serve(t *testing.T, h http.HandlerFunc) (*Refresher, Request) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	conn := Request{
		Provider: "oauth2", TokenURL: srv.URL + "/token",
		ClientID: "cid", ClientSecret: "cs-SECRET", RefreshToken: "rt-SECRET",
	}
	return NewRefresher(NewCatalogue(), NewHTTPClient(5*time.Second, 4), nil), conn
}

func answer(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

func TestRefreshResponses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		body        string
		contentType string
		wantExpiry  time.Duration // 0: never expires
		wantRT      string
		wantRTExp   bool
	}{
		{name: "rotating", body: `{"access_token":"at","token_type":"Bearer","expires_in":1800,"refresh_token":"rt-new"}`, wantExpiry: 1800 * time.Second, wantRT: "rt-new"},
		{name: "expires_in as string", body: `{"access_token":"at","expires_in":"3600"}`, wantExpiry: time.Hour},
		{name: "no expires_in gets the default lifetime", body: `{"access_token":"at","instance_url":"https://x.my.salesforce.com"}`, wantExpiry: time.Hour},
		// Only a template documented so (Mailchimp) issues tokens that
		// never expire; elsewhere 0 is an anomaly, not "forever".
		{name: "expires_in 0 gets the default lifetime", body: `{"access_token":"at","expires_in":0}`, wantExpiry: time.Hour},
		{name: "same refresh token is not a rotation", body: `{"access_token":"at","expires_in":60,"refresh_token":"rt-SECRET"}`, wantExpiry: time.Minute},
		{name: "refresh token expiry", body: `{"access_token":"at","expires_in":60,"refresh_token_expires_in":7776000}`, wantExpiry: time.Minute, wantRTExp: true},
		{name: "form-encoded", body: "access_token=at&expires_in=60&scope=read", contentType: "application/x-www-form-urlencoded", wantExpiry: time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			r, conn := serve(t, answer(200, tc.body, "Content-Type", ct))
			before := time.Now()
			res, err := r.Refresh(t.Context(), conn)
			after := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			if res.AccessToken != "at" || res.RefreshToken != tc.wantRT {
				t.Fatalf("tokens: at=%q rt=%q", res.AccessToken, res.RefreshToken)
			}
			switch {
			case tc.wantExpiry == 0 && res.Expiry != nil:
				t.Fatalf("expiry %v, want never", res.Expiry)
			// The expiry is counted from some moment during the call, so it
			// lies between the call's start and end plus the lifetime (a
			// second of slack for the wall clock's rounding), however slow
			// a loaded machine makes the call.
			case tc.wantExpiry != 0 && (res.Expiry == nil || res.Expiry.Before(before.Add(tc.wantExpiry-time.Second)) || res.Expiry.After(after.Add(tc.wantExpiry+time.Second))):
				t.Fatalf("expiry %v, want %v after a moment between %v and %v", res.Expiry, tc.wantExpiry, before, after)
			}
			if (res.RefreshExpiry != nil) != tc.wantRTExp {
				t.Fatalf("refresh expiry %v", res.RefreshExpiry)
			}
		})
	}
}

func TestJSONDataKeepsOnlyNonSecretFields(t *testing.T) {
	t.Parallel()
	r, conn := serve(t, answer(200, `{"access_token":"at-SECRET","refresh_token":"rt-SECRET2","id_token":"id-SECRET","expires_in":60,"scope":"read write","instance_url":"https://x"}`))
	res, err := r.Refresh(t.Context(), conn)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(res.JSONData, &got); err != nil {
		t.Fatal(err)
	}
	if got["scope"] != "read write" || got["instance_url"] != "https://x" {
		t.Fatalf("json_data = %s", res.JSONData)
	}
	if strings.Contains(string(res.JSONData), "SECRET") {
		t.Fatalf("json_data holds a secret: %s", res.JSONData)
	}
}

func TestClientAuthStyle(t *testing.T) {
	t.Parallel()
	for _, style := range []string{"", "basic", "post"} {
		t.Run("style "+style, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			r, conn := serve(t, func(w http.ResponseWriter, req *http.Request) {
				calls.Add(1)
				req.ParseForm()
				user, pass, basic := req.BasicAuth()
				wantBasic := style != "post"
				ok := req.PostForm.Get("grant_type") == "refresh_token" && req.PostForm.Get("refresh_token") == "rt-SECRET"
				if wantBasic {
					ok = ok && basic && user == "cid" && pass == "cs-SECRET" && req.PostForm.Get("client_secret") == ""
				} else {
					ok = ok && !basic && req.PostForm.Get("client_id") == "cid" && req.PostForm.Get("client_secret") == "cs-SECRET"
				}
				if !ok {
					answer(401, `{"error":"invalid_client"}`)(w, req)
					return
				}
				answer(200, `{"access_token":"at","expires_in":60}`)(w, req)
			})
			if style != "" {
				conn.AuthStyle = style
			}
			if _, err := r.Refresh(t.Context(), conn); err != nil {
				t.Fatal(err)
			}
			if n := calls.Load(); n != 1 {
				t.Fatalf("%d requests; the refresh token must be sent once", n)
			}
		})
	}
}

func TestRefreshErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		h          http.HandlerFunc
		reauth     bool
		retryAfter time.Duration
		contains   string
	}{
		{name: "invalid_grant", h: answer(400, `{"error":"invalid_grant","error_description":"expired"}`), reauth: true, contains: "invalid_grant: expired"},
		{name: "invalid_client", h: answer(401, `{"error":"invalid_client"}`), reauth: true},
		{name: "500", h: answer(500, `{"error":"server_error"}`), contains: "HTTP 500"},
		{name: "429 with Retry-After", h: answer(429, `{}`, "Retry-After", "120"), retryAfter: 120 * time.Second},
		{name: "HTML page", h: answer(502, "<html><body>Bad gateway</body></html>", "Content-Type", "text/html")},
		{name: "unknown 4xx stays transient", h: answer(404, "not found", "Content-Type", "text/plain")},
		{name: "200 without access_token", h: answer(200, `{"token_type":"Bearer"}`)},
		{name: "200 with garbage", h: answer(200, `{"access_token":`)},
		{name: "error echoing the secrets", h: answer(400, `{"error":"invalid_request","error_description":"bad token rt-SECRET for cs-SECRET"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, conn := serve(t, tc.h)
			res, err := r.Refresh(t.Context(), conn)
			var pe *Error
			if res != nil || !errors.As(err, &pe) {
				t.Fatalf("got %v, %v; want *Error", res, err)
			}
			if pe.Reauth != tc.reauth || pe.RetryAfter != tc.retryAfter {
				t.Fatalf("reauth=%v retryAfter=%v; want %v %v (%v)", pe.Reauth, pe.RetryAfter, tc.reauth, tc.retryAfter, err)
			}
			if !strings.Contains(err.Error(), tc.contains) || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error text %q", err)
			}
		})
	}
}

func TestTimeoutIsTransient(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	_, conn := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	r := NewRefresher(NewCatalogue(), NewHTTPClient(50*time.Millisecond, 1), nil)
	_, err := r.Refresh(context.Background(), conn)
	var pe *Error
	if !errors.As(err, &pe) || pe.Reauth || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("got %v", err)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	leaked := make(chan string, 1)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		leaked <- r.PostForm.Get("refresh_token")
	}))
	defer other.Close()
	r, conn := serve(t, func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, other.URL, http.StatusTemporaryRedirect)
	})
	if _, err := r.Refresh(t.Context(), conn); err == nil {
		t.Fatal("a redirect was taken as success")
	}
	select {
	case <-leaked:
		t.Fatal("the refresh token followed the redirect")
	default:
	}
}

func TestConfigurationErrorsNeedReauth(t *testing.T) {
	t.Parallel()
	r := NewRefresher(NewCatalogue(), NewHTTPClient(time.Second, 1), nil)
	for name, conn := range map[string]Request{
		"unknown provider": {Provider: "nope", TokenURL: "http://127.0.0.1:1", RefreshToken: "x"},
		"no token url":     {Provider: "oauth2", RefreshToken: "x"},
		"bad auth style":   {Provider: "oauth2", TokenURL: "http://127.0.0.1:1", AuthStyle: "auto", RefreshToken: "x"},
		"no refresh token": {Provider: "oauth2", TokenURL: "http://127.0.0.1:1"},
	} {
		_, err := r.Refresh(t.Context(), conn)
		var pe *Error
		if !errors.As(err, &pe) || !pe.Reauth {
			t.Errorf("%s: %v, want a reauth error", name, err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		"-5":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:01:00 GMT": time.Minute,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestHugeAnswerIsCutAndClassified(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 8<<20)
	for _, status := range []int{200, 500} {
		r, conn := serve(t, answer(status, `{"access_token":"`+huge+`"}`))
		res, err := r.Refresh(t.Context(), conn)
		var pe *Error
		if res != nil || !errors.As(err, &pe) || pe.Reauth || len(err.Error()) > 1000 {
			t.Fatalf("status %d: got %v; want a short transient error", status, err)
		}
	}
}

// An answer the database could not store (a NUL in a token) would poison
// every batch it joined: it is refused at the source as malformed.
func TestMalformedTokensAreRefused(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"access_token":"at\u0000x","expires_in":60}`,
		`{"access_token":"at","refresh_token":"rt\nx","expires_in":60}`,
		`{"access_token":"` + strings.Repeat("a", 70<<10) + `","expires_in":60}`,
	} {
		r, conn := serve(t, answer(200, body))
		res, err := r.Refresh(t.Context(), conn)
		var pe *Error
		if res != nil || !errors.As(err, &pe) || pe.Reauth || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("%.40s: got %v, %v", body, res, err)
		}
	}
	r, conn := serve(t, answer(200, `{"access_token":"at","expires_in":60,"scope":"a\u0000b"}`))
	res, err := r.Refresh(t.Context(), conn)
	if err != nil || res.AccessToken != "at" || res.JSONData != nil {
		t.Fatalf("NUL in a kept field: %v %s", err, res.JSONData)
	}
}

// The client's buffers are 2 KiB; a refresh token, an answer and a header
// line each several times that size must pass whole.
func TestMessagesLargerThanTheBuffersPassWhole(t *testing.T) {
	t.Parallel()
	rt := strings.Repeat("r", 6<<10)
	at := strings.Repeat("a", 9<<10)
	sent := make(chan string, 1)
	r, conn := serve(t, func(w http.ResponseWriter, req *http.Request) {
		req.ParseForm()
		sent <- req.PostForm.Get("refresh_token")
		w.Header().Set("Content-Security-Policy", strings.Repeat("c", 5<<10))
		answer(http.StatusOK, `{"access_token":"`+at+`","token_type":"Bearer","expires_in":3600}`)(w, req)
	})
	conn.RefreshToken = model.Secret(rt)
	res, err := r.Refresh(t.Context(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-sent; got != rt || res.AccessToken != at {
		t.Fatalf("refresh token sent %d bytes (want %d), access token received %d bytes (want %d)", len(got), len(rt), len(res.AccessToken), len(at))
	}
}
