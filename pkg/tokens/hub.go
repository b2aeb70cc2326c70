package tokens

import (
	"sync"
	"time"
)

// hub is the Client's view of the notification connection: it wakes
// waiters and guards the cache. Generations make the cache safe against a
// read that raced with a change: an entry read before a notification
// arrived is never stored after it.
type hub struct {
	mu        sync.Mutex
	connected bool
	epoch     uint64            // bumped on every connect and disconnect
	gens      map[string]uint64 // bumped on every notification for a name
	waiters   map[string]map[chan struct{}]struct{}
	cache     map[string]*Token
	noCache   bool
	// asked records when this client last woke the workers for a name, so
	// that its waiting callers (and a Get after its own Invalidate) ask
	// at most once a second.
	asked map[string]time.Time
}

func newHub(noCache bool) *hub {
	return &hub{
		gens:    map[string]uint64{},
		waiters: map[string]map[chan struct{}]struct{}{},
		cache:   map[string]*Token{},
		noCache: noCache,
		asked:   map[string]time.Time{},
	}
}

// stamp identifies the state a read was made in.
type stamp struct{ epoch, gen uint64 }

// subscribe registers a waiter for name. Subscribe before reading the row,
// so that a change committed between the read and the wait still wakes it.
func (h *hub) subscribe(name string) (ch chan struct{}, st stamp, connected bool, cancel func()) {
	ch = make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiters[name] == nil {
		h.waiters[name] = map[chan struct{}]struct{}{}
	}
	h.waiters[name][ch] = struct{}{}
	return ch, stamp{h.epoch, h.gens[name]}, h.connected, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.waiters[name], ch)
		if len(h.waiters[name]) == 0 {
			delete(h.waiters, name)
		}
	}
}

func (h *hub) cached(name string, now time.Time, margin time.Duration) *Token {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.cache[name]
	if t == nil || !h.connected || !t.validAt(now, margin) {
		return nil
	}
	return t
}

// put caches t if nothing changed since the read stamped st.
func (h *hub) put(name string, t *Token, st stamp) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.noCache || !h.connected || h.epoch != st.epoch || h.gens[name] != st.gen {
		return
	}
	h.cache[name] = t
}

// requested notes that the workers were just asked to refresh name.
func (h *hub) requested(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked[name] = time.Now()
}

// recentlyRequested reports a request for name in the last second; it
// forgets older ones so the map stays small.
func (h *hub) recentlyRequested(name string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	at, ok := h.asked[name]
	if ok && now.Sub(at) >= time.Second {
		delete(h.asked, name)
		return false
	}
	return ok
}

func (h *hub) drop(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gens[name]++
	delete(h.cache, name)
}

// reset forgets everything, connected or not: notifications may have been
// missed. It is the Listener's connected callback.
func (h *hub) reset(connected bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.connected = connected
	h.epoch++
	clear(h.cache)
	for _, ws := range h.waiters {
		for ch := range ws {
			wake(ch)
		}
	}
}

// changed handles a change notification for name: the Listener's notify
// callback.
func (h *hub) changed(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gens[name]++
	delete(h.cache, name)
	for ch := range h.waiters[name] {
		wake(ch)
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
