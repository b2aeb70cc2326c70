package browsertest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"
)

// TestMain checks that New leaves no goroutine behind: the browser and
// chromedp's readers are stopped by the test's cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestNewDrivesChromium: New's browser loads a page and reads what it
// shows; a second context of it has cookies of its own.
func TestNewDrivesChromium(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("seen"); err == nil {
			_, _ = w.Write([]byte(`<!doctype html><h1>again</h1>`))
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "seen", Value: "1"})
		_, _ = w.Write([]byte(`<!doctype html><h1>first visit</h1>`))
	}))
	t.Cleanup(srv.Close)
	ctx := New(t)
	for _, want := range []string{"first visit", "again"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
			t.Fatal(err)
		}
		if got := Text(t, ctx, "h1"); got != want {
			t.Errorf("page shows %q, want %q", got, want)
		}
	}
	tab := NewTab(t, ctx)
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	if got := Text(t, tab, "h1"); got != "first visit" {
		t.Errorf("a new browser context shares cookies: page shows %q", got)
	}
}

// TestMissingChromiumSaysHowToInstall: a CHROME_PATH that is not there
// is an error naming the install script.
func TestMissingChromiumSaysHowToInstall(t *testing.T) {
	t.Parallel()
	_, err := execPath("/nonexistent/chromium")
	if err == nil || !strings.Contains(err.Error(), "bash scripts/chromium.sh install") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %v, want one line naming `bash scripts/chromium.sh install`", err)
	}
}
