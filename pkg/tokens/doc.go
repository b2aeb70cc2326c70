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
// to golang.org/x/oauth2.
package tokens
