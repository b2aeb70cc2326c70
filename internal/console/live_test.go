package console_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tokenwarden/tokenwarden/internal/console"
	"github.com/tokenwarden/tokenwarden/pkg/model"
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

// count is the figure the list shows at the top for status ("" = all).
func count(status string) string {
	href := "/console/"
	if status != "" {
		href += "?status=" + status
	}
	return fmt.Sprintf(`document.querySelector('.counts a[href=%q] .count').textContent`, href)
}

// rowOf is the list's row of the connection name, in script.
func rowOf(name string) string {
	return fmt.Sprintf(`document.querySelector('#connections tr[data-name=%q]')`, name)
}

// TestLiveRowLeavesFilter: in a list filtered by status, a connection
// that changes to another status is marked, without a reload, as no
// longer matching the filter, showing its new status; the counts at the
// top follow, for rows in view and out of it alike.
func TestLiveRowLeavesFilter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "hubspot-acme", status: model.StatusNeedsReauth}, conn{name: "hubspot-beta", status: model.StatusNeedsReauth},
		conn{name: "xero-acme"})
	ctx := b.signedInAt("/console/?status=needs_reauth")
	b.waitLive(ctx)
	if got := b.rowNames(ctx); !slices.Equal(got, []string{"hubspot-acme", "hubspot-beta"}) {
		t.Fatalf("needs_reauth list shows %v", got)
	}

	if err := b.backend.Enable(t.Context(), "hubspot-acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`%s.dataset.gone === "filtered" && %s === "1" && %s === "2" && window.notReloaded === true`,
		rowOf("hubspot-acme"), count(model.StatusNeedsReauth), count(model.StatusActive)))); err != nil {
		t.Fatalf("reconnected elsewhere, the row is not marked or the counts did not follow: %v", err)
	}
	row := `#connections tr[data-name="hubspot-acme"]`
	if got := strings.Join(strings.Fields(b.text(ctx, row+" td:nth-child(1)")), " "); got != "hubspot-acme no longer matches the filter — reload" {
		t.Errorf("the row that left the filter reads %q", got)
	}
	if got := b.text(ctx, row+" td:nth-child(2)"); got != model.StatusActive {
		t.Errorf("the row that left the filter shows status %q, want its new one", got)
	}
	if got := b.text(ctx, `#connections tr[data-name="hubspot-beta"]`); strings.Contains(got, "no longer matches") {
		t.Errorf("an unchanged row reads %q", got)
	}
	if cur, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('.counts a[aria-current]').getAttribute("href") === "/console/?status=needs_reauth"`)); err != nil || !cur {
		t.Errorf("after the counts were fetched again the filter's count is not the current one (%v)", err)
	}

	// A change to a connection out of view moves the counts too.
	if err := b.backend.Disable(t.Context(), "xero-acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`%s === "1" && %s === "1" && %s === "3" && window.notReloaded === true`,
		count(model.StatusDisabled), count(model.StatusActive), count("")))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".counts").innerText`))
		t.Fatalf("disabled out of view, the counts read %q: %v", got, err)
	}
	if got := b.rowNames(ctx); !slices.Equal(got, []string{"hubspot-acme", "hubspot-beta"}) {
		t.Errorf("a change out of view changed the rows to %v", got)
	}

	// The note's link lists the filter's rows again.
	b.submit(ctx, row+" .gone-note a")
	if got := b.rowNames(ctx); !slices.Equal(got, []string{"hubspot-beta"}) {
		t.Errorf("after the note's reload the needs_reauth list shows %v", got)
	}
}

// TestLiveRowDeleted: a connection deleted elsewhere stays in the list,
// marked deleted and no longer a link, without a reload; the counts
// follow.
func TestLiveRowDeleted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "xero-acme"}, conn{name: "xero-beta"})
	ctx := b.signedInAt("/console/")
	b.waitLive(ctx)

	if err := b.backend.Delete(t.Context(), "xero-beta"); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`%s.dataset.gone === "deleted" && %s === "1" && %s === "1" && window.notReloaded === true`,
		rowOf("xero-beta"), count(""), count(model.StatusActive)))); err != nil {
		t.Fatalf("deleted elsewhere, the row is not marked or the counts did not follow: %v", err)
	}
	row := `#connections tr[data-name="xero-beta"]`
	if got := strings.Join(strings.Fields(b.text(ctx, row+" td:nth-child(1)")), " "); got != "xero-beta deleted — reload" {
		t.Errorf("the deleted row's name cell reads %q", got)
	}
	if links, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('`+row+` a.name').length`)); err != nil || links != 0 {
		t.Errorf("the deleted row still links to its page (%d links, %v)", links, err)
	}
	if got := b.text(ctx, `#connections tr[data-name="xero-acme"]`); strings.Contains(got, "deleted") {
		t.Errorf("the row left alone reads %q", got)
	}
}
