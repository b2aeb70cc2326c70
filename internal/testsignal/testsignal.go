// Package testsignal lets tests watch a production type's progress without
// the type keeping counters for them. A type holds a Signal per event of
// interest, in a TestSignals field; a test calls Init before it starts the
// type, then waits on the signals. Never initialised, as in production, a
// Signal costs one nil check per event.
package testsignal

import (
	"context"
	"time"
)

// TB is the part of testing.TB a Signal uses; it keeps the testing
// package out of production binaries.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Context() context.Context
}

// capacity is how many signals an initialised Signal holds unread. One
// more fails the test rather than blocking the code under test.
const capacity = 1024

// timeout bounds Wait.
const timeout = 10 * time.Second

// Signal carries events of type T from the code under test to a test.
// Its zero value is off: Signal does nothing.
type Signal[T any] struct {
	ch chan T
	tb TB
}

// Init turns the signal on, for tb. Call it before the code that sends.
func (s *Signal[T]) Init(tb TB) {
	s.ch, s.tb = make(chan T, capacity), tb
}

// Signal sends v to the test, if one listens. It never blocks.
func (s *Signal[T]) Signal(v T) {
	if s.ch == nil {
		return
	}
	select {
	case s.ch <- v:
	default:
		s.tb.Errorf("testsignal: %d signals unread; read them, or signal less", capacity)
	}
}

// Wait returns the next signal, failing the test if none comes within
// 10 seconds.
func (s *Signal[T]) Wait() T {
	s.tb.Helper()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case v := <-s.ch:
		return v
	case <-t.C:
		s.tb.Fatalf("testsignal: no signal within %s", timeout)
	case <-s.tb.Context().Done():
		s.tb.Fatalf("testsignal: the test ended while waiting")
	}
	var zero T
	return zero
}

// Received returns the signals sent and not yet read, without waiting.
func (s *Signal[T]) Received() []T {
	var out []T
	for {
		select {
		case v := <-s.ch:
			out = append(out, v)
		default:
			return out
		}
	}
}
