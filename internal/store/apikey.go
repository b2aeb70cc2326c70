package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

var (
	apiKeyCreateSQL = query("apikey_create")
	apiKeyGetSQL    = query("apikey_get")
	apiKeyListSQL   = query("apikey_list")
	apiKeyRevokeSQL = query("apikey_revoke")
	apiKeyTouchSQL  = query("apikey_touch")
	apiKeyReadySQL  = query("apikey_ready")
)

// ErrAPIKeyNotFound is returned for an API key id that is not in the table.
var ErrAPIKeyNotFound = errors.New("no such API key")

// APIKey is a row of api_keys. KeyHash is the SHA-256 of the key; the key
// itself is never stored.
type APIKey struct {
	ID         string
	Label      string
	KeyHash    []byte
	Patterns   []string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	// Admin keys open the console and nothing else: their Patterns are
	// empty, so the token API and the proxy allow them no connection.
	Admin bool
}

type apiKeyRow struct {
	ID         string     `gorm:"column:id"`
	Label      string     `gorm:"column:label"`
	KeyHash    []byte     `gorm:"column:key_hash"`
	Patterns   string     `gorm:"column:patterns"`
	CreatedAt  time.Time  `gorm:"column:created_at"`
	LastUsedAt *time.Time `gorm:"column:last_used_at"`
	RevokedAt  *time.Time `gorm:"column:revoked_at"`
	Admin      bool       `gorm:"column:admin"`
}

func (r *apiKeyRow) key() (*APIKey, error) {
	k := &APIKey{ID: r.ID, Label: r.Label, KeyHash: r.KeyHash, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt, Admin: r.Admin}
	if err := json.Unmarshal([]byte(r.Patterns), &k.Patterns); err != nil {
		return nil, fmt.Errorf("API key %s: patterns: %w", r.ID, err)
	}
	return k, nil
}

// CreateAPIKey stores a new token-API key's id, label, hash and name
// patterns.
func (s *Store) CreateAPIKey(ctx context.Context, id, label string, hash []byte, patterns []string) error {
	return s.createAPIKey(ctx, id, label, hash, patterns, false)
}

// CreateAdminAPIKey stores a new admin key: it signs in to the console and
// has no name patterns, so it reads no token.
func (s *Store) CreateAdminAPIKey(ctx context.Context, id, label string, hash []byte) error {
	return s.createAPIKey(ctx, id, label, hash, []string{}, true)
}

func (s *Store) createAPIKey(ctx context.Context, id, label string, hash []byte, patterns []string, admin bool) error {
	p, err := json.Marshal(patterns)
	if err != nil {
		return err
	}
	err = s.db.WithContext(ctx).Exec(apiKeyCreateSQL, map[string]any{
		"id": id, "label": label, "key_hash": hash, "patterns": string(p), "admin": admin,
	}).Error
	if err != nil {
		return fmt.Errorf("create API key: %w", err)
	}
	return nil
}

// APIKeyByID returns the key with that id, revoked or not, or
// ErrAPIKeyNotFound.
func (s *Store) APIKeyByID(ctx context.Context, id string) (*APIKey, error) {
	var rows []apiKeyRow
	if err := s.db.WithContext(ctx).Raw(apiKeyGetSQL, map[string]any{"id": id}).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("read API key: %w", err)
	}
	if len(rows) == 0 {
		return nil, ErrAPIKeyNotFound
	}
	return rows[0].key()
}

// ListAPIKeys returns every key, revoked ones included, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	var rows []apiKeyRow
	if err := s.db.WithContext(ctx).Raw(apiKeyListSQL).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	out := make([]APIKey, 0, len(rows))
	for i := range rows {
		k, err := rows[i].key()
		if err != nil {
			return nil, err
		}
		out = append(out, *k)
	}
	return out, nil
}

// RevokeAPIKey revokes a key at once; it is ErrAPIKeyNotFound for an
// unknown id and a no-op for a key already revoked.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) error {
	n, err := s.countRows(ctx, apiKeyRevokeSQL, map[string]any{"id": id})
	if err != nil {
		return fmt.Errorf("revoke API key: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrAPIKeyNotFound, id)
	}
	return nil
}

// TouchAPIKey records that a key was used (at most once a minute).
func (s *Store) TouchAPIKey(ctx context.Context, id string) error {
	if err := s.db.WithContext(ctx).Exec(apiKeyTouchSQL, map[string]any{"id": id}).Error; err != nil {
		return fmt.Errorf("record API key use: %w", err)
	}
	return nil
}

// Ready reports whether the database answers and the schema the HTTP API
// needs (oauth_tokens, api_keys) is applied.
func (s *Store) Ready(ctx context.Context) error {
	var tokens, keys int64
	if err := s.db.WithContext(ctx).Raw(apiKeyReadySQL).Row().Scan(&tokens, &keys); err != nil {
		return fmt.Errorf("readiness check: %w", err)
	}
	return nil
}
