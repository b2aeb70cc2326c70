// Package console is tokenwarden's operator console: server-rendered pages,
// served by `worker serve` (and by `worker run` when TOKENS_HTTP_ADDR is
// set) on the same port as the token API, to see the fleet and to fix a
// dead connection from a browser.
//
// Everything a page reads or changes goes through a Backend, which
// internal/app implements on *app.App: the console holds no SQL and no
// provider code, so a page can never do what the `worker` command would
// not. Handlers parse the request, call the Backend, and render one
// html/template page (one layout, one template per page, all embedded
// with the CSS and the small script in the binary; no Node build).
//
//	// the token API and the proxy on every other path, the console on its own
//	h = console.Mount(h, console.Config{Backend: a, PublicURL: "https://tokens.example.com"})
//
// # Paths
//
//	/console/                         connections: counts, filters, keyset pages, live rows
//	/console/connections/{name}       one connection: fields, events, actions
//	/console/connect                  connect a new connection through its provider's consent
//	/console/keys                     API keys: list, create (secret shown once), revoke
//	/console/signin, /console/signout sign in with an admin key; sign out (POST)
//	/console/oidc/start, /callback    sign in through OpenID Connect (POST; the provider's return)
//	/console/live                     Server-Sent Events: names of connections that changed
//	/oauth/callback                   where every consent returns (TOKENS_PUBLIC_URL/oauth/callback)
//	/connect/{token}                  a reconnect link: a page and one POST button
//
// # Access
//
// The console is on only while an admin key exists (`worker apikey create
// --admin`); until then every /console/ page says so, with status 404.
// Signing in exchanges the admin key for a session whose cookie,
// tokenwarden_session, is HttpOnly, SameSite=Lax (the provider's redirect
// back is a top-level navigation from another site) and Secure when
// TOKENS_PUBLIC_URL is https. Every state-changing request carries the
// session's CSRF token, checked by one middleware (checkCSRF); sign-in and
// a link's button, which have no session, are guarded by
// http.CrossOriginProtection instead.
//
// With TOKENS_OIDC_ISSUER the console is on even without an admin key,
// and the sign-in page offers the company's OpenID Connect provider too
// (oidc.go): the flow's state, nonce and PKCE verifier wait in a
// ten-minute cookie the callback deletes, and a verified email that
// TOKENS_OIDC_ALLOW lists gets the same session cookie; anyone else gets
// 403 and no session.
//
// # Reconnect links
//
// A link lets the account owner, who is often not an operator,
// re-authorize one connection without console access. A GET of the link
// only shows a page naming the connection and the provider: link-preview
// bots cannot use it. Its one button (a POST) starts the provider's
// consent; the link is consumed when the authorization completes, and a
// used or expired link shows a page saying so, with status 410.
//
// # Live updates
//
// /console/live relays Backend.Watch: the names of connections that
// changed, which the page fetches again. It says "ready" (and the page
// "● live") only once the Backend is listening, so no change is lost
// behind a page that claims to be live; "down" when the listener's
// connection drops; ready and "reload" when it is back, so the page
// fetches every row in view again; "off" with TOKENS_POLL_ONLY, where
// nothing is ever notified.
//
// /console/rows answers the rows the page names, judged by the page's
// filter (its query goes along): a row whose connection no longer matches
// it comes back marked so, showing its new state, and a deleted one
// comes back empty and marked deleted. The page keeps both rows in place,
// faded with a note (rows do not move under the pointer, and a person
// sees what became of the row), until a reload. /console/counts answers
// the counts by status, which the page fetches again, at most once a
// second, after any change, in view or not.
//
// # Audit log
//
// Every state-changing action that happened writes one Info line,
// "console: <action>", with the connection's name or the key's id and who
// did it (the admin key's id and label, "oidc" and the email, or a
// reconnect link); never a secret.
//
// # What a page never shows
//
// No token or secret: the Backend returns connections without secret
// values, and no template reads a Secret field. A client secret typed
// into the connect form is never echoed back, and a new API key's secret
// is shown once, on the answer to the form that created it. Every answer
// carries a Content-Security-Policy without inline script,
// frame-ancestors 'none', Referrer-Policy no-referrer (a link's URL must
// not leak to the provider) and Cache-Control no-store.
//
// # Going to the provider
//
// The policy's form-action 'self' also covers the redirects of a form's
// navigation in Chromium: a POST answered with a 303 to the provider's
// consent page is blocked there. So Reconnect, Connect and a link's
// button are answered with a small page that moves on by itself (a meta
// refresh, which is a navigation of its own) and offers the link to
// follow if it does not.
//
// # Tests
//
// The tests drive a real headless Chromium (internal/browsertest) against
// the real application on a PostgreSQL database of their own and the
// mock provider, and assert what a person sees and what was stored. With
// TOKENWARDEN_SCREENSHOTS set (`make screenshots`) they also write the
// images of docs/console.md.
package console
