// Package tokens gives Go applications the current access token of a
// connection kept fresh by the tokenwarden worker.
//
//	c, err := tokens.Open(ctx, os.Getenv("DATABASE_URL"), nil)
//	...
//	tok, err := c.Get(ctx, "xero-acme")
//	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
//
// Get never returns an expired token. While the worker is refreshing a
// connection, Get blocks and returns the moment the new token is committed:
// a trigger on the table sends a notification on every change, and the
// client keeps one LISTEN connection open for all its callers. Only while
// that connection is down does the client fall back to polling.
//
// Tokens are cached in memory by default, but only while the notification
// connection is up: any change notification for a name drops its entry, and
// an entry is never served past its token's expiry.
//
// An application that gets 401 from an API calls Invalidate with the token
// it used; the row is marked due only if it still holds that token, so many
// callers failing at once cause one refresh. TokenSource adapts a connection
// to golang.org/x/oauth2, and Transport retries a request once on 401 with
// the refreshed token. Ready tells a readiness probe whether the client can
// work.
//
// # Connections
//
// Open opens a small pool of its own (Options.MaxConns) and one LISTEN
// connection beside it. An application that already has a pool passes it
// in Options.DB instead: a *sql.DB, because database/sql is what every
// PostgreSQL driver offers, the worker's own pool included (a
// *pgxpool.Pool becomes one with stdlib.OpenDBFromPool). The client's
// statements run on any driver. Its LISTEN connection is still one of its
// own if Open is given the database URL too; without it, it is one of the
// pool's, held while the client is open and closed afterwards rather than
// handed back still listening, which keeps the application's bound on
// connections true and its connection settings (credentials, TLS) in one
// place, and needs the pgx driver, the only one that lets database/sql
// wait for a notification. Options.PollOnly keeps no LISTEN connection at
// all, for PgBouncer in transaction mode; Options.Listener subscribes to a
// LISTEN connection the process already holds, on the channel
// ChangesChannel, so that several users in one process (the worker and its
// token HTTP API) share one.
//
// # Encryption
//
// When the worker seals tokens (TOKENS_ENCRYPTION_KEYS), pass its keys in
// Options.EncryptionKeys; ParseKeys reads the variable's format. The client
// reads only what sql/roles.sql grants the tokenwarden_consumer role: the
// access token, never the refresh token or client secret.
package tokens
