package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

func sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// A session starts only for a live admin key, and ends when it expires, is
// signed out, or its key is revoked or deleted.
func TestSessionsBelongToLiveAdminKeys(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := t.Context()
	if ok, err := st.HasAdminKey(ctx); err != nil || ok {
		t.Fatalf("HasAdminKey on an empty table = %v, %v", ok, err)
	}
	if err := st.CreateAPIKey(ctx, "tok", "api", sum("tok"), []string{"*"}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAdminAPIKey(ctx, "adm", "ops", sum("adm")); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.HasAdminKey(ctx); err != nil || !ok {
		t.Fatalf("HasAdminKey = %v, %v", ok, err)
	}
	k, err := st.APIKeyByID(ctx, "adm")
	if err != nil || !k.Admin || len(k.Patterns) != 0 {
		t.Fatalf("admin key read back as %+v, %v", k, err)
	}

	if _, err := st.CreateSession(ctx, sum("s0"), "tok", "c", time.Hour); !errors.Is(err, store.ErrNoSession) {
		t.Fatalf("session for a token-API key: %v", err)
	}
	s, err := st.CreateSession(ctx, sum("s1"), "adm", "csrf1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID != "adm" || s.Label != "ops" || s.CSRF != "csrf1" || time.Until(s.Expires) < 59*time.Minute {
		t.Fatalf("session %+v", s)
	}
	if got, err := st.Session(ctx, sum("s1")); err != nil || got.CSRF != "csrf1" {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	if _, err := st.Session(ctx, sum("unknown")); !errors.Is(err, store.ErrNoSession) {
		t.Fatalf("unknown session: %v", err)
	}

	// Expired.
	if _, err := st.CreateSession(ctx, sum("s2"), "adm", "csrf2", time.Hour); err != nil {
		t.Fatal(err)
	}
	exec(t, st, "UPDATE console_sessions SET expires_at = now() - interval '1 second' WHERE token_hash = ?", sum("s2"))
	if _, err := st.Session(ctx, sum("s2")); !errors.Is(err, store.ErrNoSession) {
		t.Fatalf("expired session: %v", err)
	}
	// Signed out, twice.
	for range 2 {
		if err := st.DeleteSession(ctx, sum("s1")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Session(ctx, sum("s1")); !errors.Is(err, store.ErrNoSession) {
		t.Fatalf("signed-out session: %v", err)
	}
	// Revoked key.
	if _, err := st.CreateSession(ctx, sum("s3"), "adm", "csrf3", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeAPIKey(ctx, "adm"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(ctx, sum("s3")); !errors.Is(err, store.ErrNoSession) {
		t.Fatalf("session of a revoked key: %v", err)
	}
	if _, err := st.CreateSession(ctx, sum("s4"), "adm", "c", time.Hour); !errors.Is(err, store.ErrNoSession) {
		t.Fatalf("session for a revoked key: %v", err)
	}
	if ok, _ := st.HasAdminKey(ctx); ok {
		t.Fatal("a revoked admin key still counts")
	}
	// The prune deletes the expired session.
	if _, err := st.PruneEvents(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := count(t, st, "console_sessions WHERE expires_at < now()"); n != 0 {
		t.Fatalf("%d expired sessions after the prune", n)
	}
}

// A pending authorization is consumed once, and never when expired; its
// verifier and client secret are sealed at rest.
func TestAuthorizationsAreConsumedOnceAndSealed(t *testing.T) {
	t.Parallel()
	k, _ := newKeyring(t, "k1")
	st := setup(t).WithKeyring(k)
	ctx := t.Context()
	a := &store.Authorization{Name: "new-conn", RedirectURI: "https://tw.example/oauth/callback",
		Verifier: "verifier-secret-value", ClientSecret: "client-secret-value", Settings: []byte(`{"provider":"oauth2"}`)}
	if err := st.CreateAuthorization(ctx, sum("state1"), a, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	var dump string
	if err := st.DB().Raw("SELECT string_agg(t::text, ' ') FROM oauth_authorizations AS t").Row().Scan(&dump); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"verifier-secret-value", "client-secret-value", "state1"} {
		if strings.Contains(dump, secret) {
			t.Fatalf("%q is in the clear in oauth_authorizations: %s", secret, dump)
		}
	}
	if _, err := st.ConsumeAuthorization(ctx, sum("forged")); !errors.Is(err, store.ErrNoAuthorization) {
		t.Fatalf("forged state: %v", err)
	}
	got, err := st.ConsumeAuthorization(ctx, sum("state1"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "new-conn" || got.Verifier != "verifier-secret-value" || got.ClientSecret != "client-secret-value" ||
		got.TokenID != nil || got.LinkID != nil || !bytes.Contains(got.Settings, []byte("oauth2")) {
		t.Fatalf("consumed %+v", got)
	}
	if _, err := st.ConsumeAuthorization(ctx, sum("state1")); !errors.Is(err, store.ErrNoAuthorization) {
		t.Fatalf("replayed state: %v", err)
	}

	if err := st.CreateAuthorization(ctx, sum("state2"), &store.Authorization{Name: "x", RedirectURI: "r", Verifier: "v"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	exec(t, st, "UPDATE oauth_authorizations SET expires_at = now() - interval '1 second' WHERE state_hash = ?", sum("state2"))
	if _, err := st.ConsumeAuthorization(ctx, sum("state2")); !errors.Is(err, store.ErrNoAuthorization) {
		t.Fatalf("expired state: %v", err)
	}
	if _, err := st.PruneConsole(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, st, "oauth_authorizations"); n != 1 {
		t.Fatalf("%d authorizations after the prune, want the used unexpired one", n)
	}
}

// A link names one connection, is read without being consumed, is used up
// by the store of the tokens it let in, and refuses after that.
func TestConnectLinkIsUsedUpWithTheStore(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := t.Context()
	insert(t, st, "acme", time.Hour)
	if _, err := st.CreateConnectLink(ctx, sum("nope"), "missing", "cli", time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("link to an unknown connection: %v", err)
	}
	l, err := st.CreateConnectLink(ctx, sum("link1"), "acme", "cli", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	row := get(t, st, "acme")
	if l.TokenID != row.ID || l.Name != "acme" || l.Provider != "oauth2" || l.CreatedBy != "cli" {
		t.Fatalf("link %+v", l)
	}
	for range 2 { // a GET consumes nothing
		if _, err := st.ConnectLink(ctx, sum("link1")); err != nil {
			t.Fatal(err)
		}
	}
	a := &store.Authorization{TokenID: &l.TokenID, Name: "acme", LinkID: &l.ID, RedirectURI: "r", Verifier: "v"}
	if err := st.CreateAuthorization(ctx, sum("st"), a, time.Minute); err != nil {
		t.Fatal(err)
	}
	// A second flow from the same link, before either completes.
	b := &store.Authorization{TokenID: &l.TokenID, Name: "acme", LinkID: &l.ID, RedirectURI: "r", Verifier: "v"}
	if err := st.CreateAuthorization(ctx, sum("st2"), b, time.Minute); err != nil {
		t.Fatal(err)
	}
	// A link's flow is only for its connection.
	insert(t, st, "other", time.Hour)
	otherID := get(t, st, "other").ID
	c := &store.Authorization{TokenID: &otherID, Name: "other", LinkID: &l.ID, RedirectURI: "r", Verifier: "v"}
	if err := st.CreateAuthorization(ctx, sum("st3"), c, time.Minute); !errors.Is(err, store.ErrLinkUnusable) {
		t.Fatalf("a link's flow for another connection: %v", err)
	}

	consumed, err := st.ConsumeAuthorization(ctx, sum("st"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.StoreAuthorization(ctx, store.ImportRow{Name: "acme", AccessToken: ptr("at-new"), RefreshToken: ptr("rt-new")}, consumed); err != nil {
		t.Fatal(err)
	}
	after := get(t, st, "acme")
	if after.ID != row.ID || after.Version != row.Version+1 || after.AccessToken.Reveal() != "at-new" || after.Status != model.StatusActive {
		t.Fatalf("stored %+v", after)
	}
	if _, err := st.ConnectLink(ctx, sum("link1")); !errors.Is(err, store.ErrLinkUnusable) {
		t.Fatalf("used link: %v", err)
	}
	// The second flow cannot store through the used link: nothing changes.
	second, err := st.ConsumeAuthorization(ctx, sum("st2"))
	if err != nil {
		t.Fatal(err)
	}
	err = st.StoreAuthorization(ctx, store.ImportRow{Name: "acme", AccessToken: ptr("at-other"), RefreshToken: ptr("rt-other")}, second)
	if !errors.Is(err, store.ErrLinkUnusable) {
		t.Fatalf("store through a used link: %v", err)
	}
	if again := get(t, st, "acme"); again.Version != after.Version || again.AccessToken.Reveal() != "at-new" {
		t.Fatalf("a refused store changed the row: %+v", again)
	}
	// Nor can a new flow start from it.
	d := &store.Authorization{TokenID: &l.TokenID, Name: "acme", LinkID: &l.ID, RedirectURI: "r", Verifier: "v"}
	if err := st.CreateAuthorization(ctx, sum("st4"), d, time.Minute); !errors.Is(err, store.ErrLinkUnusable) {
		t.Fatalf("a flow from a used link: %v", err)
	}
	// The prune keeps a link ten minutes past its expiry (a flow begun
	// just before may still complete), then deletes it.
	exec(t, st, "UPDATE connect_links SET expires_at = now() - interval '5 minutes'")
	if _, err := st.PruneConsole(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, st, "connect_links"); n != 1 {
		t.Fatalf("%d links after a prune within ten minutes of expiry", n)
	}
	exec(t, st, "UPDATE connect_links SET expires_at = now() - interval '11 minutes'")
	if _, err := st.PruneConsole(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, st, "connect_links"); n != 0 {
		t.Fatalf("%d links after the prune", n)
	}
}

// A reconnect whose connection was deleted and created again stores
// nothing, and a new connection whose name was taken meanwhile neither.
func TestStoreAuthorizationChecksTheConnection(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := t.Context()
	insert(t, st, "acme", time.Hour)
	consumed := consumedReconnect(t, st, "acme")
	if err := st.Delete(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	insert(t, st, "acme", time.Hour)
	err := st.StoreAuthorization(ctx, store.ImportRow{Name: "acme", AccessToken: ptr("x"), RefreshToken: ptr("y")}, consumed)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("store into a recreated connection: %v", err)
	}
	if got := get(t, st, "acme"); got.AccessToken.Reveal() != "at-acme" {
		t.Fatal("the recreated connection was overwritten")
	}
	err = st.StoreAuthorization(ctx, store.ImportRow{Name: "acme", AccessToken: ptr("x")}, &store.Authorization{Name: "acme"})
	if err == nil || !strings.Contains(err.Error(), "was created while") {
		t.Fatalf("a new connection over an existing name: %v", err)
	}
}

// consumedReconnect begins a reconnect of the named connection and
// consumes it, as the callback does, and returns it to be stored.
func consumedReconnect(t *testing.T, st *store.Store, name string) *store.Authorization {
	t.Helper()
	id := get(t, st, name).ID
	a := &store.Authorization{TokenID: &id, Name: name, RedirectURI: "r", Verifier: "v"}
	if err := st.CreateAuthorization(t.Context(), sum("s-"+name), a, time.Minute); err != nil {
		t.Fatal(err)
	}
	consumed, err := st.ConsumeAuthorization(t.Context(), sum("s-"+name))
	if err != nil {
		t.Fatal(err)
	}
	return consumed
}

// A connection disabled while its person was at the consent page is not
// revived by the tokens that come back: the check is made in the storing
// transaction, so a disable between the app's checks and the store wins.
func TestStoreAuthorizationLeavesADisabledConnection(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := t.Context()
	insert(t, st, "acme", time.Hour)
	consumed := consumedReconnect(t, st, "acme")
	if _, err := st.Disable(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	err := st.StoreAuthorization(ctx, store.ImportRow{Name: "acme", AccessToken: ptr("x"), RefreshToken: ptr("y")}, consumed)
	if err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("store into a disabled connection: %v", err)
	}
	if got := get(t, st, "acme"); got.Status != model.StatusDisabled || got.AccessToken.Reveal() != "at-acme" {
		t.Fatalf("the disabled connection was changed: status %s", got.Status)
	}
}

// The console's pages walk every row once, in expiry order with the
// never-expiring last, whatever the page size, with each filter.
func TestListConnectionsPagesInExpiryOrder(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := t.Context()
	var rows []store.ImportRow
	for i := range 7 {
		exp := time.Now().Add(time.Duration(i%3) * time.Hour) // ties on expiry
		rows = append(rows, store.ImportRow{Name: fmt.Sprintf("Xero-%d", i), AccessToken: ptr("at"), RefreshToken: ptr("rt"),
			AccessTokenExpires: &exp})
	}
	for i := range 3 { // never expire
		rows = append(rows, store.ImportRow{Name: fmt.Sprintf("hub_%d", i), Provider: ptr("hubspot"), AccessToken: ptr("at")})
	}
	if err := st.Import(ctx, rows); err != nil {
		t.Fatal(err)
	}
	exec(t, st, "UPDATE oauth_tokens SET status = 'needs_reauth' WHERE name IN ('Xero-1', 'hub_2')")

	walk := func(q store.ListQuery) []string {
		var names []string
		for {
			page, err := st.ListConnections(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page {
				if r.AccessToken != nil || r.RefreshToken != nil || r.ClientSecret != nil {
					t.Fatalf("%s listed with a secret", r.Name)
				}
				names = append(names, r.Name)
			}
			if len(page) < q.Limit {
				return names
			}
			last := page[len(page)-1]
			q.After = &store.ListCursor{Expires: last.AccessTokenExpires, Name: last.Name}
		}
	}
	want := "Xero-0 Xero-3 Xero-6 Xero-1 Xero-4 Xero-2 Xero-5 hub_0 hub_1 hub_2"
	for _, limit := range []int{1, 3, 50} {
		if got := strings.Join(walk(store.ListQuery{Limit: limit}), " "); got != want {
			t.Fatalf("limit %d: %s, want %s", limit, got, want)
		}
	}
	for _, c := range []struct {
		q    store.ListQuery
		want string
	}{
		{store.ListQuery{Status: "needs_reauth"}, "Xero-1 hub_2"},
		{store.ListQuery{Provider: "hubspot"}, "hub_0 hub_1 hub_2"},
		{store.ListQuery{NameRegexp: "^xero-[3-5]$"}, "Xero-3 Xero-4 Xero-5"},
		{store.ListQuery{NameRegexp: "B_"}, "hub_0 hub_1 hub_2"},
	} {
		c.q.Limit = 2
		if got := strings.Join(walk(c.q), " "); got != c.want {
			t.Fatalf("%+v: %s, want %s", c.q, got, c.want)
		}
	}
	got, err := st.Connection(ctx, "hub_0")
	if err != nil || got.Provider != "hubspot" || got.AccessToken != nil {
		t.Fatalf("Connection = %+v, %v", got, err)
	}
	if _, err := st.Connection(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}
