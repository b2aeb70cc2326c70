package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/pkg/model"
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
// lands or none does. A row whose identity (provider, token_url,
// client_id, params) changes has the secrets it keeps sealed again for
// the new one: import is how a connection is legitimately pointed
// elsewhere, where the same change made with SQL leaves secrets that no
// longer open.
func (s *Store) Import(ctx context.Context, rows []ImportRow) error {
	if err := s.recordKey(ctx); err != nil {
		return err
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for i := range rows {
			if err := s.importRow(tx, &rows[i]); err != nil {
				return fmt.Errorf("import %s: %w", rows[i].Name, err)
			}
		}
		return nil
	})
}

func (s *Store) importRow(tx *gorm.DB, r *ImportRow) error {
	cur, err := s.lockRow(tx, r.Name)
	if err != nil {
		return err
	}
	// Secrets are sealed bound to the row's id, so the id must be known
	// before the upsert: the existing row's, or a new one.
	var id uuid.UUID
	var was *Identity
	if cur != nil {
		id, was = cur.ID, IdentityOf(&cur.OAuthToken)
	} else if id, err = uuid.NewV7(); err != nil {
		return err
	}
	ident := r.identity(was)
	moved := was != nil && *was != *ident
	if moved && cur.InFlight && !r.hasTokens() {
		return errors.New("a refresh of it is in flight, and its result would be sealed for the old provider, token_url, client_id or params; run the import again in a moment")
	}
	var sealed [3]*string
	for j, f := range []struct {
		col string
		v   *string
	}{{"client_secret", r.ClientSecret}, {"access_token", r.AccessToken}, {"refresh_token", r.RefreshToken}} {
		switch {
		case f.v != nil:
			sealed[j], err = s.sealPtr(id, ident, f.col, f.v)
		case moved:
			sealed[j], err = s.resealKept(cur, was, ident, f.col)
		}
		if err != nil {
			return err
		}
	}
	return tx.Exec(importSQL, map[string]any{
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
		"fence":                 r.hasTokens() || moved,
	}).Error
}

// identity is the identity the row has after the import, as import.sql
// computes it: each field given replaces the stored one (was, nil for a
// new row).
func (r *ImportRow) identity(was *Identity) *Identity {
	id := Identity{Provider: "oauth2"}
	if was != nil {
		id = *was
	}
	if r.Provider != nil {
		id.Provider = *r.Provider
	}
	if r.TokenURL != nil {
		id.TokenURL = *r.TokenURL
	}
	if r.ClientID != nil {
		id.ClientID = *r.ClientID
	}
	if r.Params != nil {
		id.Params = canonicalJSON([]byte(*r.Params))
	}
	return &id
}

// importedRow is what Import reads of an existing row (import_id.sql).
type importedRow struct {
	model.OAuthToken `gorm:"embedded"`
	InFlight         bool `gorm:"column:in_flight"`
}

// lockRow returns the named row, locked, or nil if there is none.
func (s *Store) lockRow(tx *gorm.DB, name string) (*importedRow, error) {
	// Two imports of the same new name must agree on its id, or one's
	// secrets would be sealed for an id the row does not get.
	if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtext(@name))", map[string]any{"name": name}).Error; err != nil {
		return nil, err
	}
	var rows []importedRow
	if err := tx.Raw(importIDSQL, map[string]any{"name": name}).Scan(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 1 {
		return &rows[0], nil
	}
	return nil, nil
}

// resealKept returns the stored secret of col sealed again for the row's
// new identity, or nil to keep the stored value as it is: there is none,
// it is plaintext (rekey seals it), it is not bound to the identity (the
// access token), or it already opens under the new identity (a row
// changed with SQL that this import puts back).
func (s *Store) resealKept(cur *importedRow, was, now *Identity, col string) (*string, error) {
	var stored *model.Secret
	switch col {
	case "client_secret":
		stored = cur.ClientSecret
	case "refresh_token":
		stored = cur.RefreshToken
	}
	if stored == nil || keyring.KeyID(string(*stored)) == "" {
		return nil, nil
	}
	plain, err := s.keys.Open(string(*stored), binding(cur.ID, was, col))
	if err != nil {
		if _, again := s.keys.Open(string(*stored), binding(cur.ID, now, col)); again == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot re-seal the stored %s for the new identity: %w; import it too", col, err)
	}
	return s.sealPtr(cur.ID, now, col, &plain)
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
