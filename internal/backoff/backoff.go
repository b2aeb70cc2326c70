// Package backoff is tokenwarden's one exponential backoff: the worker's
// pass and refresh retries, the storer, the notification listener and the
// webhook deliveries all wait through it, each with its own base and cap.
//
// The n-th wait is Base·2ⁿ⁻¹, at most Max, of which a random part up to
// half is taken off ("equal jitter"): clients that failed together, such as
// every connection of a provider that went down, or every worker of a
// database that restarted, do not retry together. A wait is never longer
// than the same wait without jitter.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy is the base and cap of an exponential backoff.
type Policy struct {
	Base time.Duration // the first wait, before jitter
	Max  time.Duration // the longest wait, before jitter
}

// Delay returns the wait before retry n, counted from 1 (n < 1 counts as
// 1): Base doubled n-1 times, at most Max, less its jitter.
func (p Policy) Delay(n int) time.Duration {
	if p.Base <= 0 || p.Max <= 0 {
		return 0
	}
	d := min(p.Base, p.Max)
	for i := 1; i < n && d < p.Max; i++ {
		d = min(d, p.Max/2) * 2 // never past Max, never overflowing
	}
	d = min(d, p.Max)
	return d/2 + rand.N(d/2+1)
}

// After is Delay, but never sooner than retryAfter, the server's own
// Retry-After, itself taken up to limit: a server's answer must not stall
// the retries for longer than the caller allows.
func (p Policy) After(n int, retryAfter, limit time.Duration) time.Duration {
	return max(p.Delay(n), min(retryAfter, limit))
}

// Backoff counts the consecutive failures of one loop and returns the wait
// after each. Its zero value needs a Policy; it is not safe for concurrent
// use.
type Backoff struct {
	Policy
	n int
}

// Next records a failure and returns the wait before the next attempt.
func (b *Backoff) Next() time.Duration {
	b.n++
	return b.Delay(b.n)
}

// Reset records a success: the next failure waits Base again.
func (b *Backoff) Reset() { b.n = 0 }
