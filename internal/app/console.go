package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/authorize"
	"github.com/tokenwarden/tokenwarden/internal/connfile"
	"github.com/tokenwarden/tokenwarden/internal/console"
	"github.com/tokenwarden/tokenwarden/internal/notify"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// The App is what the console reads and changes.
var _ console.Backend = (*App)(nil)

const (
	// authorizationTTL is how long a person has between leaving for the
	// consent page and the callback; RFC 6749 section 4.1.2 recommends
	// codes of at most ten minutes too.
	authorizationTTL = 10 * time.Minute
	// DefaultLinkTTL is a reconnect link's life when none is asked for.
	DefaultLinkTTL = 24 * time.Hour
	// MaxLinkTTL is the longest a reconnect link may live.
	MaxLinkTTL = 7 * 24 * time.Hour
	// CallbackPath is the OAuth redirect's path under TOKENS_PUBLIC_URL.
	CallbackPath = "/oauth/callback"
	// ConnectPath is the path of reconnect links under TOKENS_PUBLIC_URL,
	// the link's secret following it.
	ConnectPath = "/connect/"

	defaultPage, maxPage = 50, 200
)

// HasAdminKey reports whether a live admin key exists.
func (a *App) HasAdminKey(ctx context.Context) (bool, error) { return a.store.HasAdminKey(ctx) }

// SignIn exchanges a live admin key for a new session of
// TOKENS_CONSOLE_SESSION_TTL. The session's token is random (256 bits)
// and only its hash is stored, as for API keys.
func (a *App) SignIn(ctx context.Context, key string) (*console.Session, error) {
	id, ok := apikey.ID(strings.TrimSpace(key))
	if !ok {
		return nil, console.ErrBadCredentials
	}
	k, err := a.store.APIKeyByID(ctx, id)
	switch {
	case errors.Is(err, store.ErrAPIKeyNotFound):
		return nil, console.ErrBadCredentials
	case err != nil:
		return nil, err
	case !k.Admin || k.RevokedAt != nil || !apikey.Verify(strings.TrimSpace(key), k.KeyHash):
		return nil, console.ErrBadCredentials
	}
	token, csrf, err := sessionTokens()
	if err != nil {
		return nil, err
	}
	// The store checks again, in the statement that creates the session,
	// that the key is a live admin key: a revocation in between wins.
	s, err := a.store.CreateSession(ctx, apikey.Hash(token), id, csrf, a.cfg.ConsoleSessionTTL)
	if errors.Is(err, store.ErrNoSession) {
		return nil, console.ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	// A sign-in is a use of the key: `worker apikey list` shows when it
	// last opened the console, as it shows a token-API key's last read.
	if err := a.store.TouchAPIKey(ctx, id); err != nil {
		a.log.Warn("console: recording the admin key's use failed", "key", id, "err", err)
	}
	return &console.Session{Token: token, CSRF: s.CSRF, KeyID: s.KeyID, Label: s.Label, Expires: s.Expires}, nil
}

// sessionTokens returns a new session's cookie token and CSRF token,
// random (256 bits each): only the cookie token's hash is stored.
func sessionTokens() (token, csrf string, err error) {
	if token, err = apikey.Token(); err != nil {
		return "", "", err
	}
	if csrf, err = apikey.Token(); err != nil {
		return "", "", err
	}
	return token, csrf, nil
}

// Session returns the live session whose cookie value is token, or
// console.ErrNoSession.
func (a *App) Session(ctx context.Context, token string) (*console.Session, error) {
	if token == "" {
		return nil, console.ErrNoSession
	}
	s, err := a.store.Session(ctx, apikey.Hash(token))
	if errors.Is(err, store.ErrNoSession) {
		return nil, console.ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	if s.Subject != "" {
		// A session signed in through OpenID Connect: the provider's
		// decision (this person, this email, verified) was taken at
		// sign-in and is not asked again on every page, which would make
		// each click wait on the provider; TOKENS_CONSOLE_SESSION_TTL
		// bounds how long it holds. What this process decides alone is
		// checked again: a session outlives neither OpenID Connect being
		// turned off nor its email leaving TOKENS_OIDC_ALLOW.
		if !a.cfg.OIDC.Enabled() || !allowed(a.cfg.OIDC, s.Email) {
			return nil, console.ErrNoSession
		}
		return &console.Session{CSRF: s.CSRF, Email: s.Email, Expires: s.Expires}, nil
	}
	return &console.Session{CSRF: s.CSRF, KeyID: s.KeyID, Label: s.Label, Expires: s.Expires}, nil
}

// SignOut ends the session whose cookie value is token.
func (a *App) SignOut(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	return a.store.DeleteSession(ctx, apikey.Hash(token))
}

// StatusCounts counts connections by status. needs_reauth and disabled
// are exact; active is the planner's estimate on a table of 10,000 rows
// or more (as /metrics reports it): counting a million rows on every page
// view would cost more than the figure is worth.
func (a *App) StatusCounts(ctx context.Context) (map[string]int64, error) {
	return a.store.StatusCounts(ctx)
}

// Connections returns one page of the console's list, without secrets.
func (a *App) Connections(ctx context.Context, q console.Query) (*console.Page, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = defaultPage
	case limit > maxPage:
		limit = maxPage
	}
	sq := store.ListQuery{Status: q.Status, Provider: q.Provider, Limit: limit + 1}
	var err error
	if sq.NameRegexp, err = nameRegexp(q.Name); err != nil {
		return nil, err
	}
	if sq.After, err = decodeCursor(q.After); err != nil {
		return nil, err
	}
	rows, err := a.store.ListConnections(ctx, sq)
	if err != nil {
		return nil, err
	}
	p := &console.Page{Rows: rows}
	if len(rows) > limit {
		p.Rows = rows[:limit]
		last := p.Rows[limit-1]
		p.Next = encodeCursor(store.ListCursor{Expires: last.AccessTokenExpires, Name: last.Name})
	}
	return p, nil
}

// cursor is a list position as the console carries it: opaque to it.
type cursor struct {
	Expires *time.Time `json:"e,omitempty"`
	Name    string     `json:"n"`
}

func encodeCursor(c store.ListCursor) string {
	b, _ := json.Marshal(cursor{Expires: c.Expires, Name: c.Name}) // cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*store.ListCursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c cursor
	if err != nil || json.Unmarshal(b, &c) != nil {
		return nil, errors.New("this page's position is not valid; start again from the first page")
	}
	return &store.ListCursor{Expires: c.Expires, Name: c.Name}, nil
}

// nameRegexp turns the console's name filter into the case-insensitive
// regular expression the list matches (PostgreSQL's ~*): a glob (path.Match
// syntax, when it has * ? or [) matches whole names; anything else is a
// substring. Every other character is escaped, so a filter is never
// read as a pattern it did not mean.
func nameRegexp(filter string) (string, error) {
	filter = strings.TrimSpace(filter)
	if filter == "" {
		return "", nil
	}
	if !strings.ContainsAny(filter, "*?[") {
		return quoteRegexp(filter), nil
	}
	if _, err := path.Match(filter, ""); err != nil {
		return "", fmt.Errorf("the name filter %q is not a valid glob", filter)
	}
	var b strings.Builder
	b.WriteString("^")
	inClass := false
	for i := 0; i < len(filter); i++ {
		c := filter[i]
		switch {
		case c == '\\' && i+1 < len(filter):
			i++
			b.WriteString(quoteRegexp(filter[i : i+1]))
		case inClass && c == ']':
			inClass = false
			b.WriteByte(c)
		case inClass && (c == '^' || c == '-'):
			b.WriteByte(c)
		case inClass:
			b.WriteString(quoteRegexp(string(c)))
		case c == '[':
			inClass = true
			b.WriteByte(c)
		case c == '*':
			b.WriteString(".*")
		case c == '?':
			b.WriteString(".")
		default:
			b.WriteString(quoteRegexp(string(c)))
		}
	}
	b.WriteString("$")
	return b.String(), nil
}

// quoteRegexp escapes every character of s that is not a letter or a
// digit: in PostgreSQL's regular expressions a backslash before any other
// character makes it literal.
func quoteRegexp(s string) string {
	var b strings.Builder
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r < 0x80 {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Connection returns one connection without its secrets.
func (a *App) Connection(ctx context.Context, name string) (*model.OAuthToken, error) {
	return a.store.Connection(ctx, name)
}

// ConnectionsNamed returns those of the named connections that exist, by
// name, without their secrets, in one statement.
func (a *App) ConnectionsNamed(ctx context.Context, names []string) (map[string]*model.OAuthToken, error) {
	return a.store.Describe(ctx, names)
}

// Disable takes a connection out of service (SetDisabled).
func (a *App) Disable(ctx context.Context, name string) error {
	_, err := a.SetDisabled(ctx, name)
	return err
}

// Enable puts a connection back in service (SetEnabled).
func (a *App) Enable(ctx context.Context, name string) error {
	_, err := a.SetEnabled(ctx, name)
	return err
}

// CreateAPIKey creates an admin key, or a token-API key for k.Patterns,
// and returns it whole, the only time it is shown.
func (a *App) CreateAPIKey(ctx context.Context, k console.NewAPIKey) (string, error) {
	key, err := a.GenerateAPIKey(ctx, k.Label, k.Patterns, k.Admin)
	if err != nil {
		return "", err
	}
	return key.Secret, nil
}

// Providers lists the templates that can be connected in a browser: those
// with an authorization-code flow and the refresh_token grant, and the
// generic oauth2, whose URLs a person gives.
func (a *App) Providers() []console.Provider {
	var out []console.Provider
	for _, name := range a.catalogue.Names() {
		t, _ := a.catalogue.Lookup(name)
		generic := name == "oauth2"
		if t.Exchange != "" || t.Encoding == "json" || t.CheckGrant(model.GrantRefreshToken) != nil || (t.AuthURL == "" && !generic) {
			continue
		}
		p := console.Provider{Name: name, DisplayName: name, NeedsURLs: generic}
		for _, k := range sortedKeys(t.Params) {
			p.Params = append(p.Params, console.Param{Name: k, Default: t.Params[k]})
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// redirectURI is the hosted flow's redirect URI, TOKENS_PUBLIC_URL +
// CallbackPath, or an error saying to set TOKENS_PUBLIC_URL.
func (a *App) redirectURI() (string, error) {
	base, err := a.cfg.PublicBase()
	if err != nil {
		return "", err
	}
	return base + CallbackPath, nil
}

// BeginConnect validates a new connection as `worker import` and `worker
// authorize` do, before the person is sent anywhere, records a pending
// authorization (the client secret sealed) and returns the consent URL.
// Nothing is written to oauth_tokens until the callback.
func (a *App) BeginConnect(ctx context.Context, c console.NewConnection) (string, error) {
	redirect, err := a.redirectURI()
	if err != nil {
		return "", err
	}
	rec := connfile.Record{Name: strings.TrimSpace(c.Name), Provider: &c.Provider, ClientID: &c.ClientID,
		ClientSecret: given(c.ClientSecret), Scopes: given(c.Scopes), TokenURL: given(c.TokenURL), AuthorizeURL: given(c.AuthorizeURL)}
	if c.Provider == "" {
		rec.Provider = given("oauth2")
	}
	for k, v := range c.Params {
		if v != "" {
			if rec.Params == nil {
				rec.Params = map[string]any{}
			}
			rec.Params[k] = v
		}
	}
	row, err := rec.Validate(a.catalogue, time.Now())
	if err != nil {
		return "", err
	}
	found, err := a.store.Describe(ctx, []string{row.Name})
	if err != nil {
		return "", err
	}
	if found[row.Name] != nil {
		return "", fmt.Errorf("a connection named %s already exists; reconnect it from its page instead", row.Name)
	}
	if err := a.browserReady(*rec.Provider, ""); err != nil {
		return "", fmt.Errorf("%s: %w", row.Name, err)
	}
	if err := connfile.CheckEndpoint(&row, nil, a.catalogue, a.policy()); err != nil {
		return "", err
	}
	s := flowSettings{Provider: *rec.Provider, AuthorizeURL: c.AuthorizeURL, TokenURL: c.TokenURL, ClientID: c.ClientID, Scopes: c.Scopes}
	if row.Params != nil {
		s.Params = []byte(*row.Params)
	}
	flow, err := a.newFlow(&s, c.ClientSecret, 0, 0)
	if err != nil {
		return "", err
	}
	p := flow.Start(redirect)
	settings, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	err = a.store.CreateAuthorization(ctx, apikey.Hash(p.State), &store.Authorization{Name: row.Name, RedirectURI: redirect,
		Verifier: p.Verifier, Settings: settings, ClientSecret: c.ClientSecret}, authorizationTTL)
	if err != nil {
		return "", err
	}
	return p.URL, nil
}

// given is a form field as a record or row holds it: nil when empty,
// which leaves the stored or the template's value.
func given(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// BeginReconnect starts the authorization of an existing connection, with
// its stored settings, and returns the consent URL.
func (a *App) BeginReconnect(ctx context.Context, name string) (string, error) {
	return a.beginReconnect(ctx, name, nil)
}

// beginReconnect starts a reconnect of the named connection, from link if
// not nil (then only of the link's connection).
func (a *App) beginReconnect(ctx context.Context, name string, link *store.ConnectLink) (string, error) {
	redirect, err := a.redirectURI()
	if err != nil {
		return "", err
	}
	row, flow, err := a.reconnectFlow(ctx, name)
	if err != nil {
		return "", err
	}
	p := flow.Start(redirect)
	settings, err := json.Marshal(settingsOf(row))
	if err != nil {
		return "", err
	}
	pending := &store.Authorization{TokenID: &row.ID, Name: row.Name, RedirectURI: redirect, Verifier: p.Verifier, Settings: settings}
	if link != nil {
		if link.TokenID != row.ID {
			return "", console.ErrLinkUnusable
		}
		pending.LinkID = &link.ID
	}
	err = a.store.CreateAuthorization(ctx, apikey.Hash(p.State), pending, authorizationTTL)
	if errors.Is(err, store.ErrLinkUnusable) {
		return "", console.ErrLinkUnusable
	}
	if err != nil {
		return "", err
	}
	return p.URL, nil
}

// reconnectFlow reads the named connection, its secrets opened, and
// prepares the flow that reconnects it, refusing one that cannot be.
func (a *App) reconnectFlow(ctx context.Context, name string) (*model.OAuthToken, *authorize.Flow, error) {
	row, err := a.store.Get(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	if row.Status == model.StatusDisabled {
		return nil, nil, fmt.Errorf("%s is disabled: enable it before reconnecting it", name)
	}
	if err := a.browserReady(row.Provider, row.Grant); err != nil {
		return nil, nil, fmt.Errorf("%s cannot be reconnected: %w", name, err)
	}
	t, _ := a.catalogue.Lookup(row.Provider)
	if t.AuthURL == "" && store.Str(row.AuthorizeURL) == "" {
		return nil, nil, fmt.Errorf("%s has no authorization URL: give the connection its authorize_url (worker import) to reconnect it in a browser", name)
	}
	secret := ""
	if row.ClientSecret != nil {
		secret = row.ClientSecret.Reveal()
	}
	s := settingsOf(row)
	flow, err := a.newFlow(&s, secret, 0, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%s cannot be reconnected: %w", name, err)
	}
	return row, flow, nil
}

// CompleteAuthorization finishes the authorization the callback's query
// names (its state), once: the pending authorization is consumed first,
// in one statement, so a forged, replayed or expired state changes
// nothing; a provider's error or a refused code stores nothing. The tokens
// are stored in place through the import path (store.StoreAuthorization),
// with the link the flow began from used up in the same transaction. The
// error's text can be shown to a person.
func (a *App) CompleteAuthorization(ctx context.Context, q url.Values) (string, error) {
	state := q.Get("state")
	if state == "" {
		return "", errors.New("the redirect carries no state, so it belongs to no authorization; nothing was stored")
	}
	p, err := a.store.ConsumeAuthorization(ctx, apikey.Hash(state))
	if errors.Is(err, store.ErrNoAuthorization) {
		return "", errors.New("this authorization is unknown, already completed or expired (each lasts 10 minutes); nothing was stored: start it again")
	}
	if err != nil {
		return "", err
	}
	var s flowSettings
	if err := json.Unmarshal(p.Settings, &s); err != nil {
		return "", fmt.Errorf("the pending authorization of %s is unreadable: %w", p.Name, err)
	}
	secret, row := p.ClientSecret, store.ImportRow{Name: p.Name}
	if p.TokenID != nil {
		cur, err := a.store.Get(ctx, p.Name)
		if err != nil {
			return "", err
		}
		if cur.ID != *p.TokenID {
			return "", fmt.Errorf("%s was deleted while it was being authorized; nothing was stored", p.Name)
		}
		// An operator who disables a connection takes it out of service
		// until they enable it: no reconnect, least of all a link's,
		// puts it back.
		if cur.Status == model.StatusDisabled {
			return "", fmt.Errorf("%s was disabled while it was being authorized; nothing was stored", p.Name)
		}
		if cur.ClientSecret != nil {
			secret = cur.ClientSecret.Reveal()
		}
	} else {
		row = newConnectionRow(p.Name, &s, secret)
	}
	flow, err := a.newFlow(&s, secret, 0, 0)
	if err != nil {
		return "", err
	}
	res, err := flow.Finish(ctx, q, p.Verifier, p.RedirectURI)
	if err != nil {
		return "", fmt.Errorf("%s: %w; nothing was stored", p.Name, err)
	}
	if err := a.store.StoreAuthorization(ctx, withTokens(row, res), p); err != nil {
		if errors.Is(err, store.ErrLinkUnusable) {
			return "", console.ErrLinkUnusable
		}
		return "", err
	}
	if res.Warning != "" {
		a.log.Warn("authorization stored with a warning", "connection", p.Name, "warning", res.Warning)
	}
	return p.Name, nil
}

// newConnectionRow is the row a new connection is stored as: what
// BeginConnect validated.
func newConnectionRow(name string, s *flowSettings, secret string) store.ImportRow {
	return store.ImportRow{Name: name, Provider: &s.Provider, ClientID: &s.ClientID,
		TokenURL: given(s.TokenURL), AuthorizeURL: given(s.AuthorizeURL), Scopes: given(s.Scopes), ClientSecret: given(secret),
		Params: given(string(s.Params))}
}

// CreateConnectLink makes a reconnect link made in the console.
func (a *App) CreateConnectLink(ctx context.Context, name string, ttl time.Duration) (*console.Link, error) {
	return a.CreateConnectLinkBy(ctx, name, ttl, "console")
}

// CreateConnectLinkBy makes a single-use reconnect link for the named
// connection, valid for ttl (0: DefaultLinkTTL; at most MaxLinkTTL), and
// records who made it (by). The link is TOKENS_PUBLIC_URL + ConnectPath +
// a random 256-bit secret, of which only the hash is stored.
//
// Why not an HMAC-signed link: a random secret whose hash is stored is as
// unforgeable as a signature, and unlike a signature it can be used once
// (used_at, set with the tokens it let in) and revoked server-side, and it
// needs no signing key to configure, rotate or leak.
func (a *App) CreateConnectLinkBy(ctx context.Context, name string, ttl time.Duration, by string) (*console.Link, error) {
	switch {
	case ttl == 0:
		ttl = DefaultLinkTTL
	case ttl < time.Minute || ttl > MaxLinkTTL:
		return nil, fmt.Errorf("a reconnect link lasts between 1m and %s, not %s", MaxLinkTTL, ttl)
	}
	base, err := a.cfg.PublicBase()
	if err != nil {
		return nil, err
	}
	// Refused now, not when the account owner opens the link.
	if _, _, err := a.reconnectFlow(ctx, name); err != nil {
		return nil, err
	}
	secret, err := apikey.Token()
	if err != nil {
		return nil, err
	}
	l, err := a.store.CreateConnectLink(ctx, apikey.Hash(secret), name, by, ttl)
	if err != nil {
		return nil, err
	}
	return &console.Link{ID: l.ID.String(), URL: base + ConnectPath + secret, Name: l.Name, Provider: l.Provider, Expires: l.Expires, CreatedAt: l.CreatedAt}, nil
}

// ConnectLink returns the unused, unexpired link whose secret is token,
// or console.ErrLinkUnusable. It consumes nothing.
func (a *App) ConnectLink(ctx context.Context, token string) (*console.Link, error) {
	l, c, err := a.link(ctx, token)
	if err != nil {
		return nil, err
	}
	return linkView(l, c), nil
}

// link returns the usable link whose secret is token, and its
// connection. A link of a disabled connection waits, unusable, until the
// connection is enabled: an operator who disabled it took it out of
// service, and the account owner cannot put it back.
func (a *App) link(ctx context.Context, token string) (*store.ConnectLink, *model.OAuthToken, error) {
	if token == "" {
		return nil, nil, console.ErrLinkUnusable
	}
	l, err := a.store.ConnectLink(ctx, apikey.Hash(token))
	if errors.Is(err, store.ErrLinkUnusable) {
		return nil, nil, console.ErrLinkUnusable
	}
	if err != nil {
		return nil, nil, err
	}
	c, err := a.store.Connection(ctx, l.Name)
	if err != nil {
		return nil, nil, err
	}
	if c.Status == model.StatusDisabled {
		return nil, nil, fmt.Errorf("%w: %s is disabled", console.ErrLinkUnusable, l.Name)
	}
	return l, c, nil
}

// linkView is link l of connection c as the link's page shows it, with
// the host of c's own authorization URL, if it has one.
func linkView(l *store.ConnectLink, c *model.OAuthToken) *console.Link {
	v := &console.Link{ID: l.ID.String(), Name: l.Name, Provider: l.Provider, Expires: l.Expires, CreatedAt: l.CreatedAt}
	if c.AuthorizeURL != nil {
		if u, err := url.Parse(*c.AuthorizeURL); err == nil {
			v.Host = u.Host
		}
	}
	return v
}

// BeginLinkReconnect starts the reconnect a link allows, of its one
// connection, and returns the consent URL and the link. The link is used
// up when the tokens are stored, not before.
func (a *App) BeginLinkReconnect(ctx context.Context, token string) (string, *console.Link, error) {
	l, c, err := a.link(ctx, token)
	if err != nil {
		return "", nil, err
	}
	authURL, err := a.beginReconnect(ctx, l.Name, l)
	if err != nil {
		return "", nil, err
	}
	return authURL, linkView(l, c), nil
}

// Watch calls changed with a connection's name whenever it changes (the
// tokenwarden_tokens notifications), and connected with the listener's
// state: true once LISTEN is in place (and again after each reconnect),
// false when the connection is lost, until ctx ends or stop is called.
// Neither may block: they are called from the listener. It shares the
// process's LISTEN connection when Serve or Run holds one, else holds its
// own. In poll-only mode nothing is ever notified: console.ErrNotLive.
func (a *App) Watch(ctx context.Context, changed func(name string), connected func(up bool)) (stop func(), err error) {
	if a.cfg.PollOnly {
		return nil, console.ErrNotLive
	}
	ctx, cancel := context.WithCancel(ctx)
	hub, stopHub := a.hub.Load(), func() {}
	if hub == nil {
		hub, stopHub = a.runHub(ctx, notify.TokensChannel)
	}
	// The hub tells a new subscriber its state at once (false until its
	// LISTEN is in place), then every change of it.
	unsubscribe := hub.Subscribe(notify.TokensChannel, changed, connected)
	var wg sync.WaitGroup
	wg.Go(func() {
		<-ctx.Done()
		unsubscribe()
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			stopHub()
		})
	}, nil
}
