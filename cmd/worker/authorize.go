package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/authorize"
	"github.com/tokenwarden/tokenwarden/internal/cli"
	"github.com/tokenwarden/tokenwarden/internal/connfile"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// authorize runs the authorization-code flow for a connection and stores
// the tokens: `worker authorize NAME --provider P [...]`. The URL to open
// is the first line of standard output. For an existing connection the
// stored provider, token URL, client, scopes and params are the defaults,
// so re-authorizing one in needs_reauth takes only its name.
func (a *app) authorize(ctx context.Context, args []string) error {
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
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	e, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	existing, err := e.store.Get(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		existing = nil
	case err != nil:
		return err
	}

	// What is stored: the flags given (validated as `worker import` would);
	// anything not given keeps the stored value.
	rec := connfile.Record{Name: name}
	for flagName, field := range map[string]**string{"provider": &rec.Provider, "token-url": &rec.TokenURL, "client-id": &rec.ClientID, "scopes": &rec.Scopes} {
		if set[flagName] {
			v := fs.Lookup(flagName).Value.String()
			*field = &v
		}
	}
	if set["params"] {
		var p map[string]any
		if err := json.Unmarshal([]byte(*paramsJSON), &p); err != nil || p == nil {
			return cli.UsageError("--params must be a JSON object")
		}
		rec.Params = p
	}
	secret, err := a.clientSecret(existing)
	if err != nil {
		return err
	}
	if secret != "" {
		rec.ClientSecret = &secret
	}
	row, err := rec.Validate(e.catalogue, time.Now())
	if err != nil {
		return err
	}
	if err := connfile.CheckEndpoint(&row, existing, e.catalogue, e.policy()); err != nil {
		return err
	}

	// What the flow uses: the flags, else the stored connection.
	providerName := pick(*prov, set["provider"], stored(existing, func(r *model.OAuthToken) string { return r.Provider }), "oauth2")
	tmpl, _ := e.catalogue.Lookup(providerName)
	var params map[string]string
	if row.Params != nil {
		params = stringParams([]byte(*row.Params))
	} else if existing != nil {
		params = stringParams(existing.Params)
	}
	flow, err := authorize.New(authorize.Options{
		Template:     tmpl,
		AuthURL:      *authURL,
		TokenURL:     pick(*tokenURL, set["token-url"], stored(existing, func(r *model.OAuthToken) string { return store.Str(r.TokenURL) }), ""),
		AuthStyle:    stored(existing, func(r *model.OAuthToken) string { return store.Str(r.AuthStyle) }),
		ClientID:     pick(*clientID, set["client-id"], stored(existing, func(r *model.OAuthToken) string { return store.Str(r.ClientID) }), ""),
		ClientSecret: secret,
		Scopes:       pick(*scopes, set["scopes"], stored(existing, func(r *model.OAuthToken) string { return store.Str(r.Scopes) }), ""),
		Params:       params,
		Port:         *port,
		Timeout:      *timeout,
		HTTPClient:   provider.NewHTTPClient(e.cfg.HTTPTimeout, 1),
	})
	if err != nil {
		return err
	}
	if err := e.policy().Check(flow.TokenURL()); err != nil {
		return err
	}

	show := func(u string) error {
		if _, err := fmt.Fprintln(a.stdout, u); err != nil {
			return err
		}
		if isTerminal(a.stderr) {
			fmt.Fprintf(a.stderr, "Open the URL above in a browser and approve; waiting up to %s for the redirect to 127.0.0.1.\n", *timeout)
		}
		return nil
	}
	save := func(ctx context.Context, res *authorize.Result) error {
		row.AccessToken = &res.AccessToken
		// An empty refresh token would erase the stored one: keep it nil.
		if res.RefreshToken != "" {
			row.RefreshToken = &res.RefreshToken
		}
		row.AccessTokenExpires = res.Expiry
		row.RefreshTokenExpires = res.RefreshExpiry
		return e.store.Import(ctx, []store.ImportRow{row})
	}
	res, err := flow.Run(ctx, show, save)
	if err != nil {
		return fmt.Errorf("authorize %s: %w", name, err)
	}
	saved, err := e.store.Get(ctx, name)
	if err != nil {
		return err
	}
	if res.Warning != "" {
		fmt.Fprintf(a.stderr, "worker: warning: %s: %s\n", name, res.Warning)
	}
	if res.RefreshToken == "" {
		fmt.Fprintf(a.stderr, "worker: warning: the provider issued no refresh token for %s; it cannot be refreshed and needs authorizing again when the access token expires\n", name)
	}
	fmt.Fprintf(a.stdout, "authorized %s (provider %s): version %d, access token expires %s, refresh token %s\n",
		name, saved.Provider, saved.Version, expiresText(saved.AccessTokenExpires, time.Now()), yesNo(store.Str(saved.RefreshToken) != ""))
	return nil
}

// clientSecret reads the client secret from TOKENS_CLIENT_SECRET or one
// line of standard input, never a flag. Without either, the stored secret
// of an existing connection is used. A terminal is prompted.
func (a *app) clientSecret(existing *model.OAuthToken) (string, error) {
	if s := strings.TrimSpace(a.environ["TOKENS_CLIENT_SECRET"]); s != "" {
		return s, nil
	}
	if isTerminal(a.stdin) {
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

// pick returns the flag's value if it was given, else the stored value,
// else def.
func pick(flagValue string, given bool, storedValue, def string) string {
	switch {
	case given:
		return flagValue
	case storedValue != "":
		return storedValue
	}
	return def
}

func stored(r *model.OAuthToken, get func(*model.OAuthToken) string) string {
	if r == nil {
		return ""
	}
	return get(r)
}

// stringParams reads a params object as the provider package does.
func stringParams(raw []byte) map[string]string {
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		} else {
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "stored"
	}
	return "none"
}

// isTerminal reports whether v is a character device (a terminal).
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
