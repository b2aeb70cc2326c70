package console

import (
	"net/http"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
)

// audit writes the one Info line of a state-changing action that
// happened: "console: <action>", what it was done to (attrs: the
// connection's name or a key's id) and who did it. Nothing in it is a
// secret: names, key ids and labels only, never a key, a token or a
// link's URL.
func (c *console) audit(r *http.Request, action string, attrs ...any) {
	c.Logger.Info("console: "+action, append(attrs, "by", who(sessionOf(r.Context())))...)
}

// who names the operator of a session by its admin key, or by the email
// they signed in with through OpenID Connect, or, with no session, the
// reconnect link a person came by.
func who(s *Session) string {
	switch {
	case s == nil:
		return "reconnect link"
	case s.Email != "":
		return "oidc " + s.Email
	}
	return "admin key " + s.KeyID + " (" + s.Label + ")"
}

// linkWho names a reconnect link by its id (never its secret), when the
// Backend gives it.
func linkWho(l *Link) string {
	if l == nil || l.ID == "" {
		return "reconnect link"
	}
	return "reconnect link " + l.ID
}

// keyID is the id of a key just created: the part of it that is not
// secret, as `worker apikey list` shows it.
func keyID(secret string) string {
	id, _ := apikey.ID(secret)
	return id
}
