package console_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tokenwarden/tokenwarden/internal/console"
)

// listenerGate stands between the console and the application's Watch.
// The test takes the listener down and up, as a dropped and re-made
// LISTEN connection would be, and a change made while it is down is not
// notified, as PostgreSQL would not deliver it.
type listenerGate struct {
	console.Backend
	mu   sync.Mutex
	down bool
	subs []func(up bool)
}

func (g *listenerGate) Watch(ctx context.Context, changed func(string), connected func(bool)) (func(), error) {
	return g.Backend.Watch(ctx, func(name string) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if !g.down {
			changed(name)
		}
	}, func(up bool) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if up {
			g.subs = append(g.subs, connected)
		}
		if !g.down {
			connected(up)
		}
	})
}

// set takes every stream's listener down or brings it back up.
func (g *listenerGate) set(down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = down
	for _, connected := range g.subs {
		connected(!down)
	}
}

// waitLive waits until the list says it is live (the server listens),
// and marks the page, so that a test can tell it was never reloaded.
func (b *bundle) waitLive(ctx context.Context) {
	b.t.Helper()
	b.do("wait for the live stream", chromedp.WaitReady(chromedp.CSS(`body[data-live-ready]`)),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	if got := b.text(ctx, "#live-state"); got != "● live" {
		b.t.Errorf("with the stream ready the list says %q, want ● live", got)
	}
}

// liveState is the text the list shows about its live updates.
const liveState = `document.getElementById("live-state").textContent`

// TestLiveUpdateCatchesUpAfterReconnect: when the listener's connection
// drops, the list stops saying it is live; when it is back, the list
// fetches its rows again, so a change made in the gap (never notified)
// still shows.
func TestLiveUpdateCatchesUpAfterReconnect(t *testing.T) {
	t.Parallel()
	gate := &listenerGate{}
	b := setupWith(t, options{wrap: func(be console.Backend) console.Backend { gate.Backend = be; return gate }})
	b.seed(conn{name: "xero-acme"})
	ctx := b.browser
	b.signIn(ctx)
	b.waitLive(ctx)

	gate.set(true)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](liveState+` === "reconnecting…" && !document.body.dataset.liveReady`)); err != nil {
		t.Fatalf("with the listener down the list does not say so: %v", err)
	}
	refreshed, err := b.backend.Refresh(t.Context(), "xero-acme")
	if err != nil {
		t.Fatal(err)
	}
	gate.set(false)
	cell := `document.querySelector('#connections tr[data-name="xero-acme"] td:nth-child(5)').textContent`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`%s === "%d" && %s === "● live" && window.notReloaded === true`,
		cell, refreshed.Version, liveState))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](cell))
		t.Fatalf("after the listener came back the row shows version %q, want %d (changed while it was down): %v", got, refreshed.Version, err)
	}
}

// TestNotLiveWhenPollOnly: with TOKENS_POLL_ONLY nothing is ever
// notified; the list says it is not live rather than claiming it is.
func TestNotLiveWhenPollOnly(t *testing.T) {
	t.Parallel()
	b := setupWith(t, options{env: map[string]string{"TOKENS_POLL_ONLY": "true"}})
	b.seed(conn{name: "xero-acme"})
	ctx := b.browser
	b.signIn(ctx)
	b.do("wait for the stream's answer", chromedp.WaitReady(chromedp.CSS(`body[data-live="off"]`)))
	if got := b.text(ctx, "#live-state"); got != "not live: reload to update" {
		t.Errorf("in poll-only mode the list says %q", got)
	}
	if ready, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`"liveReady" in document.body.dataset`)); err != nil || ready {
		t.Errorf("in poll-only mode the page marks itself live (%v, %v)", ready, err)
	}
}
