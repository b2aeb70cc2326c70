package provider

import "github.com/tokenwarden/tokenwarden/pkg/model"

// Request is one connection as an exchange needs it, the way x/oauth2's
// Config and Token describe one: the template it follows, the endpoint, the
// client, its secrets, the grant and the provider parameters. The worker
// builds it once from a claimed row, whose secrets it has already opened;
// this package never sees the row. An empty field takes the template's
// value where the template has one.
type Request struct {
	// Provider names the template, by name or alias.
	Provider string
	// TokenURL overrides the template's token endpoint. Its
	// {placeholders} are filled from Params, then the template's params.
	TokenURL string
	// AuthStyle overrides the template's client authentication ("basic",
	// "post", "bearer" or "none"); it is never auto-detected.
	AuthStyle string
	ClientID  string
	// ClientSecret and RefreshToken are revealed only where they are sent.
	// The client ID is sent with the secret (inside the Basic header), so
	// every error is scrubbed of the pair too.
	ClientSecret model.Secret
	// RefreshToken is the grant. The Webex service-app exchange may do
	// without one (it then asks for an application token).
	RefreshToken model.Secret
	// Scopes is sent as it is by templates that re-send scopes.
	Scopes string
	// Grant is how the token is obtained (model.Grant*); "" is the
	// refresh-token grant.
	Grant string
	// Params fill the templates' placeholders and tune the exchange
	// (lifetime, Webex's app_id): see ParseParams.
	Params map[string]string
}

// redactor is the Redactor for an exchange of q that also sent values.
func (q *Request) redactor(values ...string) Redactor {
	return NewRedactor(q.ClientID, q.ClientSecret.Reveal(), append(values, q.RefreshToken.Reveal())...)
}
