package notify

import (
	"context"
	"database/sql"
	"log/slog"
	"slices"
	"sync"
)

// Hub shares one LISTEN connection among the users of a process: run on
// the worker's channels and pkg/tokens' together, it gives the worker its
// refresh requests and an in-process tokens.Client (the token HTTP API)
// its change notifications, over one connection instead of one each. It
// is a Handler for Listen, and a tokens.Listener.
type Hub struct {
	channels []string
	mu       sync.Mutex
	up       bool
	subs     map[string]map[*subscriber]struct{}
}

type subscriber struct {
	notify    func(payload string)
	connected func(up bool)
}

// NewHub returns a Hub for channels; Run or RunDB listens on them.
func NewHub(channels ...string) *Hub {
	return &Hub{channels: slices.Clone(channels), subs: map[string]map[*subscriber]struct{}{}}
}

// Run holds the Hub's LISTEN connection, a connection of its own to dsn,
// until ctx ends (see Listen).
func (h *Hub) Run(ctx context.Context, dsn string, log *slog.Logger) {
	Listen(ctx, dsn, h.channels, h, log)
}

// RunDB holds the Hub's LISTEN connection as one of db's until ctx ends,
// reconnecting as Listen does. The connection is held for as long as it
// lasts: a caller that shares its pool counts the LISTEN connection in
// the pool's bound rather than beside it. It is closed afterwards, never
// handed back to the pool: it would go on receiving notifications for
// whoever takes it next. db must pass CheckDB.
func (h *Hub) RunDB(ctx context.Context, db *sql.DB, log *slog.Logger) {
	listen(ctx, dialDB(db), h.channels, h, log)
}

// Subscribe calls notify with the payload of each notification on channel,
// and connected with the connection's state now and each time it changes,
// until unsubscribe is called. Calls are made with the Hub locked, so they
// never overlap; they must not block or call the Hub.
func (h *Hub) Subscribe(channel string, notify func(payload string), connected func(up bool)) (unsubscribe func()) {
	s := &subscriber{notify: notify, connected: connected}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[channel] == nil {
		h.subs[channel] = map[*subscriber]struct{}{}
	}
	h.subs[channel][s] = struct{}{}
	s.connected(h.up)
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs[channel], s)
	}
}

// Connected implements Handler.
func (h *Hub) Connected() { h.set(true) }

// Disconnected implements Handler.
func (h *Hub) Disconnected() { h.set(false) }

func (h *Hub) set(up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.up = up
	for _, subs := range h.subs {
		for s := range subs {
			s.connected(up)
		}
	}
}

// Notify implements Handler.
func (h *Hub) Notify(channel, payload string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[channel] {
		s.notify(payload)
	}
}
