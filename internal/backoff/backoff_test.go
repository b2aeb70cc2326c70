package backoff_test

import (
	"math"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/backoff"
)

// draws is how many delays each check samples: enough that a jitter stuck
// at either end of its range would show.
const draws = 200

// Each retry waits between half and all of Base·2ⁿ⁻¹, capped at Max.
func TestDelayDoublesUpToMaxWithJitter(t *testing.T) {
	t.Parallel()
	p := backoff.Policy{Base: 10 * time.Second, Max: 10 * time.Minute}
	for _, tc := range []struct {
		n    int
		full time.Duration
	}{
		{-1, 10 * time.Second}, {0, 10 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second},
		{3, 40 * time.Second}, {6, 320 * time.Second}, {7, 10 * time.Minute}, {1000, 10 * time.Minute},
		{math.MaxInt, 10 * time.Minute},
	} {
		lo, hi := tc.full, time.Duration(0)
		for range draws {
			d := p.Delay(tc.n)
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < tc.full/2 || hi > tc.full {
			t.Errorf("Delay(%d) ranged over [%v, %v], want within [%v, %v]", tc.n, lo, hi, tc.full/2, tc.full)
		}
		if lo == hi {
			t.Errorf("Delay(%d) was %v every time: no jitter", tc.n, lo)
		}
	}
}

// A cap near the largest duration does not overflow while doubling.
func TestDelayDoesNotOverflow(t *testing.T) {
	t.Parallel()
	p := backoff.Policy{Base: time.Second, Max: math.MaxInt64}
	for _, n := range []int{62, 63, 64, 100} {
		if d := p.Delay(n); d < math.MaxInt64/4 {
			t.Errorf("Delay(%d) = %v, want about the cap", n, d)
		}
	}
}

// A zero policy does not wait (and does not loop n times to say so).
func TestZeroPolicyDoesNotWait(t *testing.T) {
	t.Parallel()
	if d := (backoff.Policy{}).Delay(math.MaxInt); d != 0 {
		t.Fatalf("Delay = %v, want 0", d)
	}
}

// A server's Retry-After is waited out, up to the caller's limit.
func TestAfterHonoursRetryAfterUpToLimit(t *testing.T) {
	t.Parallel()
	p := backoff.Policy{Base: 10 * time.Second, Max: 10 * time.Minute}
	if d := p.After(1, 30*time.Minute, time.Hour); d != 30*time.Minute {
		t.Errorf("After(Retry-After 30m) = %v, want 30m", d)
	}
	if d := p.After(1, 5*time.Hour, time.Hour); d != time.Hour {
		t.Errorf("After(Retry-After 5h, limit 1h) = %v, want 1h", d)
	}
	for range draws {
		if d := p.After(1, time.Second, time.Hour); d < 5*time.Second || d > 10*time.Second {
			t.Fatalf("After(Retry-After 1s) = %v, want the backoff's own 5s..10s", d)
		}
	}
}

// Next counts failures until Reset.
func TestBackoffCountsFailuresUntilReset(t *testing.T) {
	t.Parallel()
	b := backoff.Backoff{Policy: backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second}}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
	for i, full := range want {
		if d := b.Next(); d < full/2 || d > full {
			t.Fatalf("wait %d = %v, want within [%v, %v]", i+1, d, full/2, full)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("wait after Reset = %v, want the base again", d)
	}
}
