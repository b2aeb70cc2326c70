// Package browsertest drives a real headless Chromium for tests of web
// pages, through chromedp: a test sees what a person would (text, URL,
// status), not the HTML a handler wrote.
//
//	ctx := browsertest.New(t) // fails, naming the install script, without Chromium
//	err := chromedp.Run(ctx,
//		chromedp.Navigate(srv.URL+"/console/signin"),
//		chromedp.SendKeys("#key", adminKey, chromedp.ByQuery),
//		chromedp.Submit("#key", chromedp.ByQuery),
//		chromedp.WaitVisible("#connections", chromedp.ByQuery),
//	)
//	browsertest.Screenshot(t, ctx, "connections")
//
// Each New starts its own browser with a fresh profile in a temporary
// directory, with the flags a container needs (no sandbox, no GPU, no
// /dev/shm) and those that stop it talking to anything but the test's
// servers (no background networking, component updates, sync or QUIC).
// The browser and every goroutine chromedp started are stopped when the
// test ends, so packages that check for leaked goroutines stay clean.
//
// Screenshot writes full-page PNGs only when $TOKENWARDEN_SCREENSHOTS is
// set, which is how `make screenshots` makes the images of docs/console.md
// from the same tests.
package browsertest
