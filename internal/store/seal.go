package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// unseal opens the row's sealed secrets in place.
func (s *Store) unseal(row *model.OAuthToken) error {
	id := row.ID.String()
	for col, p := range map[string]**model.Secret{
		"access_token":  &row.AccessToken,
		"refresh_token": &row.RefreshToken,
		"client_secret": &row.ClientSecret,
	} {
		if *p == nil {
			continue
		}
		plain, err := s.keys.Open(string(**p), keyring.AAD(id, col))
		if err != nil {
			return fmt.Errorf("%s of %s: %w", col, row.Name, err)
		}
		v := model.Secret(plain)
		*p = &v
	}
	return nil
}

func (s *Store) seal(id uuid.UUID, col, plain string) (string, error) {
	return s.keys.Seal(plain, keyring.AAD(id.String(), col))
}

func (s *Store) sealPtr(id uuid.UUID, col string, p *string) (*string, error) {
	if p == nil {
		return nil, nil
	}
	v, err := s.seal(id, col, *p)
	return &v, err
}

// sealSuccesses returns a copy of batch with each access token's hash set
// and its tokens sealed.
func (s *Store) sealSuccesses(batch []Success) ([]Success, error) {
	out := make([]Success, len(batch))
	for i, b := range batch {
		sum := sha256.Sum256([]byte(b.AccessToken))
		b.AccessTokenSHA256 = hex.EncodeToString(sum[:])
		if !s.keys.Enabled() {
			out[i] = b
			continue
		}
		var err error
		if b.AccessToken, err = s.seal(b.ID, "access_token", b.AccessToken); err != nil {
			return nil, err
		}
		if b.RefreshToken, err = s.seal(b.ID, "refresh_token", b.RefreshToken); err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// SealedKeyIDs returns the ids of the keys the table's sealed values may
// name, from oauth_token_keys: its cost does not grow with the table.
func (s *Store) SealedKeyIDs(ctx context.Context) ([]string, error) {
	var ids []string
	if err := s.db.WithContext(ctx).Raw(sealedKeyIDsSQL).Scan(&ids).Error; err != nil {
		return nil, fmt.Errorf("find encryption keys in use: %w", err)
	}
	return ids, nil
}

// recordKey notes the primary key in oauth_token_keys before it first
// seals anything this process writes.
func (s *Store) recordKey(ctx context.Context) error {
	if !s.keys.Enabled() || s.recorded == nil || s.recorded.Load() {
		return nil
	}
	if err := s.db.WithContext(ctx).Exec(recordKeySQL, map[string]any{"key_id": s.keys.Primary()}).Error; err != nil {
		return fmt.Errorf("record encryption key: %w", err)
	}
	s.recorded.Store(true)
	return nil
}

// Rekey seals every secret in the table under the keyring's primary key,
// plaintext included, a batch of rows per transaction. It returns how many
// rows it rewrote.
func (s *Store) Rekey(ctx context.Context) (int, error) {
	if !s.keys.Enabled() {
		return 0, fmt.Errorf("rekey needs TOKENS_ENCRYPTION_KEYS")
	}
	if err := s.recordKey(ctx); err != nil {
		return 0, err
	}
	total := 0
	after := uuid.Nil
	for {
		n, last, err := s.rekeyBatch(ctx, after)
		total += n
		if err != nil {
			return total, err
		}
		if last == uuid.Nil {
			return total, s.trimKeys(ctx)
		}
		after = last
	}
}

// trimKeys forgets the keys no row names any more, so that they may be
// removed from TOKENS_ENCRYPTION_KEYS.
func (s *Store) trimKeys(ctx context.Context) error {
	var inUse []string
	if err := s.db.WithContext(ctx).Raw(keysInRowsSQL).Scan(&inUse).Error; err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	sort.Strings(inUse)
	keep := "{" + strings.Join(append(inUse, s.keys.Primary()), ",") + "}"
	if err := s.db.WithContext(ctx).Exec(trimKeysSQL, map[string]any{"keep": keep}).Error; err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	return nil
}

type rekeyRow struct {
	ID           uuid.UUID `gorm:"column:id"`
	AccessToken  *string   `gorm:"column:access_token"`
	RefreshToken *string   `gorm:"column:refresh_token"`
	ClientSecret *string   `gorm:"column:client_secret"`
	NeedsHash    bool      `gorm:"column:needs_hash"`
	// AccessTokenSHA256 is set (hex) when rekey computed a missing hash.
	AccessTokenSHA256 *string `gorm:"-"`
}

// rekeyBatch rewrites one batch; last is the batch's highest id, or Nil
// when there were no rows left.
func (s *Store) rekeyBatch(ctx context.Context, after uuid.UUID) (n int, last uuid.UUID, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []rekeyRow
		if err := tx.Raw(rekeyBatchSQL, map[string]any{"after": after}).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			last = r.ID
			changed, err := s.reseal(&r)
			if err != nil {
				return err
			}
			if !changed {
				continue
			}
			if err := tx.Exec(rekeyRowSQL, map[string]any{"id": r.ID, "access_token": r.AccessToken,
				"refresh_token": r.RefreshToken, "client_secret": r.ClientSecret,
				"access_token_sha256": r.AccessTokenSHA256}).Error; err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, uuid.Nil, fmt.Errorf("rekey: %w", err)
	}
	return n, last, nil
}

// reseal opens each secret of r and seals it under the primary key; it
// reports whether any value changed.
func (s *Store) reseal(r *rekeyRow) (bool, error) {
	changed := false
	if r.NeedsHash {
		// A token sealed before the hash column: hash it now, so
		// Invalidate compares it in one statement from then on.
		plain, err := s.keys.Open(*r.AccessToken, keyring.AAD(r.ID.String(), "access_token"))
		if err != nil {
			return false, err
		}
		r.AccessTokenSHA256 = hashOf(&plain)
		changed = true
	}
	for col, p := range map[string]**string{"access_token": &r.AccessToken, "refresh_token": &r.RefreshToken, "client_secret": &r.ClientSecret} {
		if *p == nil || **p == "" || keyring.KeyID(**p) == s.keys.Primary() {
			continue
		}
		plain, err := s.keys.Open(**p, keyring.AAD(r.ID.String(), col))
		if err != nil {
			return false, err
		}
		sealed, err := s.seal(r.ID, col, plain)
		if err != nil {
			return false, err
		}
		*p = &sealed
		changed = true
	}
	return changed, nil
}
