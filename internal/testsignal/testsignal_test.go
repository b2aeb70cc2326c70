package testsignal_test

import (
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/testsignal"
)

// A signal nobody initialised is off: sending does nothing.
func TestZeroSignalIsOff(t *testing.T) {
	t.Parallel()
	var s testsignal.Signal[int]
	s.Signal(1)
	if got := s.Received(); got != nil {
		t.Fatalf("received %v from a signal that is off", got)
	}
}

// Signals arrive in order; Wait takes one, Received the rest.
func TestSignalsArriveInOrder(t *testing.T) {
	t.Parallel()
	var s testsignal.Signal[string]
	s.Init(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, v := range []string{"a", "b", "c"} {
			s.Signal(v)
		}
	}()
	if v := s.Wait(); v != "a" {
		t.Fatalf("Wait = %q, want a", v)
	}
	<-done
	if got := s.Received(); len(got) != 2 || got[0] != "b" || got[1] != "c" {
		t.Fatalf("Received = %v, want [b c]", got)
	}
}

// recorder is a TB that keeps what a Signal reports.
type recorder struct {
	testing.TB
	errors int
}

func (r *recorder) Errorf(string, ...any) { r.errors++ }

// A signal that nobody reads fails the test once full, and does not block
// the code that sends.
func TestFullSignalFailsTheTestWithoutBlocking(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	var s testsignal.Signal[int]
	s.Init(r)
	for i := range 1025 {
		s.Signal(i)
	}
	if r.errors != 1 || len(s.Received()) != 1024 {
		t.Fatalf("errors %d; want 1 for the signal past the buffer", r.errors)
	}
}
