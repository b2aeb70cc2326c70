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
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, publicURL+"/console/signin",
			strings.NewReader(url.Values{"key": {b.adminKey}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther {
			t.Errorf("%s: sign-in answered %d, want 303", publicURL, rec.Code)
			continue
		}
		var session *http.Cookie
		for _, c := range rec.Result().Cookies() {
			if c.Name == "tokenwarden_session" {
				session = c
			}
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
