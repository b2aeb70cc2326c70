package tokens

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/notify"
	"github.com/tokenwarden/tokenwarden/internal/testsignal"
	"github.com/tokenwarden/tokenwarden/pkg/model"
	"github.com/tokenwarden/tokenwarden/pkg/tokens/internal/reader"
)

// Options tunes a Client. The zero value (or nil) is ready to use.
type Options struct {
	// DB is a pool the client runs its statements on instead of opening
	// its own; Close leaves it open. Its LISTEN connection is then one of
	// its own to Open's databaseURL if given, or else one of DB's, held
	// while the client is open (size the pool for it), which needs the pgx
	// driver (github.com/jackc/pgx/v5/stdlib; a *pgxpool.Pool becomes a
	// *sql.DB with stdlib.OpenDBFromPool). The statements themselves run on
	// any PostgreSQL driver.
	DB *sql.DB
	// MaxConns bounds the connections of the pool Open opens, besides the
	// one notification connection. Default 4. Unused with DB.
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
	// EncryptionKeys are the keys the worker seals tokens with (ParseKeys
	// reads them from TOKENS_ENCRYPTION_KEYS); none when tokens are stored
	// in plaintext. Any of them opens a token, so their order does not
	// matter here.
	EncryptionKeys []Key
	// PollOnly keeps no LISTEN connection, for connection poolers in
	// transaction mode (PgBouncer) where LISTEN does not work: waits then
	// re-read the row every PollInterval, and nothing is cached (the cache
	// is safe only while change notifications arrive).
	PollOnly bool
	// Listener is a LISTEN connection the process already holds: the
	// client subscribes to it instead of opening one of its own. Not with
	// PollOnly.
	Listener Listener
	// DisableCache turns off the in-memory cache.
	DisableCache bool
	// Logger receives the client's warnings; default slog.Default().
	Logger *slog.Logger
}

// Listener is a LISTEN connection shared by several users of a process,
// such as the worker and the token HTTP API it serves. A Client given one
// in Options.Listener subscribes to the channel ChangesChannel on it; the
// listener must LISTEN on that channel.
type Listener interface {
	// Subscribe calls notify with the payload of each notification on
	// channel, and connected with the connection's state at once and each
	// time it changes (a notification may have been missed: the client
	// then forgets what it cached), until unsubscribe is called.
	Subscribe(channel string, notify func(payload string), connected func(up bool)) (unsubscribe func())
}

// ChangesChannel is the PostgreSQL notification channel, "tokenwarden_tokens",
// on which the table's trigger sends a connection's name whenever its
// token, its updating flag or its status changes.
const ChangesChannel = notify.TokensChannel

// Client reads tokens from the oauth_tokens table. It is safe for
// concurrent use; open one per process and share it.
type Client struct {
	read *reader.Reader
	hub  *hub
	opts Options
	// closeDB closes the pool Open opened; nil when it is Options.DB.
	closeDB     func() error
	unsubscribe func()
	// stop ends the client's own LISTEN connection, if it has one, and
	// done is closed when it has ended.
	stop context.CancelFunc
	done chan struct{}
	// waiting is sent a connection's name each time a Get starts waiting
	// for it to change, for tests; off (a nil check) unless a test Inits it.
	waiting testsignal.Signal[string]
}

// Open connects to the database at databaseURL, or uses Options.DB, and
// starts listening for changes. databaseURL may be empty with Options.DB.
func Open(ctx context.Context, databaseURL string, opts *Options) (*Client, error) {
	o := withDefaults(opts)
	keys, err := keyring.New(toKeyring(o.EncryptionKeys))
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	if o.PollOnly && o.Listener != nil {
		return nil, errors.New("tokens: Options.PollOnly and Options.Listener exclude each other")
	}
	db, closeDB, err := openDB(ctx, databaseURL, o)
	if err != nil {
		return nil, err
	}
	c := &Client{read: reader.New(db, keys), hub: newHub(o.DisableCache), opts: o, closeDB: closeDB}
	if err := c.listen(databaseURL, db); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func withDefaults(opts *Options) Options {
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
	return o
}

// openDB returns Options.DB, or a pool of its own on databaseURL with the
// function that closes it; either way it checks that the server answers.
func openDB(ctx context.Context, databaseURL string, o Options) (db *sql.DB, closeDB func() error, err error) {
	if o.DB != nil {
		db = o.DB
	} else {
		cfg, err := pgx.ParseConfig(databaseURL)
		if err != nil {
			return nil, nil, fmt.Errorf("tokens: %w", err)
		}
		db = stdlib.OpenDB(*cfg)
		db.SetMaxOpenConns(o.MaxConns)
		db.SetMaxIdleConns(o.MaxConns)
		db.SetConnMaxIdleTime(5 * time.Minute)
		closeDB = db.Close
	}
	if err := db.PingContext(ctx); err != nil {
		if closeDB != nil {
			_ = closeDB() // the ping's error is the one to report
		}
		return nil, nil, fmt.Errorf("tokens: connect to database: %w", err)
	}
	return db, closeDB, nil
}

// listen subscribes the client to change notifications: on Options.Listener,
// or on a LISTEN connection of its own, to databaseURL beside the pool or
// else held from Options.DB. In PollOnly mode there are none.
func (c *Client) listen(databaseURL string, db *sql.DB) error {
	if c.opts.Listener != nil {
		c.unsubscribe = c.opts.Listener.Subscribe(ChangesChannel, c.hub.changed, c.hub.reset)
		return nil
	}
	if c.opts.PollOnly {
		return nil
	}
	run := func(ctx context.Context, h *notify.Hub) { h.Run(ctx, databaseURL, c.opts.Logger) }
	if databaseURL == "" {
		if err := notify.CheckDB(db); err != nil {
			return fmt.Errorf("tokens: Options.DB: %w; give a database URL for the LISTEN connection, or set Options.PollOnly or Options.Listener", err)
		}
		run = func(ctx context.Context, h *notify.Hub) { h.RunDB(ctx, db, c.opts.Logger) }
	}
	own := notify.NewHub(ChangesChannel)
	ctx, stop := context.WithCancel(context.Background())
	c.stop, c.done = stop, make(chan struct{})
	go func() {
		defer close(c.done)
		run(ctx, own)
	}()
	c.unsubscribe = own.Subscribe(ChangesChannel, c.hub.changed, c.hub.reset)
	return nil
}

// Close stops listening and closes the connections the client opened; a
// pool given in Options.DB stays open.
func (c *Client) Close() error {
	if c.unsubscribe != nil {
		c.unsubscribe()
	}
	if c.stop != nil {
		c.stop()
		<-c.done
	}
	if c.closeDB != nil {
		return c.closeDB()
	}
	return nil
}

// Ready reports whether the client can serve tokens: the database answers,
// the schema is applied, and the role the client connects as has the
// grants sql/roles.sql gives tokenwarden_consumer. It reads no token, and
// answers without waiting for the notification connection, which a client
// can do without (it polls meanwhile).
func (c *Client) Ready(ctx context.Context) error {
	if err := c.read.Ready(ctx); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	return nil
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
		if err := c.wait(ctx, name, wake, wait); err != nil {
			cancel()
			return nil, fmt.Errorf("tokens: %s: gave up waiting for %s: %w", name, waitingFor, err)
		}
		cancel()
	}
}

// wait blocks until wake fires, d passes or ctx ends.
func (c *Client) wait(ctx context.Context, name string, wake <-chan struct{}, d time.Duration) error {
	c.waiting.Signal(name)
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
	row, err := c.read.Get(ctx, name)
	switch {
	case errors.Is(err, reader.ErrNotFound):
		return nil, 0, "", fmt.Errorf("%w: %s", ErrNotFound, name)
	case err != nil:
		if ctx.Err() != nil {
			return nil, 0, "", fmt.Errorf("tokens: %s: gave up reading the token: %w", name, ctx.Err())
		}
		return nil, 0, "", fmt.Errorf("tokens: %w", err)
	case row.Status == model.StatusNeedsReauth:
		return nil, 0, "", &ReauthError{Name: name, LastError: row.LastError}
	case row.Status == model.StatusDisabled:
		return nil, 0, "", fmt.Errorf("%w: %s", ErrDisabled, name)
	}
	now := time.Now()
	tok := fromRow(name, row)
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
		if err := c.read.RequestRefresh(ctx, name); err != nil {
			return nil, 0, "", fmt.Errorf("tokens: %w", err)
		}
		c.hub.requested(name)
	}
	what := "a refresh of the expired token"
	if row.LastError != "" {
		what += " (last attempt failed: " + row.LastError + ")"
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
	marked, err := c.read.Invalidate(ctx, name, staleAccessToken)
	if marked {
		// The invalidation already woke the workers; a Get that follows
		// need not ask again.
		c.hub.requested(name)
	}
	switch {
	case errors.Is(err, reader.ErrNotFound):
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	case err != nil:
		return fmt.Errorf("tokens: %w", err)
	}
	return nil
}
