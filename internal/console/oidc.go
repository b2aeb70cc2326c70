package console

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// oidcCookie holds an OpenID Connect sign-in between the provider's page
// and the callback.
const oidcCookie = "tokenwarden_oidc"

// oidcFlowTTL is how long a person has at the provider's page: as long as
// a pending authorization of a connection (RFC 6749's ten minutes for a
// code).
const oidcFlowTTL = 10 * time.Minute

// oidcStart begins a sign-in through the OpenID Connect provider (the
// sign-in page's button). Like the admin-key form it has no session to
// hold a CSRF token, so http.CrossOriginProtection guards it (see
// routes): a page elsewhere cannot start a flow in this browser.
//
// The flow (state, nonce, PKCE verifier, where to land) is kept in a
// cookie rather than a table: the state's job is to bind the provider's
// answer to the browser that asked, which a cookie does by itself; it
// needs no row, no prune, and works behind any replica. It is HttpOnly,
// SameSite=Lax (the provider's redirect back is a top-level navigation
// from another site), sent only to /console/oidc/, lasts ten minutes, and
// the callback deletes it whatever the outcome, so a replayed callback
// finds no flow. Tampering with it gains nothing: its values are only
// compared with what the provider sends back, and the code it could pair
// them with is single-use at the provider and bound to the verifier.
func (c *console) oidcStart(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.PostFormValue("next"))
	authURL, flow, err := c.Backend.BeginOIDCSignIn(r.Context())
	if err != nil {
		c.Logger.Error("console: OpenID Connect sign-in not started", "err", err)
		c.render(w, r, http.StatusBadGateway, "signin",
			c.signInPage(next, "The sign-in provider could not be reached. Try again later, or sign in with an admin key."))
		return
	}
	flow.Next = next
	c.setOIDCCookie(w, encodeFlow(flow, c.Now()), int(oidcFlowTTL/time.Second))
	c.redirectOut(w, r, authURL)
}

// oidcCallback completes the sign-in the provider sends the browser back
// to. A person the provider vouched for but TOKENS_OIDC_ALLOW does not
// list gets 403 and no session; a callback that is not this browser's
// flow (forged, replayed, expired) gets 400.
func (c *console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	flow := decodeFlow(cookieOf(r, oidcCookie), c.Now())
	c.setOIDCCookie(w, "", -1)
	s, err := c.Backend.CompleteOIDCSignIn(r.Context(), r.URL.Query(), flow)
	back := c.url("/console/signin")
	switch {
	case errors.Is(err, ErrNotAllowed):
		c.Logger.Warn("console: sign-in refused", "err", err)
		c.render(w, r, http.StatusForbidden, "error", failure{Title: "Not allowed",
			Message: "You are " + fullStop(err.Error()) + " Ask an operator to add you to TOKENS_OIDC_ALLOW.", Back: back})
	case err != nil:
		c.Logger.Info("console: OpenID Connect sign-in failed", "err", err)
		c.render(w, r, http.StatusBadRequest, "error", failure{Title: "Sign-in failed", Message: sentence(err.Error()), Back: back})
	default:
		c.startSession(w, r, s, flow.Next)
	}
}

// setOIDCCookie sets the flow's cookie, or deletes it with maxAge -1.
func (c *console) setOIDCCookie(w http.ResponseWriter, value string, maxAge int) {
	//nolint:gosec // Secure whenever TOKENS_PUBLIC_URL is https, as the session cookie
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: value, Path: c.url("/console/oidc/"), MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
}

// encodeFlow is the cookie's value of f, begun at now.
func encodeFlow(f OIDCFlow, now time.Time) string {
	v := url.Values{"s": {f.State}, "n": {f.Nonce}, "v": {f.Verifier}, "next": {f.Next},
		"t": {strconv.FormatInt(now.Unix(), 10)}}
	return base64.RawURLEncoding.EncodeToString([]byte(v.Encode()))
}

// decodeFlow reads a cookie's flow, the zero flow (which matches no
// callback) when it is missing, malformed or older than oidcFlowTTL.
func decodeFlow(value string, now time.Time) OIDCFlow {
	b, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return OIDCFlow{}
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return OIDCFlow{}
	}
	t, err := strconv.ParseInt(v.Get("t"), 10, 64)
	if err != nil || now.Sub(time.Unix(t, 0)) > oidcFlowTTL {
		return OIDCFlow{}
	}
	return OIDCFlow{State: v.Get("s"), Nonce: v.Get("n"), Verifier: v.Get("v"), Next: localPath(v.Get("next"))}
}

// cookieOf returns the value of the request's cookie name, "" if none.
func cookieOf(r *http.Request, name string) string {
	ck, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}
