package console

import (
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// TestRefreshWarning: a connection's page warns when its refresh token
// has died or will die within the warning window, and when the provider
// refused it; not otherwise.
func TestRefreshWarning(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	week := 7 * 24 * time.Hour
	for _, tc := range []struct {
		name string
		conn model.OAuthToken
		want string // a part of the warning; "" for none
	}{
		{"no expiry", model.OAuthToken{Status: model.StatusActive}, ""},
		{"far off", model.OAuthToken{Status: model.StatusActive, RefreshTokenExpires: at(30 * 24 * time.Hour)}, ""},
		{"soon", model.OAuthToken{Status: model.StatusActive, RefreshTokenExpires: at(50 * time.Hour)}, "expires in 2d 2h"},
		{"passed", model.OAuthToken{Status: model.StatusActive, RefreshTokenExpires: at(-time.Hour)}, "expired 1h ago"},
		{"refused", model.OAuthToken{Status: model.StatusNeedsReauth}, "provider refused it"},
		{"client credentials", model.OAuthToken{Status: model.StatusActive, Grant: model.GrantClientCredentials, RefreshTokenExpires: at(time.Hour)}, ""},
	} {
		got := refreshWarning(&tc.conn, now, week)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: warning %q, want one with %q", tc.name, got, tc.want)
		}
	}
}
