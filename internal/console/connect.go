package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// connectData is the connect form's content. Form never holds the client
// secret: a form shown again after an error asks for it again.
type connectData struct {
	Providers []Provider
	Form      NewConnection
	// ParamValues are the template parameters given, by "provider.name".
	ParamValues map[string]string
	Error       string
	// SecretDropped: a secret was given and not kept.
	SecretDropped bool
	// Callback is the redirect URI the provider must allow.
	Callback string
}

func (c *console) connectForm(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "connect", connectData{Providers: c.Backend.Providers(), Callback: c.callbackURL()})
}

// callbackURL is TOKENS_PUBLIC_URL/oauth/callback.
func (c *console) callbackURL() string {
	return strings.TrimSuffix(c.PublicURL, "/") + "/oauth/callback"
}

// connect starts a new connection's authorization: the settings are
// checked and kept server-side, and the browser goes to the provider.
func (c *console) connect(w http.ResponseWriter, r *http.Request) {
	nc, values := connectionOf(r)
	authURL, err := c.Backend.BeginConnect(r.Context(), nc)
	if err != nil {
		// The secret is not echoed back, in the form or in the message:
		// the message names what is wrong, not the value.
		c.Logger.Info("console: connect refused", "connection", nc.Name, "err", err)
		nc.ClientSecret = ""
		c.render(w, r, http.StatusBadRequest, "connect", connectData{
			Providers: c.Backend.Providers(), Form: nc, ParamValues: values, Callback: c.callbackURL(),
			Error: "Not connected: " + fullStop(err.Error()), SecretDropped: r.PostFormValue("client_secret") != "",
		})
		return
	}
	c.audit(r, "connect start", "connection", nc.Name, "provider", nc.Provider)
	c.redirectOut(w, r, authURL)
}

// connectionOf reads the connect form. Each provider's own fields are
// named after it ("param.microsoft.tenant", "token_url.oauth2"), so that
// only the chosen provider's count; values holds them for a re-render.
func connectionOf(r *http.Request) (NewConnection, map[string]string) {
	f := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	nc := NewConnection{
		Name: f("name"), Provider: f("provider"), ClientID: f("client_id"),
		ClientSecret: r.PostFormValue("client_secret"), Scopes: f("scopes"),
		AuthorizeURL: f("authorize_url." + f("provider")), TokenURL: f("token_url." + f("provider")),
	}
	values := map[string]string{}
	prefix := "param." + nc.Provider + "."
	for k := range r.PostForm {
		if v := f(k); strings.HasPrefix(k, prefix) && v != "" {
			if nc.Params == nil {
				nc.Params = map[string]string{}
			}
			nc.Params[strings.TrimPrefix(k, prefix)] = v
			values[strings.TrimPrefix(k, "param.")] = v
		}
	}
	return nc, values
}

// reconnect starts the authorization of an existing connection in this
// browser.
func (c *console) reconnect(w http.ResponseWriter, r *http.Request) {
	authURL, err := c.Backend.BeginReconnect(r.Context(), r.PathValue("name"))
	if err != nil {
		c.actionFailed(w, r, "Could not reconnect: ", err)
		return
	}
	c.audit(r, "reconnect start", "connection", r.PathValue("name"))
	c.redirectOut(w, r, authURL)
}

// redirectOut sends the browser to a provider's consent page. It cannot
// be a redirect: the page's Content-Security-Policy has form-action
// 'self', and Chromium applies form-action to every redirect of a form's
// navigation, so a 303 to the provider is blocked. The answer is a page
// that moves on by itself (a meta refresh, a new navigation that
// form-action does not govern) and has a link for the person to follow
// if it does not. Only an http(s) URL is followed.
func (c *console) redirectOut(w http.ResponseWriter, r *http.Request, authURL string) {
	u, err := url.Parse(authURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		c.serverError(w, r, "start the authorization", fmt.Errorf("consent URL is not http(s): %q", u.Redacted()))
		return
	}
	c.render(w, r, http.StatusOK, "consent", consentData{URL: u.String(), Host: u.Host})
}

// consentData is the page that moves on to the provider: its URL, and
// its host to name.
type consentData struct {
	URL, Host string
}

// ttlChoice is one validity a reconnect link can have.
type ttlChoice struct {
	Value, Label string
	Default      bool
}

// ttlChoices are the validities offered; the server accepts only these.
var ttlChoices = []ttlChoice{
	{"30m", "30 minutes", false}, {"24h", "24 hours", true}, {"72h", "3 days", false}, {"168h", "7 days", false},
}

// createLink makes a reconnect link and shows it once, on the page.
func (c *console) createLink(w http.ResponseWriter, r *http.Request) {
	ttl, ok := ttlOf(r.PostFormValue("ttl"))
	if !ok {
		c.showConnection(w, r, http.StatusBadRequest, connData{Error: "Choose how long the link is valid."})
		return
	}
	link, err := c.Backend.CreateConnectLink(r.Context(), r.PathValue("name"), ttl)
	if err != nil {
		c.actionFailed(w, r, "Could not create a link: ", err)
		return
	}
	attrs := []any{"connection", link.Name, "expires", link.Expires}
	if link.ID != "" {
		attrs = append(attrs, "link", link.ID)
	}
	c.audit(r, "link created", attrs...)
	c.showConnection(w, r, http.StatusOK, connData{Link: link})
}

func ttlOf(v string) (time.Duration, bool) {
	for _, t := range ttlChoices {
		if t.Value == v {
			d, err := time.ParseDuration(v)
			return d, err == nil
		}
	}
	return 0, false
}

// callback is where the provider's consent returns. The application
// checks state and code; the operator lands on the connection, and a
// person who came by a reconnect link (no session) on a page that says
// it is done.
func (c *console) callback(w http.ResponseWriter, r *http.Request) {
	name, err := c.Backend.CompleteAuthorization(r.Context(), r.URL.Query())
	if err != nil {
		c.Logger.Info("console: authorization not completed", "err", err)
		c.fail(w, r, http.StatusBadRequest, "Authorization failed", nothingChanged(err.Error()))
		return
	}
	s, err := c.session(r)
	c.Logger.Info("console: authorization completed", "connection", name, "by", who(s))
	if err == nil {
		http.Redirect(w, r, c.url("/console/connections/"+url.PathEscape(name)+"?done=connected"), http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "connected", name)
}

// linkPage shows a reconnect link: the connection, the provider and one
// button. A GET consumes and starts nothing, so a chat's link preview
// cannot use the link up.
func (c *console) linkPage(w http.ResponseWriter, r *http.Request) {
	link, err := c.Backend.ConnectLink(r.Context(), r.PathValue("token"))
	if err != nil {
		c.linkFailed(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "link", link)
}

// linkStart is the link page's button: it goes to the provider's consent.
func (c *console) linkStart(w http.ResponseWriter, r *http.Request) {
	authURL, link, err := c.Backend.BeginLinkReconnect(r.Context(), r.PathValue("token"))
	if err != nil {
		c.linkFailed(w, r, err)
		return
	}
	c.Logger.Info("console: reconnect start", "connection", link.Name, "by", linkWho(link))
	c.redirectOut(w, r, authURL)
}

// linkFailed answers a link that cannot be used: 410 Gone for a used or
// expired one.
func (c *console) linkFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrLinkUnusable) || errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, http.StatusGone, "Link no longer valid",
			"This reconnect link has been used or has expired. Ask whoever sent it for a new one.")
		return
	}
	c.serverError(w, r, "open the link", err)
}
