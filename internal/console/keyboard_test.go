package console_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// tabTo presses Tab until the focused element matches the CSS selector
// sel, pressing it at most `most` times, and fails the test if it never does: what a
// person using only the keyboard does to reach a control.
func (b *bundle) tabTo(sel string, most int) {
	b.t.Helper()
	focused := fmt.Sprintf(`document.activeElement !== null && document.activeElement.matches(%q)`, sel)
	for range most {
		b.do("press Tab", chromedp.KeyEvent(kb.Tab))
		on, err := chromedp.Run(b.browser, chromedp.Evaluate[bool](focused))
		if err != nil {
			b.t.Fatal(err)
		}
		if on {
			return
		}
	}
	got, _ := chromedp.Run(b.browser, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.outerHTML.slice(0, 120) : ""`))
	b.t.Fatalf("%d Tabs never reached %s; focus is on %s", most, sel, got)
}

// fromSkipLink puts the focus on the page's skip link, and checks that it
// is the first Tab stop: Shift+Tab from it leaves the page's controls.
func (b *bundle) fromSkipLink() {
	b.t.Helper()
	b.do("focus the skip link", chromedp.Evaluate[chromedp.Void](`document.querySelector("a.skip").focus()`))
	if got := b.text(b.browser, "a.skip"); got != "Skip to content" {
		b.t.Errorf("the skip link reads %q", got)
	}
	first, err := chromedp.Run(b.browser, chromedp.Evaluate[bool](
		`document.querySelector("a, button, input, select, textarea, [tabindex]") === document.querySelector("a.skip")`))
	if err != nil || !first {
		b.t.Errorf("the skip link is not the page's first focusable element (%v)", err)
	}
}

// TestKeyboardOnly: a person with only a keyboard signs in (Tab from the
// page's start, past the skip link, to the key; type it; Enter) and
// refreshes a connection (Tab to its Refresh button; Enter).
func TestKeyboardOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "xero-acme"})
	before := b.stored("xero-acme").Version
	ctx := b.browser
	b.open(ctx, "/console/signin")
	// From the page's first Tab stop, the skip link.
	b.fromSkipLink()
	b.tabTo(`#key`, 10)
	b.do("type the key and press Enter", chromedp.KeyEvent(b.adminKey), chromedp.KeyEvent(kb.Enter))
	b.waitPath(ctx, "/console/")
	if got := b.text(ctx, "h1"); got != "Connections" {
		t.Fatalf("signed in by keyboard, the page is %q", got)
	}

	b.open(ctx, "/console/connections/xero-acme")
	b.fromSkipLink()
	b.tabTo(`form[action$="/refresh"] button`, 40)
	if resp, err := chromedp.RunResponse(ctx, chromedp.KeyEvent(kb.Enter)); err != nil || resp.Status != http.StatusOK {
		t.Fatalf("Enter on Refresh now: %v, %v", resp, err)
	}
	if got := b.text(ctx, ".flash"); got != "Refreshed." {
		t.Errorf("after Enter on Refresh now the page says %q", got)
	}
	if after := b.stored("xero-acme").Version; after <= before {
		t.Errorf("version %d after the keyboard refresh, was %d", after, before)
	}
}
