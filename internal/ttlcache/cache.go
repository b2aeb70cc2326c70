package ttlcache

import (
	"errors"
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
	loading map[K]*call[V]
}

// call is one load in progress, which the callers missing the same key
// meanwhile wait for.
type call[V any] struct {
	done    chan struct{}
	value   V
	err     error
	waiters int // under the cache's mu; read by tests
}

type entry[V any] struct {
	value V
	until time.Time
}

// New returns a cache keeping each value for ttl, at most limit values
// (at least 1). ttl ≤ 0 caches nothing: every Get loads.
func New[K comparable, V any](ttl time.Duration, limit int) *Cache[K, V] {
	return &Cache[K, V]{ttl: ttl, max: max(limit, 1), now: time.Now, entries: map[K]entry[V]{}, loading: map[K]*call[V]{}}
}

// Get returns k's value, calling load when it is absent or expired. The
// callers that miss k while a load of it is in progress wait for that
// load instead of starting their own, so that a thousand requests arriving
// at once cost one read; if it fails, each loads for itself, so that one
// caller's cancelled context does not fail the others.
func (c *Cache[K, V]) Get(k K, load func() (V, error)) (V, error) {
	if c.ttl <= 0 {
		return load()
	}
	c.mu.Lock()
	if e, ok := c.entries[k]; ok && c.now().Before(e.until) {
		c.mu.Unlock()
		return e.value, nil
	}
	if l, ok := c.loading[k]; ok {
		l.waiters++
		c.mu.Unlock()
		<-l.done
		if l.err == nil {
			return l.value, nil
		}
		return load()
	}
	// err stays errNoValue if load panics: the waiters then load
	// themselves, and nothing is cached.
	l := &call[V]{done: make(chan struct{}), err: errNoValue}
	c.loading[k] = l
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.loading, k)
		if l.err == nil {
			c.putLocked(k, l.value)
		}
		c.mu.Unlock()
		close(l.done)
	}()
	l.value, l.err = load()
	return l.value, l.err
}

var errNoValue = errors.New("ttlcache: the load panicked")

// putLocked stores v; when the cache is full it first drops the expired
// entries, and if none had expired, all of them: the bound matters more
// than the hit rate of a cache whose entries live seconds.
func (c *Cache[K, V]) putLocked(k K, v V) {
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
