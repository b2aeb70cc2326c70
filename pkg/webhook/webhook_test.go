package webhook_test

import (
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/pkg/webhook"
)

// The signature is the hex HMAC-SHA256 of the body, and Verify accepts it
// only for that body and that secret.
func TestSignAndVerify(t *testing.T) {
	t.Parallel()
	secret, body := []byte("s"), []byte(`{"event":"failing"}`)
	sig := webhook.Sign(secret, body)
	// HMAC-SHA256("s", body), computed apart from the package.
	const want = "sha256=963e3824f80aac7cfb18299247264e88f40b71264e736b13d624eae2ef158736"
	if sig != want {
		t.Fatalf("Sign = %q, want %q", sig, want)
	}
	for _, c := range []struct {
		secret, body []byte
		header       string
		ok           bool
	}{
		{secret, body, sig, true},
		{[]byte("other"), body, sig, false},
		{secret, append(body, ' '), sig, false},
		{secret, body, strings.TrimPrefix(sig, "sha256="), false},
		{secret, body, "sha256=zz", false},
		{secret, body, "", false},
		{secret, body, "sha1=" + strings.TrimPrefix(sig, "sha256="), false},
	} {
		if got := webhook.Verify(c.secret, c.body, c.header); got != c.ok {
			t.Errorf("Verify(%q, %q, %q) = %v, want %v", c.secret, c.body, c.header, got, c.ok)
		}
	}
}
