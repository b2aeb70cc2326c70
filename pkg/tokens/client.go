package tokens

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/notify"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// Options tunes a Client. The zero value (or nil) is ready to use.
type Options struct {
	// MaxConns bounds the client's database connections, besides the one
	// notification connection. Default 4.
	MaxConns int
	// PollInterval is how often a waiting Get re-reads the row while the
	// notification connection is down. Default 2s.
	PollInterval time.Duration
	// MinValidity is how long a token must still be valid to be handed
	// out; a token closer to expiry is treated as expired. Default 10s.
	MinValidity time.Duration
	// WaitTimeout bounds the wait of TokenSource's Token, which has no
	// context. Default 30s.
	WaitTimeout time.Duration
	// EncryptionKeys are the keys the worker seals tokens with, in the
	// format of TOKENS_ENCRYPTION_KEYS; empty when tokens are stored in
	// plaintext.
	EncryptionKeys string
	// PollOnly keeps no LISTEN connection, for connection poolers in
	// transaction mode (PgBouncer) where LISTEN does not work: waits then
	// re-read the row every PollInterval, and nothing is cached (the cache
	// is safe only while change notifications arrive).
	PollOnly bool
	// DisableCache turns off the in-memory cache.
	DisableCache bool
	// Logger receives the client's warnings; default slog.Default().
	Logger *slog.Logger
}

// Client reads tokens from the oauth_tokens table. It is safe for
// concurrent use; open one per process and share it.
type Client struct {
	store *store.Store
	hub   *hub
	opts  Options
	stop  context.CancelFunc
	done  chan struct{}
	// blocked counts Get calls waiting for a change, so tests can tell a
	// Get is blocked without sleeping.
	blocked atomic.Int64
}

// Open connects to the database at databaseURL and starts listening for
// changes.
func Open(ctx context.Context, databaseURL string, opts *Options) (*Client, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 4
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.MinValidity <= 0 {
		o.MinValidity = 10 * time.Second
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	keys, err := keyring.Parse(o.EncryptionKeys)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	st, err := store.Open(ctx, databaseURL, o.MaxConns)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	st = st.WithKeyring(keys)
	lctx, stop := context.WithCancel(context.Background())
	c := &Client{store: st, hub: newHub(o.DisableCache), opts: o, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		if !o.PollOnly {
			notify.Listen(lctx, databaseURL, []string{notify.TokensChannel}, c.hub, o.Logger)
		}
	}()
	return c, nil
}

// Close stops listening and closes the database connections.
func (c *Client) Close() error {
	c.stop()
	<-c.done
	return c.store.Close()
}

// Get returns the current token of the named connection. It blocks while
// the worker is refreshing the connection, and when the token has expired
// with no refresh under way it asks the workers for one and waits. It
// returns at once ErrNotFound, a *ReauthError (errors.Is ErrNeedsReauth) or
// ErrDisabled, and when ctx ends, an error that wraps ctx.Err() and says
// what it was waiting for.
func (c *Client) Get(ctx context.Context, name string) (*Token, error) {
	if t := c.hub.cached(name, time.Now(), c.opts.MinValidity); t != nil {
		return t, nil
	}
	for {
		wake, st, connected, cancel := c.hub.subscribe(name)
		tok, wait, waitingFor, err := c.check(ctx, name, st)
		if tok != nil || err != nil {
			cancel()
			return tok, err
		}
		if !connected {
			wait = min(wait, c.opts.PollInterval)
		}
		if err := c.wait(ctx, wake, wait); err != nil {
			cancel()
			return nil, fmt.Errorf("tokens: %s: gave up waiting for %s: %w", name, waitingFor, err)
		}
		cancel()
	}
}

// wait blocks until wake fires, d passes or ctx ends.
func (c *Client) wait(ctx context.Context, wake <-chan struct{}, d time.Duration) error {
	c.blocked.Add(1)
	defer c.blocked.Add(-1)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-wake:
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// check reads the row once. It returns the token if one can be handed out;
// otherwise how long to wait at most before reading again and what for.
func (c *Client) check(ctx context.Context, name string, st stamp) (*Token, time.Duration, string, error) {
	row, err := c.store.GetForConsumer(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, 0, "", fmt.Errorf("%w: %s", ErrNotFound, name)
	case err != nil:
		if ctx.Err() != nil {
			return nil, 0, "", fmt.Errorf("tokens: %s: gave up reading the token: %w", name, ctx.Err())
		}
		return nil, 0, "", fmt.Errorf("tokens: %w", err)
	case row.Status == model.StatusNeedsReauth:
		return nil, 0, "", &ReauthError{Name: name, LastError: model.Str(row.LastError)}
	case row.Status == model.StatusDisabled:
		return nil, 0, "", fmt.Errorf("%w: %s", ErrDisabled, name)
	}
	now := time.Now()
	tok := fromRow(row)
	if row.LeaseLive(now) {
		// Wake at the lease's end even without a notification: a worker
		// that died holding the claim sends none.
		return nil, row.UpdatingUntil.Sub(now) + 10*time.Millisecond, "the refresh in progress", nil
	}
	if tok.validAt(now, c.opts.MinValidity) {
		c.hub.put(name, tok, st)
		return tok, 0, "", nil
	}
	if !row.HasRefreshToken {
		return nil, 0, "", &ReauthError{Name: name, LastError: "access token expired and there is no refresh token"}
	}
	if !c.hub.recentlyRequested(name, now) {
		if err := c.store.RequestRefresh(ctx, name); err != nil {
			return nil, 0, "", fmt.Errorf("tokens: %w", err)
		}
		c.hub.requested(name)
	}
	what := "a refresh of the expired token"
	if e := model.Str(row.LastError); e != "" {
		what += " (last attempt failed: " + e + ")"
	}
	return nil, c.opts.WaitTimeout, what, nil
}

// Invalidate reports that staleAccessToken was refused by the API it was
// sent to. If the connection still holds that token it is marked for
// refresh and the workers are woken; if it holds a newer one nothing
// happens, so that many callers failing with the same token cause one
// refresh. A following Get waits for the new token.
func (c *Client) Invalidate(ctx context.Context, name, staleAccessToken string) error {
	c.hub.drop(name)
	marked, err := c.store.Invalidate(ctx, name, staleAccessToken)
	if marked {
		// The invalidation already woke the workers; a Get that follows
		// need not ask again.
		c.hub.requested(name)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	case err != nil:
		return fmt.Errorf("tokens: %w", err)
	}
	return nil
}
