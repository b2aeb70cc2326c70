package tokens

import (
	"errors"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// Invalidate compares the stale token's SHA-256 in one statement, whether
// the worker sealed the stored token (and wrote its hash) or an operator
// typed it in plaintext (the trigger hashed it): only the stored token
// makes the row due, and a foreign one changes nothing.
func TestInvalidateMarksDueOnlyForTheStoredToken(t *testing.T) {
	t.Parallel()
	e := setup(t, mockprovider.Options{})
	keys, err := ParseKeys(sealedV1Key)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.Parse(sealedV1Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"sealed", "operator"} {
		err := e.st.WithKeyring(ring).Import(t.Context(), []store.ImportRow{{Name: n, AccessToken: ptr("at-" + n),
			RefreshToken: ptr("rt-" + n), AccessTokenExpires: ptr(time.Now().Add(time.Hour))}})
		if err != nil {
			t.Fatal(err)
		}
	}
	e.exec(t, "UPDATE oauth_tokens SET access_token = 'at-typed-by-hand' WHERE name = 'operator'")
	c, err := Open(t.Context(), e.dsn, &Options{EncryptionKeys: keys, PollOnly: true, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	due := func(name string) bool {
		var d bool
		if err := e.st.DB().Raw("SELECT access_token_expires <= now() FROM oauth_tokens WHERE name = ?", name).Row().Scan(&d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	for name, stored := range map[string]string{"sealed": "at-sealed", "operator": "at-typed-by-hand"} {
		if err := c.Invalidate(t.Context(), name, "not-"+stored); err != nil || due(name) {
			t.Errorf("%s: a foreign token made the row due (%v)", name, err)
		}
		if err := c.Invalidate(t.Context(), name, stored); err != nil || !due(name) {
			t.Errorf("%s: the stored token did not make the row due (%v)", name, err)
		}
	}
	if err := c.Invalidate(t.Context(), "missing", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
}
