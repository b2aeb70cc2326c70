package console_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/connfile"
)

// exec runs SQL on the test's database, behind the application's back,
// as the clock or another process would change it.
func (b *bundle) exec(query string, args ...any) {
	b.t.Helper()
	db, err := sql.Open("pgx", b.dsn)
	if err != nil {
		b.t.Fatal(err)
	}
	defer db.Close()
	res, err := db.ExecContext(b.t.Context(), query, args...)
	if err != nil {
		b.t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		b.t.Fatalf("%s: %d rows, want 1", query, n)
	}
}

// count returns how many elements sel matches on the page.
func (b *bundle) count(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.browser, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

// TestMachineGrantHasNoReconnect: a client_credentials connection has no
// person's consent to give again, so its page offers neither Reconnect
// nor a reconnect link, and says why in one line; Refresh now stays.
func TestMachineGrantHasNoReconnect(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := fmt.Sprintf(`{"name":"m2m","provider":"oauth2","grant":"client_credentials","token_url":%q,"client_id":"client-1","client_secret":%q}`,
		b.mockURL+"/token", clientSecret)
	rd := connfile.NewReader(strings.NewReader(rec), b.app.Catalogue(), time.Now())
	if _, err := b.app.Import(t.Context(), rd.Next, app.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx := b.signedInAt("/console/connections/m2m")
	if n := b.count(`form[action$="/reconnect"], form[action$="/link"]`); n != 0 {
		t.Errorf("a client_credentials connection shows %d reconnect forms, want none", n)
	}
	if got := b.text(ctx, "#no-reconnect"); !strings.Contains(got, "client_credentials") || !strings.Contains(got, "No reconnect") {
		t.Errorf("the page explains the missing Reconnect as %q", got)
	}
	if got := b.text(ctx, `form[action$="/refresh"] button`); got != "Refresh now" {
		t.Errorf("Refresh now reads %q", got)
	}
	b.noSecret(ctx)
}

// TestRefreshTokenExpiryWarning: a connection whose refresh token expires
// within TOKENS_REAUTH_WARNING (7 days by default) warns on its page; one
// further off does not.
func TestRefreshTokenExpiryWarning(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "xero-acme"}, conn{name: "xero-beta"})
	b.exec(`UPDATE oauth_tokens SET refresh_token_expires = now() + interval '2 days 3 hours' WHERE name = 'xero-acme'`)
	b.exec(`UPDATE oauth_tokens SET refresh_token_expires = now() + interval '30 days' WHERE name = 'xero-beta'`)
	ctx := b.signedInAt("/console/connections/xero-acme")
	got := b.text(ctx, ".alert.warning")
	if !strings.Contains(got, "Refresh token: it expires in 2d 2h") && !strings.Contains(got, "Refresh token: it expires in 2d 3h") {
		t.Errorf("a refresh token expiring in 2d 3h warns %q", got)
	}
	if !strings.Contains(got, "Reconnect before then") {
		t.Errorf("the warning does not say what to do: %q", got)
	}
	b.open(ctx, "/console/connections/xero-beta")
	if n := b.count(".alert.warning"); n != 0 {
		t.Errorf("a refresh token 30 days from expiry shows %d warnings", n)
	}
}

// TestEventsShowDurationAndHTTPStatus: the events timeline shows each
// attempt's outcome, duration and HTTP status.
func TestEventsShowDurationAndHTTPStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "xero-acme"})
	b.exec(`INSERT INTO oauth_token_events (token_id, name, outcome, duration_ms, http_status, error)
		SELECT id, name, 'transient', 1234, 503, 'provider unavailable' FROM oauth_tokens WHERE name = 'xero-acme'`)
	ctx := b.signedInAt("/console/connections/xero-acme")
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(".events tbody tr:first-child td")).map(td => td.innerText.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	// Time, Outcome, Duration, HTTP, Version, Error.
	if len(cells) != 6 || cells[1] != "transient" || cells[2] != "1234 ms" || cells[3] != "503" || cells[5] != "provider unavailable" {
		t.Errorf("the event's row reads %q, want transient, 1234 ms, 503, provider unavailable", cells)
	}
}
