package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/console"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// TestSessionCookieSecureUnderHTTPS: the session cookie is Secure when
// TOKENS_PUBLIC_URL is https (the browser then sends it over https only),
// and not when it is http (it would never be sent). Checked on the
// answer to the sign-in form, over HTTP: a browser on a plain-http test
// server does not show the flag of a cookie it drops.
func TestSessionCookieSecureUnderHTTPS(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for publicURL, secure := range map[string]bool{"https://tokens.example.com": true, "http://tokens.example.com": false} {
		h := console.New(console.Config{Backend: b.backend, PublicURL: publicURL, Logger: testutil.Quiet()})
		status, session := postForCookie(t, h, publicURL+"/console/signin", url.Values{"key": {b.adminKey}}, "tokenwarden_session")
		if status != http.StatusSeeOther {
			t.Errorf("%s: sign-in answered %d, want 303", publicURL, status)
			continue
		}
		switch {
		case session == nil || session.Value == "":
			t.Errorf("%s: no session cookie", publicURL)
		case session.Secure != secure:
			t.Errorf("%s: session cookie Secure=%v, want %v", publicURL, session.Secure, secure)
		case !session.HttpOnly || session.SameSite != http.SameSiteLaxMode:
			t.Errorf("%s: session cookie HttpOnly=%v SameSite=%v", publicURL, session.HttpOnly, session.SameSite)
		}
	}
}

// postForCookie posts form to u through h and returns the answer's status
// and its cookie name (nil when it sets none).
func postForCookie(t *testing.T, h http.Handler, u string, form url.Values, name string) (int, *http.Cookie) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return rec.Code, c
		}
	}
	return rec.Code, nil
}

// TestScriptFetchesWithoutSession: what only the list's script fetches
// (rows, counts, the live stream) answers 401 without a session, so that
// the script stops rather than swap a sign-in page into the list.
func TestScriptFetchesWithoutSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/console/rows?row=xero-acme", "/console/counts", "/console/live"} {
		resp, err := client.Get(b.base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a session: status %d, want 401", p, resp.StatusCode)
		}
	}
	client.CloseIdleConnections()
}
