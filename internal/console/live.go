package console

import (
	"fmt"
	"net/http"
	"strings"
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

// live is the list's Server-Sent Events stream: an event "changed" with a
// connection's name whenever it changes (the tokenwarden_tokens
// notifications, through Backend.Watch). It sends names only; the page
// fetches the rows it shows, so nothing is sent that the page does not
// ask for.
func (c *console) live(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	ctx := r.Context()
	changed := make(chan string, changedBuffer)
	overflow := make(chan struct{}, 1)
	stop := c.Backend.Watch(ctx, func(name string) {
		select {
		case changed <- name:
		default:
			select {
			case overflow <- struct{}{}:
			default:
			}
		}
	})
	defer stop()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(msg string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeWindow))
		if _, err := fmt.Fprint(w, msg); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// The first line tells the page that the stream is up.
	if !send("retry: 3000\nevent: ready\ndata: \n\n") {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		var msg string
		select {
		case <-ctx.Done():
			return
		case name := <-changed:
			// A name is one line: the data field cannot be split.
			msg = "event: changed\ndata: " + strings.NewReplacer("\n", "", "\r", "").Replace(name) + "\n\n"
		case <-overflow:
			msg = "event: reload\ndata: \n\n"
		case <-tick.C:
			msg = ": ping\n\n"
		}
		if !send(msg) {
			return
		}
	}
}
