package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/cli"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// apikey manages the keys of the token HTTP API:
//
//	worker apikey create --names 'xero-*,hubspot-acme' [--label L]
//	worker apikey create --admin [--label L]
//	worker apikey list [--json]
//	worker apikey revoke ID
func (a *invocation) apikey(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return cli.UsageError("apikey needs a subcommand: create, list or revoke")
	}
	switch args[0] {
	case "create":
		return a.apikeyCreate(ctx, args[1:])
	case "list":
		return a.apikeyList(ctx, args[1:])
	case "revoke":
		return a.apikeyRevoke(ctx, args[1:])
	}
	return cli.UsageError("unknown apikey subcommand %q: want create, list or revoke", args[0])
}

// apikeyCreate prints the new key, alone on stdout, so that it can be
// captured; it is never shown again (only its hash is stored).
func (a *invocation) apikeyCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	names := fs.String("names", "", "comma-separated globs of the connection names the key may read, e.g. 'xero-*,hubspot-acme'")
	label := fs.String("label", "", "a note saying who or what the key is for")
	admin := fs.Bool("admin", false, "an admin key: it signs in to the console and reads no token")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	var patterns []string
	switch {
	case *admin && *names != "":
		return cli.UsageError("an admin key reads no token: give --admin or --names, not both")
	case !*admin && *names == "":
		return cli.UsageError("apikey create needs --names, e.g. --names 'xero-*,hubspot-acme' (or --admin for a console key)")
	case !*admin:
		var err error
		if patterns, err = apikey.ParsePatterns(*names); err != nil {
			return cli.UsageError("--names: %v", err)
		}
	}
	return a.with(ctx, func(s *app.App) error {
		k, err := s.GenerateAPIKey(ctx, *label, patterns, *admin)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, k.Secret)
		if *admin {
			fmt.Fprintf(a.stderr, "created admin key %s: it signs in to the console (TOKENS_PUBLIC_URL); it is shown only this once\n", k.ID)
		} else {
			fmt.Fprintf(a.stderr, "created API key %s for %s; it is shown only this once\n", k.ID, strings.Join(patterns, ","))
		}
		return nil
	})
}

// apikeyEntry is what `apikey list --json` prints: never the key or its hash.
type apikeyEntry struct {
	ID         string     `json:"id"`
	Label      string     `json:"label"`
	Patterns   []string   `json:"patterns"`
	Admin      bool       `json:"admin"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func (a *invocation) apikeyList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apikey list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	return a.with(ctx, func(s *app.App) error {
		keys, err := s.ListAPIKeys(ctx)
		if err != nil {
			return err
		}
		return a.printAPIKeys(keys, *asJSON)
	})
}

// printAPIKeys prints the keys, as JSON or as a table.
func (a *invocation) printAPIKeys(keys []store.APIKey, asJSON bool) error {
	if asJSON {
		out := make([]apikeyEntry, 0, len(keys))
		for _, k := range keys {
			out = append(out, apikeyEntry{ID: k.ID, Label: k.Label, Patterns: k.Patterns, Admin: k.Admin,
				CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt})
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tLABEL\tKIND\tPATTERNS\tCREATED\tLAST USED\tREVOKED")
	for _, k := range keys {
		kind, patterns := "token", strings.Join(k.Patterns, ",")
		if k.Admin {
			kind, patterns = "admin", "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, cmp.Or(k.Label, "-"), kind, patterns,
			stamp(k.CreatedAt), orDash(k.LastUsedAt, stamp), orDash(k.RevokedAt, stamp))
	}
	return w.Flush()
}

func (a *invocation) apikeyRevoke(ctx context.Context, args []string) error {
	pos, err := cli.Parse(flag.NewFlagSet("apikey revoke", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cli.UsageError("apikey revoke takes one key id (see worker apikey list)")
	}
	return a.with(ctx, func(s *app.App) error {
		if err := s.RevokeAPIKey(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "revoked API key %s\n", pos[0])
		return nil
	})
}
