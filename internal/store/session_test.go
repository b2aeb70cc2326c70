package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// A session signed in through OpenID Connect belongs to no key: revoking
// every admin key leaves it, and it ends by expiry or sign-out. The table
// holds exactly one kind of owner per session.
func TestOIDCSessionsEndByExpiryOrSignOut(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := t.Context()
	if err := st.CreateAdminAPIKey(ctx, "adm", "ops", sum("adm")); err != nil {
		t.Fatal(err)
	}
	s, err := st.CreateOIDCSession(ctx, sum("o1"), "sub-1", "alice@acme.com", "csrf-o1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if s.Subject != "sub-1" || s.Email != "alice@acme.com" || s.KeyID != "" || s.CSRF != "csrf-o1" || time.Until(s.Expires) < 59*time.Minute {
		t.Fatalf("created %+v", s)
	}
	if err := st.RevokeAPIKey(ctx, "adm"); err != nil {
		t.Fatal(err)
	}
	got, err := st.Session(ctx, sum("o1"))
	if err != nil || got.Email != "alice@acme.com" || got.Subject != "sub-1" || got.KeyID != "" || got.Label != "" {
		t.Fatalf("after every key was revoked: %+v, %v", got, err)
	}

	if _, err := st.CreateOIDCSession(ctx, sum("o2"), "sub-2", "bob@acme.com", "c", time.Hour); err != nil {
		t.Fatal(err)
	}
	exec(t, st, "UPDATE console_sessions SET expires_at = now() - interval '1 second' WHERE token_hash = ?", sum("o2"))
	if _, err := st.Session(ctx, sum("o2")); !errors.Is(err, store.ErrNoSession) {
		t.Fatalf("expired OIDC session: %v", err)
	}
	if err := st.DeleteSession(ctx, sum("o1")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(ctx, sum("o1")); !errors.Is(err, store.ErrNoSession) {
		t.Fatalf("signed-out OIDC session: %v", err)
	}

	if _, err := st.CreateOIDCSession(ctx, sum("o3"), "", "carol@acme.com", "c", time.Hour); err == nil {
		t.Error("an OIDC session without a subject was created")
	}
	// Neither owner, or both: the CHECK refuses either.
	for _, q := range []string{
		"INSERT INTO console_sessions (token_hash, csrf_token, expires_at) VALUES ('\\x01', 'c', now() + interval '1 hour')",
		"INSERT INTO console_sessions (token_hash, key_id, oidc_subject, oidc_email, csrf_token, expires_at) " +
			"VALUES ('\\x02', 'adm', 's', 'e@x.com', 'c', now() + interval '1 hour')",
		"INSERT INTO console_sessions (token_hash, oidc_subject, csrf_token, expires_at) VALUES ('\\x03', 's', 'c', now() + interval '1 hour')",
	} {
		err := st.DB().Exec(q).Error
		if err == nil || !strings.Contains(err.Error(), "console_sessions_one_kind") {
			t.Errorf("%s: %v, want the CHECK to refuse it", q, err)
		}
	}
}
