package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tokenwarden/tokenwarden/pkg/model"
)

var describeSQL = query("describe")

// Describe reads those of the named connections that exist, by name,
// with every column but the secrets. It needs no encryption key, so that
// commands that never show a secret work without one.
func (s *Store) Describe(ctx context.Context, names []string) (map[string]*model.OAuthToken, error) {
	payload, err := json.Marshal(names)
	if err != nil {
		return nil, err
	}
	var rows []*model.OAuthToken
	if err := s.db.WithContext(ctx).Raw(describeSQL, map[string]any{"names": string(payload)}).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("read connections: %w", err)
	}
	out := make(map[string]*model.OAuthToken, len(rows))
	for _, r := range rows {
		out[r.Name] = r
	}
	return out, nil
}
