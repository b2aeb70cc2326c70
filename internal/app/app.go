// Package app is tokenwarden's worker application: what `worker run`,
// `worker serve` and the management commands do, leaving cmd/worker only
// its flags and its output.
//
// Open connects to the database with what every command needs: the
// configuration, the keyring, the provider catalogue and the store. A
// command opens the rest itself, and only if it uses it: Run, Once and
// Refresh open the spool and the webhook notifier, Run and Serve the
// metrics and the token HTTP API. So `worker list` creates no spool
// directory. Close releases what was opened.
//
//	a, err := app.Open(ctx, cfg, log)
//	if err != nil {
//		return err
//	}
//	defer a.Close()
//	return a.Run(ctx)
package app

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/notify"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/spool"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/webhook"
)

// App is the worker application opened for one command.
type App struct {
	cfg       *config.Config
	log       *slog.Logger
	keys      *keyring.Keyring
	catalogue *provider.Catalogue
	store     *store.Store

	// Opened by the commands that refresh (openRefreshing), never by the
	// others: spool when TOKENS_SPOOL_DIR is set, webhooks when
	// TOKENS_WEBHOOK_URL is.
	spool    *spool.Spool
	webhooks *webhook.Notifier

	// hub is the process's LISTEN connection while Serve or Run holds one
	// (listen), which Watch shares.
	hub atomic.Pointer[notify.Hub]

	// oidc is the console's OpenID Connect provider once discovered.
	oidc oidcClient
}

// Open validates cfg, loads the provider catalogue and the keyring, and
// connects to the database. Nothing is created on disk and no goroutine is
// started.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cat, err := provider.LoadCatalogue(cfg.ProvidersFile)
	if err != nil {
		return nil, err
	}
	keys, err := keyring.Parse(cfg.EncryptionKeys)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns)
	if err != nil {
		return nil, err
	}
	return &App{cfg: cfg, log: log, keys: keys, catalogue: cat, store: st.WithKeyring(keys)}, nil
}

// Close delivers the queued webhook events, bounded so that a dead
// endpoint cannot hold the process, and closes the pool.
func (a *App) Close() error {
	if a.webhooks != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.webhooks.Flush(ctx); err != nil {
			a.log.Warn("webhook events not delivered before exit", "err", err)
		}
		cancel()
		a.webhooks.Close()
	}
	return a.store.Close()
}

// Catalogue returns the provider templates.
func (a *App) Catalogue() *provider.Catalogue { return a.catalogue }

// Config returns the configuration the App was opened with.
func (a *App) Config() *config.Config { return a.cfg }

// ErrNoSchema is the error for a database without tokenwarden's tables.
var ErrNoSchema = errors.New("the schema is not applied; run `worker migrate` first")

// openRefreshing opens what refreshing needs beyond Open: the spool, where
// results wait that the database cannot take yet, and the webhook
// notifier.
func (a *App) openRefreshing() error {
	if err := a.openSpool(); err != nil {
		return err
	}
	if a.webhooks == nil {
		if n, ok := webhook.FromConfig(a.cfg, a.log).(*webhook.Notifier); ok {
			a.webhooks = n
		}
	}
	return nil
}

// openSpool opens TOKENS_SPOOL_DIR, creating it, when it is set.
func (a *App) openSpool() error {
	if a.cfg.SpoolDir == "" || a.spool != nil {
		return nil
	}
	sp, err := spool.Open(a.cfg.SpoolDir, a.keys)
	if err != nil {
		return err
	}
	a.spool = sp
	return nil
}

// consumerPoll is how often a waiting consumer re-reads a row without
// notifications: 0 (the library's default) unless in poll-only mode.
func (a *App) consumerPoll() time.Duration {
	if a.cfg.PollOnly {
		return time.Second
	}
	return 0
}
