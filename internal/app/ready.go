package app

import (
	"context"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Ready reports whether the App can serve: the database answers and the
// schema is applied. /readyz asks it on every probe, and every command
// that starts a worker or a server asks it first (see checkStart), so the
// two never disagree.
func (a *App) Ready(ctx context.Context) error {
	err := a.store.Ready(ctx)
	if store.IsUndefinedTable(err) {
		return ErrNoSchema
	}
	return err
}

// checkStart fails before any refresh or request when the App is not
// Ready, or when the table or the spool holds secrets sealed with a key the
// keyring lacks: sending undecryptable values to providers would only burn
// the connections.
func (a *App) checkStart(ctx context.Context) error {
	if err := a.Ready(ctx); err != nil {
		return err
	}
	// Every key the table names must be here, with the bytes it recorded.
	if err := a.store.CheckKeys(ctx); err != nil {
		return err
	}
	// So must every key the spool's files name: they hold rotated tokens
	// found nowhere else (unreadable garbage is quarantined, not refused).
	if a.spool != nil {
		if err := a.spool.CheckKeys(); err != nil {
			return err
		}
	}
	if !a.keys.Enabled() {
		a.log.Warn("TOKENS_ENCRYPTION_KEYS is not set: tokens and client secrets are stored in plaintext")
	}
	return nil
}
