package app

import (
	"context"
	"errors"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// GenerateAPIKey makes an API key: of the token HTTP API, for the
// connections whose names match patterns, or an admin key (admin), which
// signs in to the console and reads no token. The key's secret is in the
// result only: the table keeps its hash.
func (a *App) GenerateAPIKey(ctx context.Context, label string, patterns []string, admin bool) (apikey.Key, error) {
	if !admin && len(patterns) == 0 {
		return apikey.Key{}, errors.New("a token-API key needs name patterns (e.g. xero-*)")
	}
	k, err := apikey.Generate()
	if err != nil {
		return apikey.Key{}, err
	}
	if admin {
		err = a.store.CreateAdminAPIKey(ctx, k.ID, label, k.Hash)
	} else {
		err = a.store.CreateAPIKey(ctx, k.ID, label, k.Hash, patterns)
	}
	if err != nil {
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
