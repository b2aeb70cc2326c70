package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// cookieName is the session cookie's name.
const cookieName = "tokenwarden_session"

// csrfField is the form field, and csrfHeader the header for fetch, that
// carry the session's CSRF token.
const (
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

// signInForm asks for the admin key; a person already signed in goes on
// to where they were going.
func (c *console) signInForm(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if _, err := c.session(r); err == nil {
		http.Redirect(w, r, c.url(next), http.StatusSeeOther) //nolint:gosec // next is a console path (localPath)
		return
	}
	c.render(w, r, http.StatusOK, "signin", c.signInPage(next, ""))
}

// signInData is the sign-in form's content.
type signInData struct {
	Next, Error string
	// OIDCHost is the OpenID Connect provider's host, named on its
	// button; "" when that sign-in is off.
	OIDCHost string
}

// signInPage is the sign-in page going on to next, with the error msg.
func (c *console) signInPage(next, msg string) signInData {
	d := signInData{Next: next, Error: msg}
	if iss := c.Backend.OIDCIssuer(); iss != "" {
		if u, err := url.Parse(iss); err == nil {
			d.OIDCHost = u.Host
		}
	}
	return d
}

// signIn exchanges the admin key for a session and its cookie. It has no
// session to hold a CSRF token yet, so it is guarded instead by
// http.CrossOriginProtection (see New): a browser posting from another
// site says so in Sec-Fetch-Site or Origin, and is refused, which stops a
// page elsewhere from signing a person in under someone else's key.
func (c *console) signIn(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.PostFormValue("next"))
	key := strings.TrimSpace(r.PostFormValue("key"))
	s, err := c.Backend.SignIn(r.Context(), key)
	switch {
	case errors.Is(err, ErrBadCredentials) || key == "":
		// The key typed is never echoed back.
		c.render(w, r, http.StatusUnauthorized, "signin", c.signInPage(next, "That is not a valid admin key."))
		return
	case err != nil:
		c.serverError(w, r, "sign in", err)
		return
	}
	c.startSession(w, r, s, next)
}

// startSession writes the audit line of a sign-in, sets the session's
// cookie and goes on to next, a console path.
func (c *console) startSession(w http.ResponseWriter, r *http.Request, s *Session, next string) {
	c.Logger.Info("console: sign-in", "by", who(s))
	//nolint:gosec // Secure whenever TOKENS_PUBLIC_URL is https; over plain http it would never be sent
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: s.Token, Path: c.cookiePath(), Expires: s.Expires,
		HttpOnly: true, Secure: c.secure,
		// Lax, not Strict: the provider's redirect to /oauth/callback is
		// a top-level navigation from another site, and must arrive
		// signed in so that the operator lands on the connection.
		SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, c.url(localPath(next)), http.StatusSeeOther) //nolint:gosec // next is a console path (localPath)
}

// signOut ends the session on the server and drops the cookie.
func (c *console) signOut(w http.ResponseWriter, r *http.Request) {
	if err := c.Backend.SignOut(r.Context(), sessionOf(r.Context()).Token); err != nil {
		c.serverError(w, r, "sign out", err)
		return
	}
	c.audit(r, "sign-out")
	c.dropCookie(w)
	http.Redirect(w, r, c.url("/console/signin"), http.StatusSeeOther)
}

func (c *console) dropCookie(w http.ResponseWriter) {
	//nolint:gosec // as the session cookie it deletes
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: c.cookiePath(), MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
}

// fetchedByScript reports whether only the pages' script asks for path:
// without a session it answers 401, not a redirect to sign-in.
func fetchedByScript(path string) bool {
	switch path {
	case "/console/rows", "/console/counts", "/console/live":
		return true
	}
	return false
}

// signedIn lets through a request with a live session, which it puts in
// the context. Without one, a page is redirected to sign-in (and back
// afterwards); what a script fetches, or a form posts, gets 401.
func (c *console) signedIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.session(r)
		if errors.Is(err, ErrNoSession) {
			c.dropCookie(w)
			if r.Method == http.MethodGet && !fetchedByScript(r.URL.Path) {
				http.Redirect(w, r, c.url("/console/signin?next="+url.QueryEscape(r.URL.RequestURI())), http.StatusSeeOther)
				return
			}
			c.fail(w, r, http.StatusUnauthorized, "Signed out", "Your session has ended. Sign in again.")
			return
		}
		if err != nil {
			c.serverError(w, r, "read the session", err)
			return
		}
		// The token stays on the server side of the page: handlers need
		// it only to sign out.
		s.Token = cookieValue(r)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	})
}

// session returns the live session of the request's cookie.
func (c *console) session(r *http.Request) (*Session, error) {
	v := cookieValue(r)
	if v == "" {
		return nil, ErrNoSession
	}
	return c.Backend.Session(r.Context(), v)
}

func cookieValue(r *http.Request) string { return cookieOf(r, cookieName) }

// checkCSRF is the one check of every state-changing request under
// /console: it must carry the session's CSRF token, in the form field or
// (for fetch) the header, or it is refused with 403 before its handler
// runs. The comparison takes the same time whatever the guess.
func (c *console) checkCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		got := r.Header.Get(csrfHeader)
		if got == "" {
			got = r.PostFormValue(csrfField)
		}
		want := sessionOf(r.Context()).CSRF
		if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			c.fail(w, r, http.StatusForbidden, "Request refused",
				"This request did not carry the form's security token, so nothing was changed. Go back, reload the page and try again.")
			return
		}
		next.ServeHTTP(w, r)
	})
}
