package config

import (
	"errors"
	"strings"
	"testing"
)

// TOKENS_PUBLIC_URL is a base URL: a path prefix at most, a trailing
// slash dropped; anything else is refused at start-up with one line, and
// unset it is ErrNoPublicURL where a browser flow needs it.
func TestPublicURL(t *testing.T) {
	t.Parallel()
	load := func(v string) (*Config, error) {
		return LoadFrom(map[string]string{"DATABASE_URL": "postgres://u:p@h:5432/db", "TOKENS_PUBLIC_URL": v})
	}
	for v, want := range map[string]string{
		"https://tokens.example.com":      "https://tokens.example.com",
		"https://tokens.example.com/":     "https://tokens.example.com",
		"http://127.0.0.1:8080/tw/":       "http://127.0.0.1:8080/tw",
		"https://ops.example/tokenwarden": "https://ops.example/tokenwarden",
	} {
		c, err := load(v)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if got, err := c.PublicBase(); err != nil || got != want {
			t.Errorf("%s: PublicBase = %q, %v; want %q", v, got, err, want)
		}
	}
	for _, v := range []string{"tokens.example.com", "ftp://x.example", "https://u:p@x.example", "https://x.example/?a=1",
		"https://x.example/#frag", "/relative"} {
		_, err := load(v)
		if err == nil || !strings.Contains(err.Error(), "TOKENS_PUBLIC_URL") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line naming TOKENS_PUBLIC_URL", v, err)
		}
	}
	c, err := load("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PublicBase(); !errors.Is(err, ErrNoPublicURL) {
		t.Fatalf("unset: %v", err)
	}
	if c.ConsoleSessionTTL.String() != "12h0m0s" {
		t.Fatalf("TOKENS_CONSOLE_SESSION_TTL default %s", c.ConsoleSessionTTL)
	}
	if _, err := LoadFrom(map[string]string{"DATABASE_URL": "postgres://u:p@h:5432/db", "TOKENS_CONSOLE_SESSION_TTL": "1s"}); err == nil ||
		!strings.Contains(err.Error(), "TOKENS_CONSOLE_SESSION_TTL") {
		t.Fatalf("a 1s session: %v", err)
	}
}
