package app

import (
	"context"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// CreateAPIKey makes an API key of the token HTTP API for the connections
// whose names match patterns. The key's secret is in the result only: the
// table keeps its hash.
func (a *App) CreateAPIKey(ctx context.Context, label string, patterns []string) (apikey.Key, error) {
	k, err := apikey.Generate()
	if err != nil {
		return apikey.Key{}, err
	}
	if err := a.store.CreateAPIKey(ctx, k.ID, label, k.Hash, patterns); err != nil {
		return apikey.Key{}, err
	}
	return k, nil
}

// ListAPIKeys returns every API key, revoked ones too, never a key itself.
func (a *App) ListAPIKeys(ctx context.Context) ([]store.APIKey, error) {
	return a.store.ListAPIKeys(ctx)
}

// RevokeAPIKey revokes an API key at once.
func (a *App) RevokeAPIKey(ctx context.Context, id string) error {
	return a.store.RevokeAPIKey(ctx, id)
}
