package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	if err := s.recordKey(ctx); err != nil {
		return err
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for i := range rows {
			r := &rows[i]
			id, err := s.importID(tx, r.Name)
			if err != nil {
				return fmt.Errorf("import %s: %w", r.Name, err)
			}
			// Secrets are sealed bound to the row's id, so the id must be
			// known before the upsert: the existing row's, or a new one.
			var sealed [3]*string
			for j, f := range []struct {
				col string
				v   *string
			}{{"client_secret", r.ClientSecret}, {"access_token", r.AccessToken}, {"refresh_token", r.RefreshToken}} {
				if sealed[j], err = s.sealPtr(id, f.col, f.v); err != nil {
					return err
				}
			}
			err = tx.Exec(importSQL, map[string]any{
				"id":                    id,
				"name":                  r.Name,
				"provider":              r.Provider,
				"token_url":             r.TokenURL,
				"client_id":             r.ClientID,
				"client_secret":         sealed[0],
				"scopes":                r.Scopes,
				"auth_style":            r.AuthStyle,
				"access_token":          sealed[1],
				"access_token_sha256":   hashOf(r.AccessToken),
				"refresh_token":         sealed[2],
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

// hashOf is the hex SHA-256 of a token, nil for none. Hex, not bytes:
// gorm expands a []byte argument like any slice.
func hashOf(p *string) *string {
	if p == nil || *p == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(*p))
	h := hex.EncodeToString(sum[:])
	return &h
}

// importID returns the id of the named row, locking it, or a new UUIDv7.
func (s *Store) importID(tx *gorm.DB, name string) (uuid.UUID, error) {
	// Two imports of the same new name must agree on its id, or one's
	// secrets would be sealed for an id the row does not get.
	if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtext(@name))", map[string]any{"name": name}).Error; err != nil {
		return uuid.Nil, err
	}
	var ids []uuid.UUID
	if err := tx.Raw(importIDSQL, map[string]any{"name": name}).Scan(&ids).Error; err != nil {
		return uuid.Nil, err
	}
	if len(ids) == 1 {
		return ids[0], nil
	}
	return uuid.NewV7()
}
