package ttlcache

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/testutil"
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

// waiters is how many callers wait on the load of k in progress; -1 if
// none is.
func (c *Cache[K, V]) waiters(k K) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.loading[k]; ok {
		return l.waiters
	}
	return -1
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

// Callers that miss while a load is in progress share it; when it fails,
// each loads for itself.
func TestConcurrentMissesShareOneLoad(t *testing.T) {
	t.Parallel()
	c, _, _ := setup(time.Minute, 10)
	release := make(chan struct{})
	var loads atomic.Int64
	slow := func() (int, error) {
		loads.Add(1)
		<-release
		return 7, nil
	}
	var wg sync.WaitGroup
	got := make(chan int, 10)
	for range 10 {
		wg.Go(func() {
			v, _ := c.Get("a", slow)
			got <- v
		})
	}
	testutil.Eventually(t, 10*time.Second, "nine callers waiting on one load", func() bool { return c.waiters("a") == 9 })
	close(release)
	wg.Wait()
	close(got)
	for v := range got {
		if v != 7 {
			t.Errorf("got %d, want 7", v)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Errorf("%d loads for 10 concurrent misses, want 1", n)
	}

	fail := make(chan struct{})
	var failing atomic.Int64
	wg.Go(func() {
		c.Get("b", func() (int, error) { failing.Add(1); <-fail; return 0, errors.New("cancelled") })
	})
	testutil.Eventually(t, 10*time.Second, "the failing load started", func() bool { return c.waiters("b") == 0 })
	wg.Go(func() {
		if v, err := c.Get("b", func() (int, error) { failing.Add(1); return 8, nil }); v != 8 || err != nil {
			t.Errorf("after a shared load failed: %d, %v; want its own load's 8", v, err)
		}
	})
	testutil.Eventually(t, 10*time.Second, "a caller waiting on the failing load", func() bool { return c.waiters("b") == 1 })
	close(fail)
	wg.Wait()
	if n := failing.Load(); n != 2 {
		t.Errorf("%d loads of b, want the failed one and the waiter's own", n)
	}
}
