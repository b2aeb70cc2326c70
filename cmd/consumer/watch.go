package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/atomicfile"
	"github.com/tokenwarden/tokenwarden/internal/cli"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

// fileOptions are `consumer get NAME --write FILE [--watch] [--format F]`.
type fileOptions struct {
	Path   string
	Format string // json (default) or env
	Watch  bool
	JSON   bool // --json, which contradicts --write
	// Timeout bounds each Get; Interval is the longest wait between two
	// checks of a watch when no change notification comes.
	Timeout, Interval time.Duration
}

// expiryMargin is how long before the mirrored token's expiry a watch
// checks again: the client hands out no token closer to expiry than its
// MinValidity (10s), so the check finds the refreshed one, or waits for it.
const expiryMargin = 10 * time.Second

// writeFile writes the connection's token to a file, and with Watch keeps
// rewriting it whenever the token changes until ctx ends (SIGINT/SIGTERM),
// then returns nil. Each write replaces the file atomically with mode 0600.
// A watch wakes on the change notification of pkg/tokens; Interval only
// bounds the wait when notifications are off (TOKENS_POLL_ONLY) or down.
func (a *app) writeFile(ctx context.Context, name string, o fileOptions) error {
	switch {
	case o.Path == "" && o.Watch:
		return cli.UsageError("--watch needs --write FILE")
	case o.Path == "":
		return cli.UsageError("--format needs --write FILE")
	case o.JSON:
		return cli.UsageError("--json prints the token; with --write choose --format json")
	case o.Format == "":
		o.Format = "json"
	}
	if o.Format != "json" && o.Format != "env" {
		return cli.UsageError("--format must be json or env, not %q", o.Format)
	}
	if o.Interval <= 0 {
		return cli.UsageError("--interval must be positive")
	}
	render := renderJSON
	if o.Format == "env" {
		prefix := envPrefix(name)
		render = func(t *tokens.Token) ([]byte, error) { return renderEnv(prefix, t) }
	}

	c, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	m := &mirror{a: a, c: c, name: name, o: o, render: render}
	for {
		// Subscribed before reading, so that a change stored after the read
		// wakes the wait below at once, not at the next timed check.
		changed, unsubscribe := c.Changes(name)
		err := m.update(ctx)
		if err != nil || !o.Watch {
			unsubscribe()
			return err
		}
		t := time.NewTimer(m.nextCheck())
		select {
		case <-ctx.Done():
		case <-changed:
		case <-t.C:
		}
		t.Stop()
		unsubscribe()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// mirror is the state of `consumer get --write`: the token last written.
type mirror struct {
	a      *app
	c      *tokens.Client
	name   string
	o      fileOptions
	render func(*tokens.Token) ([]byte, error)
	cur    *tokens.Token
	// reported is the last error said on stderr, so each is said once.
	reported string
}

// update reads the token and writes the file if the token changed. An
// error before the first write ends the command; later ones are reported
// and the file keeps the last token.
func (m *mirror) update(ctx context.Context) error {
	gctx, cancel := context.WithTimeout(ctx, m.o.Timeout)
	tok, err := m.c.Get(gctx, m.name)
	cancel()
	if ctx.Err() != nil && m.o.Watch {
		return nil
	}
	switch {
	case err != nil && m.cur == nil:
		// Nothing mirrored yet: a wrong name or a connection that needs
		// re-authorization is the caller's to fix.
		return err
	case err != nil:
		if msg := cli.OneLine(err); msg != m.reported {
			fmt.Fprintf(m.a.stderr, "consumer: %s (still watching)\n", msg)
			m.reported = msg
		}
	case m.cur == nil || tok.Version != m.cur.Version || tok.AccessToken != m.cur.AccessToken:
		data, err := m.render(tok)
		if err != nil {
			return err
		}
		if err := atomicfile.Write(m.o.Path, data, 0o600); err != nil {
			return err
		}
		m.cur, m.reported = tok, ""
		fmt.Fprintf(m.a.stdout, "wrote %s: version %d, expires %s\n", m.o.Path, tok.Version, expiresAt(tok))
	}
	return nil
}

// nextCheck is the longest wait before reading again without a change
// notification: the interval, or until shortly before the token expires.
func (m *mirror) nextCheck() time.Duration {
	wait := m.o.Interval
	if m.cur != nil && !m.cur.Expiry.IsZero() {
		wait = max(min(wait, time.Until(m.cur.Expiry)-expiryMargin), 100*time.Millisecond)
	}
	return wait
}

func expiresAt(t *tokens.Token) string {
	if t.Expiry.IsZero() {
		return "never"
	}
	return t.Expiry.UTC().Format(time.RFC3339)
}

// fileToken is the json format, as the seed's JSON credentials file.
type fileToken struct {
	AccessToken string     `json:"access_token"`
	TokenType   string     `json:"token_type"`
	ExpiresAt   *time.Time `json:"expires_at"` // null: never expires
	Version     int64      `json:"version"`
}

func renderJSON(t *tokens.Token) ([]byte, error) {
	f := fileToken{AccessToken: t.AccessToken, TokenType: t.TokenType, Version: t.Version}
	if !t.Expiry.IsZero() {
		e := t.Expiry.UTC()
		f.ExpiresAt = &e
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// renderEnv writes a .env file: PREFIX_ACCESS_TOKEN, _TOKEN_TYPE,
// _EXPIRES_AT (empty: never) and _VERSION.
func renderEnv(prefix string, t *tokens.Token) ([]byte, error) {
	exp := ""
	if !t.Expiry.IsZero() {
		exp = t.Expiry.UTC().Format(time.RFC3339)
	}
	var b strings.Builder
	for _, kv := range [][2]string{
		{"ACCESS_TOKEN", t.AccessToken},
		{"TOKEN_TYPE", t.TokenType},
		{"EXPIRES_AT", exp},
		{"VERSION", fmt.Sprint(t.Version)},
	} {
		if strings.ContainsAny(kv[1], "\n\r\x00") {
			return nil, fmt.Errorf("the %s of %s cannot be written to a .env file", strings.ToLower(kv[0]), prefix)
		}
		fmt.Fprintf(&b, "%s_%s=%s\n", prefix, kv[0], envQuote(kv[1]))
	}
	return []byte(b.String()), nil
}

// envPrefix upper-cases name and turns everything but letters and digits
// into _, so xero-acme becomes XERO_ACME.
func envPrefix(name string) string {
	p := []byte(strings.ToUpper(name))
	for i, c := range p {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			p[i] = '_'
		}
	}
	if len(p) == 0 || (p[0] >= '0' && p[0] <= '9') {
		p = append([]byte{'_'}, p...)
	}
	return string(p)
}

// envQuote leaves token-shaped values bare and double-quotes anything else,
// escaping what a shell or dotenv parser would interpret.
func envQuote(v string) string {
	safe := func(c rune) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~+/=:", c)
	}
	if !strings.ContainsFunc(v, func(c rune) bool { return !safe(c) }) {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")
	return `"` + r.Replace(v) + `"`
}
