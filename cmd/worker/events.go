package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/cli"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// events prints a connection's latest refresh attempts, to answer "why did
// this connection die".
func (a *invocation) events(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	limit := fs.Int("limit", 50, "how many events, newest first")
	asJSON := fs.Bool("json", false, "print JSON")
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	if *limit < 1 {
		return cli.UsageError("--limit must be at least 1")
	}
	return a.with(ctx, func(s *app.App) error {
		evs, err := s.Events(ctx, name, *limit)
		if err != nil {
			return err
		}
		return a.printEvents(evs, *asJSON)
	})
}

// printEvents prints events, as JSON or as a table.
func (a *invocation) printEvents(evs []store.Event, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(evs)
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TIME\tOUTCOME\tTOOK\tHTTP\tVERSION\tERROR")
	for _, ev := range evs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", ev.At.UTC().Format(time.RFC3339), ev.Outcome,
			orDash(ev.DurationMS, func(v int64) string { return (time.Duration(v) * time.Millisecond).String() }),
			orDash(ev.HTTPStatus, func(v int) string { return fmt.Sprint(v) }),
			orDash(ev.Version, func(v int64) string { return fmt.Sprint(v) }),
			orDash(ev.Error, func(v string) string { return v }))
	}
	return w.Flush()
}

func orDash[T any](p *T, f func(T) string) string {
	if p == nil {
		return "-"
	}
	return f(*p)
}
