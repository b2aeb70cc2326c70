package console_test

import (
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/tokenwarden/tokenwarden/internal/browsertest"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// TestExpiredReconnectLinkIsRefused: a link past its expiry shows the
// "no longer valid" page to a GET and a POST, starts no consent and
// changes nothing. The expiry is moved with SQL, as the clock would move
// it.
func TestExpiredReconnectLinkIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seed(conn{name: "hubspot-acme", status: model.StatusNeedsReauth})
	link, err := b.backend.CreateConnectLink(t.Context(), "hubspot-acme", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", b.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.ExecContext(t.Context(), `UPDATE connect_links SET expires_at = now() - interval '1 second' WHERE name = 'hubspot-acme'`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("expired %d links, want 1", n)
	}
	before := b.stored("hubspot-acme")

	owner := browsertest.NewTab(t, b.browser)
	if status := b.open(owner, strings.TrimPrefix(link.URL, b.base)); status != http.StatusGone {
		t.Errorf("GET of an expired link: status %d, want 410", status)
	}
	if got := b.text(owner, "h1"); got != "Link no longer valid" {
		t.Errorf("expired link: page title %q", got)
	}
	resp, err := http.Post(link.URL, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("POST of an expired link: status %d, want 410", resp.StatusCode)
	}
	if len(b.mock.Authorized()) != 0 {
		t.Error("an expired link reached the provider's consent")
	}
	if after := b.stored("hubspot-acme"); after.Version != before.Version || after.Status != model.StatusNeedsReauth {
		t.Errorf("the expired link changed the connection: version %d→%d, status %s", before.Version, after.Version, after.Status)
	}
}
