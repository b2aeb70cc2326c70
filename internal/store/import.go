package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// ImportRow is one connection to upsert. A nil field keeps the stored value
// of an existing connection.
type ImportRow struct {
	Name                string
	Provider            *string
	TokenURL            *string
	ClientID            *string
	ClientSecret        *string
	Scopes              *string
	AuthStyle           *string
	AccessToken         *string
	RefreshToken        *string
	AccessTokenExpires  *time.Time
	RefreshTokenExpires *time.Time
	// Params is a JSON object of provider parameters.
	Params *string
}

func (r *ImportRow) hasTokens() bool { return r.AccessToken != nil || r.RefreshToken != nil }

// Import upserts connections by name in one transaction: either every row
// lands or none does.
func (s *Store) Import(ctx context.Context, rows []ImportRow) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for i := range rows {
			r := &rows[i]
			id, err := uuid.NewV7()
			if err != nil {
				return err
			}
			err = tx.Exec(importSQL, map[string]any{
				"id":                    id,
				"name":                  r.Name,
				"provider":              r.Provider,
				"token_url":             r.TokenURL,
				"client_id":             r.ClientID,
				"client_secret":         r.ClientSecret,
				"scopes":                r.Scopes,
				"auth_style":            r.AuthStyle,
				"access_token":          r.AccessToken,
				"refresh_token":         r.RefreshToken,
				"access_token_expires":  r.AccessTokenExpires,
				"refresh_token_expires": r.RefreshTokenExpires,
				"params":                r.Params,
				"has_tokens":            r.hasTokens(),
			}).Error
			if err != nil {
				return fmt.Errorf("import %s: %w", r.Name, err)
			}
		}
		return nil
	})
}
