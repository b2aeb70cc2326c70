package ttlcache

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// clock is a time the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func setup(ttl time.Duration, limit int) (*Cache[string, int], *clock, *int) {
	c := New[string, int](ttl, limit)
	clk := &clock{t: time.Unix(1e9, 0)}
	c.now = clk.now
	return c, clk, new(int)
}

func counting(loads *int, v int) func() (int, error) {
	return func() (int, error) { *loads++; return v, nil }
}

func TestGetLoadsOncePerTTL(t *testing.T) {
	t.Parallel()
	c, clk, loads := setup(5*time.Second, 10)
	for range 3 {
		if v, err := c.Get("a", counting(loads, 1)); v != 1 || err != nil {
			t.Fatalf("Get: %d, %v", v, err)
		}
	}
	clk.add(4 * time.Second)
	if v, _ := c.Get("a", counting(loads, 2)); v != 1 || *loads != 1 {
		t.Fatalf("within the TTL: %d after %d loads, want the cached 1 after 1", v, *loads)
	}
	clk.add(time.Second)
	if v, _ := c.Get("a", counting(loads, 2)); v != 2 || *loads != 2 {
		t.Fatalf("at the TTL: %d after %d loads, want a reload", v, *loads)
	}
}

func TestErrorsAreNotCached(t *testing.T) {
	t.Parallel()
	c, _, loads := setup(time.Minute, 10)
	boom := errors.New("boom")
	if _, err := c.Get("a", func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
	if v, err := c.Get("a", counting(loads, 7)); v != 7 || err != nil || *loads != 1 {
		t.Fatalf("after an error: %d, %v, %d loads", v, err, *loads)
	}
}

func TestZeroTTLCachesNothing(t *testing.T) {
	t.Parallel()
	c, _, loads := setup(0, 10)
	c.Get("a", counting(loads, 1))
	c.Get("a", counting(loads, 1))
	if *loads != 2 || c.Len() != 0 {
		t.Fatalf("%d loads, %d entries; want 2 and 0", *loads, c.Len())
	}
}

func TestSizeIsBounded(t *testing.T) {
	t.Parallel()
	c, clk, loads := setup(time.Minute, 3)
	for _, k := range []string{"a", "b", "c"} {
		c.Get(k, counting(loads, 1))
	}
	clk.add(30 * time.Second)
	c.Get("d", counting(loads, 1)) // full, nothing expired: starts over
	if n := c.Len(); n != 1 {
		t.Fatalf("%d entries after overflowing, want 1", n)
	}
	c.Get("e", counting(loads, 1))
	c.Get("f", counting(loads, 1))
	clk.add(time.Minute)
	c.Get("g", counting(loads, 1)) // full, but d, e and f have expired
	if n := c.Len(); n != 1 {
		t.Fatalf("%d entries after the expired were dropped, want 1", n)
	}
}
