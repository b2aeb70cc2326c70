package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// InstallHint is what a test says when there is no Chromium to drive.
const InstallHint = "no Chromium to drive: run `bash scripts/chromium.sh install` (or set CHROME_PATH)"

// ScreenshotsEnv names the directory Screenshot writes to; unset, it
// writes nothing.
const ScreenshotsEnv = "TOKENWARDEN_SCREENSHOTS"

// New starts a headless Chromium of its own, with a fresh profile, and
// returns a context for chromedp's actions in its first tab. The browser
// is stopped, and its profile removed, when the test ends. Without
// Chromium the test fails, saying how to install it: a browser test is
// never skipped.
func New(t testing.TB) context.Context {
	t.Helper()
	path, err := ExecPath()
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		// Cancel closes the browser and waits for its process; then the
		// allocator's goroutines end.
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser: fail here, with the reason, rather
	// than in the test's first step.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	return ctx
}

// NewTab returns a context for a second, separate browsing context of
// the same browser, with cookies of its own (a person with no session):
// an incognito-like browser context. It is closed when the test ends.
func NewTab(t testing.TB, browser context.Context) context.Context { //nolint:revive // a test helper takes t first
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("new browser context: %v", err)
	}
	return ctx
}

// ExecPath finds Chromium: $CHROME_PATH, /usr/bin/chromium, or the names
// chromedp looks for on PATH. Its error says how to install it.
func ExecPath() (string, error) { return execPath(os.Getenv("CHROME_PATH")) }

func execPath(chromePath string) (string, error) {
	if chromePath != "" {
		p, err := exec.LookPath(chromePath)
		if err != nil {
			return "", fmt.Errorf("CHROME_PATH=%s: %w; %s", chromePath, err, InstallHint)
		}
		return p, nil
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New(InstallHint)
}

// Screenshot writes a full-page PNG of the current page to
// $TOKENWARDEN_SCREENSHOTS/name.png when that variable is set (`make
// screenshots` sets it to docs/img), and does nothing otherwise.
func Screenshot(t testing.TB, ctx context.Context, name string) { //nolint:revive // a test helper takes t first
	t.Helper()
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // docs/img, part of the repository
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil { //nolint:gosec // an image for the docs
		t.Fatalf("screenshot %s: %v", name, err)
	}
}

// Text returns the visible text of the first node matching the CSS
// selector sel, once it is visible.
func Text(t testing.TB, ctx context.Context, sel string) string { //nolint:revive // a test helper takes t first
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("wait for %s: %v", sel, err)
	}
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}
