package console

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	// heartbeat keeps an idle stream open through proxies that close
	// silent connections.
	heartbeat = 25 * time.Second
	// writeWindow is how long one write of the stream may take: the
	// server's WriteTimeout is extended by this much before each write,
	// as the stream outlives any fixed deadline.
	writeWindow = time.Minute
	// changedBuffer bounds the names waiting to be sent; beyond it a name
	// is dropped and the page is told to reload what it shows.
	changedBuffer = 256
)

// The stream's events. The page marks itself live on ready only, so a
// test (or a person) that waits for it knows that a change made from then
// on is shown.
const (
	// evReady: the Backend is listening; every change from now on is sent.
	evReady = "event: ready\ndata: \n\n"
	// evReload: changes may have been missed (the listener was down, or
	// names were dropped); the page fetches again every row it shows.
	evReload = "event: reload\ndata: \n\n"
	// evDown: the listener lost its connection; the page is not live
	// until the next ready.
	evDown = "event: down\ndata: \n\n"
	// evOff: there are no notifications at all (TOKENS_POLL_ONLY); the
	// page stops the stream and says so.
	evOff = "event: off\ndata: \n\n"
)

// live is the list's Server-Sent Events stream: an event "changed" with a
// connection's name whenever it changes (the tokenwarden_tokens
// notifications, through Backend.Watch). It sends names only; the page
// fetches the rows it shows, so nothing is sent that the page does not
// ask for.
//
// It says "ready" only once the Backend is listening, never before: a
// change made in between would be lost with the page claiming to be
// live. After the listener reconnects it sends ready and reload, so the
// page fetches again what may have changed while it was down.
func (c *console) live(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	changed := make(chan string, changedBuffer)
	overflow := make(chan struct{}, 1)
	var state listenState
	state.signal = make(chan struct{}, 1)
	stop, err := c.Backend.Watch(ctx, func(name string) {
		select {
		case changed <- name:
		default:
			select {
			case overflow <- struct{}{}:
			default:
			}
		}
	}, state.set)
	if err != nil && !errors.Is(err, ErrNotLive) {
		c.serverError(w, r, "watch the connections", err)
		return
	}
	if stop != nil {
		defer stop()
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := streamWriter(w)
	if err != nil { // ErrNotLive: nothing will ever come
		send("retry: 3600000\n" + evOff)
		return
	}
	// The retry line also flushes the headers, so the page's EventSource
	// opens before the listener is up.
	if !send("retry: 3000\n\n") {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	var announced int // the listener's ups the page was told of
	down := false
	for {
		var msg string
		select {
		case <-ctx.Done():
			return
		case name := <-changed:
			// A name is one line: the data field cannot be split.
			msg = "event: changed\ndata: " + strings.NewReplacer("\n", "", "\r", "").Replace(name) + "\n\n"
		case <-overflow:
			msg = evReload
		case <-state.signal:
			msg, announced, down = state.news(announced, down)
		case <-tick.C:
			msg = ": ping\n\n"
		}
		if msg != "" && !send(msg) {
			return
		}
	}
}

// streamWriter returns a function that writes msg to the stream and
// flushes it, reporting whether the page is still there.
func streamWriter(w http.ResponseWriter) func(msg string) bool {
	rc := http.NewResponseController(w)
	return func(msg string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeWindow))
		if _, err := fmt.Fprint(w, msg); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
}

// listenState follows the Backend's listener for one stream. It counts
// the times it came up, so that a drop and a reconnect between two looks
// of the stream are still seen as a reconnect.
type listenState struct {
	mu     sync.Mutex
	up     bool
	ups    int
	signal chan struct{}
}

// set is Watch's connected callback: it never blocks.
func (s *listenState) set(up bool) {
	s.mu.Lock()
	s.up = up
	if up {
		s.ups++
	}
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// news returns what the page must be told given what it was told:
// announced ups, and whether it was told the listener is down; "" when
// nothing.
func (s *listenState) news(announced int, down bool) (msg string, nowAnnounced int, nowDown bool) {
	s.mu.Lock()
	up, ups := s.up, s.ups
	s.mu.Unlock()
	switch {
	case up && ups == announced:
		return "", announced, down
	case up && announced == 0:
		return evReady, ups, false
	case up:
		// Back after a drop: what changed meanwhile was not notified.
		return evReady + evReload, ups, false
	case announced > 0 && !down:
		return evDown, announced, true
	}
	return "", announced, down
}
