package refresh

import (
	"github.com/tokenwarden/tokenwarden/internal/provider"
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
		TokenURL:     value(row.TokenURL),
		AuthStyle:    value(row.AuthStyle),
		ClientID:     value(row.ClientID),
		ClientSecret: value(row.ClientSecret),
		RefreshToken: value(row.RefreshToken),
		Scopes:       value(row.Scopes),
		Params:       params,
	}, nil
}

// value is *p, or the zero value for a NULL column.
func value[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}
