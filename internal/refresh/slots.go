package refresh

import "context"

// slots bounds the rows a pass holds claimed but not yet stored.
type slots struct{ ch chan struct{} }

func newSlots(n int) *slots { return &slots{ch: make(chan struct{}, n)} }

// acquireUpTo blocks for one slot, then takes as many more as are free, up
// to limit. It returns 0 when ctx ends first.
func (s *slots) acquireUpTo(ctx context.Context, limit int) int {
	select {
	case s.ch <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for n < limit {
		select {
		case s.ch <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func (s *slots) release(n int) {
	for range n {
		<-s.ch
	}
}
