package console

import (
	"testing"
	"time"
)

// TestRelative: times read in their two largest units, as the page's
// script also writes them.
func TestRelative(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "now"},
		{500 * time.Millisecond, "now"},
		{42 * time.Second, "in 42s"},
		{-(4*time.Minute + 10*time.Second), "4m 10s ago"},
		{time.Hour, "in 1h"},
		{3*time.Hour + 2*time.Minute + 9*time.Second, "in 3h 2m"},
		{-(50*time.Hour + 30*time.Minute), "2d 2h ago"},
	} {
		if got := relative(now.Add(tc.d), now); got != tc.want {
			t.Errorf("relative(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestLocalPath: after sign-in, only a console path is followed.
func TestLocalPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/console/keys":           "/console/keys",
		"/console/?status=a":      "/console/?status=a",
		"":                        "/console/",
		"https://evil.example/":   "/console/",
		"//evil.example/console/": "/console/",
		"/console/\\evil":         "/console/",
		"/other":                  "/console/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNothingChanged: a refused authorization's message is whole
// sentences, and says once that nothing changed.
func TestNothingChanged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ err, want string }{
		{"the provider refused the code", "The provider refused the code. Nothing was changed."},
		{"access denied.", "Access denied. Nothing was changed."},
		{"this authorization expired; nothing was stored: start it again", "This authorization expired; nothing was stored: start it again."},
		{"", "Nothing was changed."},
	} {
		if got := nothingChanged(tc.err); got != tc.want {
			t.Errorf("nothingChanged(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
