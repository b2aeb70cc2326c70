package refresh

import (
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// RequestOf is the one place a connection's row becomes what its provider
// is sent: the worker builds it once for each claimed row, whose secrets
// the claim has already opened, and `worker check` for the row it reads.
// From here on nothing reads the row's nullable columns again. A params
// column that is not a JSON object is refused as a configuration error,
// like every other configuration the provider refuses.
func RequestOf(row *model.OAuthToken) (provider.Request, error) {
	params, err := provider.ParseParams(row.Params) // nil, and not allocated, for most rows
	if err != nil {
		return provider.Request{}, provider.ConfigError(err)
	}
	return provider.Request{
		Provider:     row.Provider,
		Grant:        row.Grant,
		TokenURL:     store.Str(row.TokenURL),
		AuthStyle:    store.Str(row.AuthStyle),
		ClientID:     store.Str(row.ClientID),
		ClientSecret: model.Secret(store.Str(row.ClientSecret)),
		RefreshToken: model.Secret(store.Str(row.RefreshToken)),
		Scopes:       store.Str(row.Scopes),
		Params:       params,
	}, nil
}
