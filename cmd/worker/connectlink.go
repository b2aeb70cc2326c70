package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/cli"
)

// connectLink makes a single-use reconnect link for one connection, for an
// account owner without console access: the URL is the first line of
// stdout, so that a script can capture it, and its expiry the second.
func (a *invocation) connectLink(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("connect-link", flag.ContinueOnError)
	ttl := fs.Duration("ttl", app.DefaultLinkTTL, fmt.Sprintf("how long the link works (at most %s)", app.MaxLinkTTL))
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	// The application reads 0 as "the default"; given on the command line
	// it is a mistake, not a request for 24 hours.
	if *ttl <= 0 {
		return cli.UsageError("--ttl must be positive, e.g. 24h")
	}
	return a.with(ctx, func(s *app.App) error {
		l, err := s.CreateConnectLinkBy(ctx, name, *ttl, "cli")
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, l.URL)
		fmt.Fprintf(a.stdout, "expires %s\n", l.Expires.UTC().Format(time.RFC3339))
		fmt.Fprintf(a.stderr, "the link reconnects %s (%s) once, in a browser, with no console access; send it to the account's owner\n",
			l.Name, l.Provider)
		return nil
	})
}
