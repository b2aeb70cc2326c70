package console

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// Backend is what the console reads and changes, all of it through the
// application (internal/app implements it): the console holds no SQL and
// no provider code of its own, so a page can never do what `worker` would
// not. Every method that returns a connection returns it without secrets
// (the value fields of model.Secret are nil).
type Backend interface {
	// HasAdminKey reports whether an admin key exists: the console is on
	// only then.
	HasAdminKey(ctx context.Context) (bool, error)
	// SignIn exchanges an admin API key for a new session. Anything but a
	// live admin key is ErrBadCredentials.
	SignIn(ctx context.Context, adminKey string) (*Session, error)
	// Session returns the live session whose cookie value is token, or
	// ErrNoSession (unknown, expired, signed out, or its key revoked).
	Session(ctx context.Context, token string) (*Session, error)
	// SignOut ends the session; ending an unknown one is not an error.
	SignOut(ctx context.Context, token string) error

	// OIDCIssuer is the issuer URL of the OpenID Connect provider people
	// may sign in through (TOKENS_OIDC_ISSUER), "" when that sign-in is
	// off. The console is on with it even before any admin key exists.
	OIDCIssuer() string
	// BeginOIDCSignIn returns the provider's authorization URL and the
	// flow that binds its answer to this browser (state, nonce, PKCE
	// verifier), which the console keeps in a short-lived cookie.
	BeginOIDCSignIn(ctx context.Context) (authURL string, flow OIDCFlow, err error)
	// CompleteOIDCSignIn takes the callback's query and the browser's
	// flow, exchanges the code, verifies the ID token and, when its
	// verified email is allowed, starts a session. A refused person is
	// ErrNotAllowed (wrapped, with the reason); a forged, replayed or
	// expired flow, or the provider's refusal, is another error whose
	// text can be shown. Either way no session exists.
	CompleteOIDCSignIn(ctx context.Context, query url.Values, flow OIDCFlow) (*Session, error)

	// StatusCounts counts connections by status.
	StatusCounts(ctx context.Context) (map[string]int64, error)
	// Connections returns one page of the list.
	Connections(ctx context.Context, q Query) (*Page, error)
	// Connection returns one connection, or an error wrapping
	// store.ErrNotFound.
	Connection(ctx context.Context, name string) (*model.OAuthToken, error)
	// ConnectionsNamed returns those of the named connections that
	// exist, by name, in one read.
	ConnectionsNamed(ctx context.Context, names []string) (map[string]*model.OAuthToken, error)
	// Events returns a connection's latest refresh attempts, newest first.
	Events(ctx context.Context, name string, limit int) ([]store.Event, error)
	// Refresh refreshes the connection now and returns it as stored.
	Refresh(ctx context.Context, name string) (*model.OAuthToken, error)
	Disable(ctx context.Context, name string) error
	Enable(ctx context.Context, name string) error
	Delete(ctx context.Context, name string) error

	// ListAPIKeys lists every API key, revoked ones included.
	ListAPIKeys(ctx context.Context) ([]store.APIKey, error)
	// CreateAPIKey creates a key and returns it whole, the only time it is
	// ever shown.
	CreateAPIKey(ctx context.Context, k NewAPIKey) (secret string, err error)
	RevokeAPIKey(ctx context.Context, id string) error

	// Providers lists the templates a person can connect in a browser
	// (those with an authorization-code flow), sorted by name.
	Providers() []Provider
	// BeginConnect validates a new connection, records a pending
	// authorization (state, PKCE verifier and the connection's settings,
	// its secret sealed) and returns the provider's consent URL, whose
	// redirect is TOKENS_PUBLIC_URL/oauth/callback. Nothing is stored in
	// oauth_tokens until the authorization completes.
	BeginConnect(ctx context.Context, c NewConnection) (authURL string, err error)
	// BeginReconnect does the same for an existing connection, with its
	// stored settings.
	BeginReconnect(ctx context.Context, name string) (authURL string, err error)
	// CompleteAuthorization takes the callback's query (state, code or
	// error), consumes the pending authorization it names, exchanges the
	// code and stores the tokens in place: same row, version bumped,
	// status active, a claim in flight fenced, waiting consumers woken.
	// It returns the connection's name. A forged, replayed or expired
	// state, or a refused code, changes nothing and returns an error whose
	// text can be shown to a person.
	CompleteAuthorization(ctx context.Context, query url.Values) (name string, err error)

	// CreateConnectLink makes a single-use reconnect link for one
	// connection, valid for ttl, and returns it (URL included).
	CreateConnectLink(ctx context.Context, name string, ttl time.Duration) (*Link, error)
	// ConnectLink returns the unused, unexpired link whose secret is
	// token, or ErrLinkUnusable. It consumes nothing: a GET shows it.
	ConnectLink(ctx context.Context, token string) (*Link, error)
	// BeginLinkReconnect starts the reconnect a link allows (its POST
	// button) and returns the consent URL and the link, or the error
	// ConnectLink would return. The link is consumed when the
	// authorization completes, not before, so a person who abandons the
	// consent page can try again until it expires.
	BeginLinkReconnect(ctx context.Context, token string) (authURL string, link *Link, err error)

	// Watch calls changed with a connection's name whenever it changes
	// (the tokenwarden_tokens notifications), and connected with true
	// once it is listening, again after every reconnect, and with false
	// when the connection is lost, until ctx ends or stop is called. A
	// change made while it is not listening is never notified, so a
	// caller catches up after each connected(true). Neither function may
	// block. It returns ErrNotLive, and nothing is ever called, when the
	// deployment has no notifications (TOKENS_POLL_ONLY).
	Watch(ctx context.Context, changed func(name string), connected func(up bool)) (stop func(), err error)
}

var (
	// ErrBadCredentials is the error of a sign-in with something that is
	// not a live admin key.
	ErrBadCredentials = errors.New("not a valid admin key")
	// ErrNoSession means no live session has that token.
	ErrNoSession = errors.New("no such session")
	// ErrLinkUnusable means the reconnect link is unknown, used or expired.
	ErrLinkUnusable = errors.New("this reconnect link has been used or has expired")
	// ErrNotAllowed is CompleteOIDCSignIn's error for a person the
	// provider vouched for but TOKENS_OIDC_ALLOW does not list, or whose
	// email the provider has not verified.
	ErrNotAllowed = errors.New("not allowed to use this console")
	// ErrNotLive is Watch's error when no change is ever notified
	// (TOKENS_POLL_ONLY): pages show what they read and say so.
	ErrNotLive = errors.New("change notifications are off (TOKENS_POLL_ONLY)")
)

// Session is a signed-in operator.
type Session struct {
	// Token is the cookie's value; set only by SignIn.
	Token string
	// CSRF is the token every state-changing request must carry.
	CSRF string
	// KeyID and Label name the admin key that signed in; both are ""
	// for a session signed in through OpenID Connect.
	KeyID, Label string
	// Email names the person signed in through OpenID Connect, "" for an
	// admin key's session.
	Email   string
	Expires time.Time
}

// OIDCFlow is one OpenID Connect sign-in between the provider's page and
// the callback: random values only the browser that began it holds.
type OIDCFlow struct {
	// State must come back in the callback's query; Nonce in the ID
	// token; Verifier is the PKCE (S256) code verifier.
	State, Nonce, Verifier string
	// Next is the console path to land on once signed in.
	Next string
}

// Query selects one page of the connections list, sorted by access-token
// expiry (soonest first, never-expiring last), then name.
type Query struct {
	// Status, Provider: exact match when not empty.
	Status, Provider string
	// Name: a glob (path.Match syntax, when it has * ? or [) or else a
	// substring, case-insensitive.
	Name string
	// After is the cursor of the previous page's last row ("" = first
	// page).
	After string
	// Limit is the page size; 0 means 50.
	Limit int
}

// Page is one page of connections.
type Page struct {
	Rows []model.OAuthToken
	// Next is the cursor of the next page, "" on the last page.
	Next string
}

// NewAPIKey is a key to create.
type NewAPIKey struct {
	Label string
	// Patterns are the globs of the connections a token-API key reads;
	// ignored for an admin key.
	Patterns []string
	Admin    bool
}

// Provider is a template a person can connect.
type Provider struct {
	Name, DisplayName string
	// Params are the template parameters a person fills in (e.g.
	// Microsoft's tenant), with their defaults.
	Params []Param
	// Scopes is the template's default scope, if any.
	Scopes string
	// NeedsURLs: the generic oauth2 template, where the person gives the
	// authorization and token URLs.
	NeedsURLs bool
}

// Param is a template parameter.
type Param struct{ Name, Default string }

// NewConnection is what the connect form sends.
type NewConnection struct {
	Name, Provider         string
	ClientID, ClientSecret string
	Scopes                 string
	Params                 map[string]string
	// AuthorizeURL and TokenURL, for a generic oauth2 connection.
	AuthorizeURL, TokenURL string
}

// Link is a reconnect link.
type Link struct {
	// URL is the whole link; set only by CreateConnectLink.
	URL string
	// ID names the link in the audit log (never its secret); "" when
	// the Backend does not give it.
	ID                 string
	Name, Provider     string
	Expires, CreatedAt time.Time
	// Host is the host of the connection's own authorization URL, named
	// on the link page's button; "" when the connection has none and
	// goes to its template's (set by ConnectLink and BeginLinkReconnect).
	Host string
}
