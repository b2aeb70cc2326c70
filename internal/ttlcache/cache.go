package ttlcache

import (
	"sync"
	"time"
)

// Cache holds values for ttl after they were loaded, at most max of them.
// It is safe for concurrent use. Errors are never cached, so that a
// connection or key created a moment ago is found on the next request.
type Cache[K comparable, V any] struct {
	ttl time.Duration
	max int
	now func() time.Time // time.Now; tests move it

	mu      sync.Mutex
	entries map[K]entry[V]
}

type entry[V any] struct {
	value V
	until time.Time
}

// New returns a cache keeping each value for ttl, at most limit values
// (at least 1). ttl ≤ 0 caches nothing: every Get loads.
func New[K comparable, V any](ttl time.Duration, limit int) *Cache[K, V] {
	return &Cache[K, V]{ttl: ttl, max: max(limit, 1), now: time.Now, entries: map[K]entry[V]{}}
}

// Get returns k's value, calling load when it is absent or expired. Two
// callers missing at once both load: the loads are reads, and a lock
// held across one would make every caller wait for the slowest.
func (c *Cache[K, V]) Get(k K, load func() (V, error)) (V, error) {
	if c.ttl <= 0 {
		return load()
	}
	c.mu.Lock()
	e, ok := c.entries[k]
	now := c.now()
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.value, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.put(k, v)
	return v, nil
}

// put stores v; when the cache is full it first drops the expired
// entries, and if none had expired, all of them: the bound matters more
// than the hit rate of a cache whose entries live seconds.
func (c *Cache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		for key, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, key)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[k] = entry[V]{value: v, until: now.Add(c.ttl)}
}

// Len returns the number of entries held, expired ones included.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
