package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/authorize"
	"github.com/tokenwarden/tokenwarden/internal/cli"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// authorize runs the authorization-code flow for a connection and stores
// the tokens: `worker authorize NAME --provider P [...]`. The URL to open
// is the first line of standard output. For an existing connection the
// stored provider, token URL, client, scopes and params are the defaults,
// so re-authorizing one in needs_reauth takes only its name.
func (a *invocation) authorize(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("authorize", flag.ContinueOnError)
	prov := fs.String("provider", "", "provider template (default: the stored one, else oauth2)")
	authURL := fs.String("auth-url", "", "authorization endpoint (default: the template's)")
	tokenURL := fs.String("token-url", "", "token endpoint (default: the stored one, else the template's)")
	clientID := fs.String("client-id", "", "OAuth2 client ID")
	scopes := fs.String("scopes", "", "scopes to request, as the provider writes them")
	port := fs.Int("port", 3000, "port of the callback on 127.0.0.1; 0 picks a free one")
	paramsJSON := fs.String("params", "", "provider parameters as a JSON object, e.g. {\"tenant\":\"acme.onmicrosoft.com\"}")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the browser")
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	if *timeout <= 0 {
		return cli.UsageError("--timeout must be positive")
	}
	if *port < 0 || *port > 65535 {
		return cli.UsageError("--port must be between 0 and 65535")
	}
	req := app.AuthorizeRequest{Name: name, AuthURL: *authURL, Port: *port, Timeout: *timeout}
	// A flag not given keeps the stored value: only the ones given are set.
	paramsGiven := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "provider":
			req.Provider = prov
		case "token-url":
			req.TokenURL = tokenURL
		case "client-id":
			req.ClientID = clientID
		case "scopes":
			req.Scopes = scopes
		case "params":
			paramsGiven = true
		}
	})
	if paramsGiven {
		var p map[string]any
		if err := json.Unmarshal([]byte(*paramsJSON), &p); err != nil || p == nil {
			return cli.UsageError("--params must be a JSON object")
		}
		req.Params = p
	}
	cfg, err := a.config()
	if err != nil {
		return err
	}
	req.ClientSecret = func(existing *model.OAuthToken) (string, error) { return a.clientSecret(cfg.ClientSecret, existing) }
	req.Show = func(u string) error {
		if _, err := fmt.Fprintln(a.stdout, u); err != nil {
			return err
		}
		if cli.IsTerminal(a.stderr) {
			fmt.Fprintf(a.stderr, "Open the URL above in a browser and approve; waiting up to %s for the redirect to 127.0.0.1.\n", *timeout)
		}
		return nil
	}
	return a.withConfig(ctx, cfg, func(s *app.App) error {
		res, err := s.Authorize(ctx, req)
		if err != nil {
			return withFlagHint(err)
		}
		if res.Warning != "" {
			fmt.Fprintf(a.stderr, "worker: warning: %s: %s\n", name, res.Warning)
		}
		if res.NoRefreshToken {
			fmt.Fprintf(a.stderr, "worker: warning: the provider issued no refresh token for %s; it cannot be refreshed and needs authorizing again when the access token expires\n", name)
		}
		saved := res.Row
		fmt.Fprintf(a.stdout, "authorized %s (provider %s): version %d, access token expires %s, refresh token %s\n",
			name, saved.Provider, saved.Version, expiresText(saved.AccessTokenExpires, time.Now()), yesNo(store.Str(saved.RefreshToken) != ""))
		return nil
	})
}

// flagHints say how `worker authorize` gives each setting an error names.
var flagHints = map[string]string{
	authorize.SettingAuthURL:      "give --auth-url",
	authorize.SettingTokenURL:     "give --token-url",
	authorize.SettingClientID:     "give --client-id",
	authorize.SettingClientSecret: "give it on standard input or in the environment (see the README)",
}

// withFlagHint adds to an error about a missing or unusable setting the
// flag that gives it.
func withFlagHint(err error) error {
	if se, ok := errors.AsType[*authorize.SettingError](err); ok {
		if h := flagHints[se.Setting]; h != "" {
			return fmt.Errorf("%w (%s)", err, h)
		}
	}
	return err
}

// clientSecret reads the client secret from TOKENS_CLIENT_SECRET or one
// line of standard input, never a flag. Without either, the stored secret
// of an existing connection is used. A terminal is prompted.
func (a *invocation) clientSecret(fromEnv string, existing *model.OAuthToken) (string, error) {
	if s := strings.TrimSpace(fromEnv); s != "" {
		return s, nil
	}
	if cli.IsTerminal(a.stdin) {
		if existing != nil && existing.ClientSecret != nil && existing.ClientSecret.Reveal() != "" {
			return existing.ClientSecret.Reveal(), nil
		}
		fmt.Fprint(a.stderr, "client secret (one line; empty for none): ")
	}
	line, err := bufio.NewReader(io.LimitReader(a.stdin, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the client secret from standard input: %w", err)
	}
	if s := strings.TrimSpace(line); s != "" {
		return s, nil
	}
	if existing != nil && existing.ClientSecret != nil {
		return existing.ClientSecret.Reveal(), nil
	}
	return "", nil
}

func yesNo(b bool) string {
	if b {
		return "stored"
	}
	return "none"
}
