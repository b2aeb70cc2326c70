package httpapi

import (
	"context"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/ttlcache"
)

// maxCachedKeys bounds the records kept; only keys that exist are cached,
// so this is the number of keys in use at once, not of keys guessed.
const maxCachedKeys = 10000

// CachedKeys returns keys with each key's record kept for ttl, so that a
// busy caller's requests do not each read (and try to touch) its row:
// one read and one touch per key per ttl. The key itself is still
// checked against the record's hash on every request. ttl ≤ 0 returns
// keys as they are.
func CachedKeys(keys Keys, ttl time.Duration) Keys {
	if ttl <= 0 {
		return keys
	}
	return &cachedKeys{keys: keys, records: ttlcache.New[string, *store.APIKey](ttl, maxCachedKeys),
		touched: ttlcache.New[string, struct{}](ttl, maxCachedKeys)}
}

type cachedKeys struct {
	keys    Keys
	records *ttlcache.Cache[string, *store.APIKey]
	touched *ttlcache.Cache[string, struct{}]
}

func (c *cachedKeys) APIKeyByID(ctx context.Context, id string) (*store.APIKey, error) {
	return c.records.Get(id, func() (*store.APIKey, error) { return c.keys.APIKeyByID(ctx, id) })
}

func (c *cachedKeys) TouchAPIKey(ctx context.Context, id string) error {
	_, err := c.touched.Get(id, func() (struct{}, error) { return struct{}{}, c.keys.TouchAPIKey(ctx, id) })
	return err
}
