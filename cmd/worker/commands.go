package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/cli"
	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/internal/connfile"
	"github.com/tokenwarden/tokenwarden/internal/progress"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/seedimport"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// config reads the configuration, checking only each variable's syntax:
// app.Open checks the rest, and the commands that need no database need
// no more.
func (a *invocation) config() (*config.Config, error) {
	return config.Parse[config.Config](a.environ)
}

// with opens the application for one command, logging to stderr, runs f
// with it and closes it: the one place a command opens it.
func (a *invocation) with(ctx context.Context, f func(*app.App) error) error {
	cfg, err := a.config()
	if err != nil {
		return err
	}
	return a.withConfig(ctx, cfg, f)
}

// withConfig is with, for a command that has read the configuration
// before opening (to check a file or a flag against it first).
func (a *invocation) withConfig(ctx context.Context, cfg *config.Config, f func(*app.App) error) (err error) {
	s, err := app.Open(ctx, cfg, cli.Logger(cfg, a.stderr))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	return f(s)
}

// noArgs parses a command that takes only flags.
func noArgs(fs *flag.FlagSet, args []string) error {
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.UsageError("%s takes no arguments", fs.Name())
	}
	return nil
}

// oneName parses a command that takes exactly one connection name.
func oneName(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", cli.UsageError("%s takes one connection name", fs.Name())
	}
	return pos[0], nil
}

func (a *invocation) run(ctx context.Context, args []string) error {
	if err := noArgs(flag.NewFlagSet("run", flag.ContinueOnError), args); err != nil {
		return err
	}
	return a.with(ctx, func(s *app.App) error { return s.Run(ctx) })
}

func (a *invocation) once(ctx context.Context, args []string) error {
	if err := noArgs(flag.NewFlagSet("once", flag.ContinueOnError), args); err != nil {
		return err
	}
	return a.with(ctx, func(s *app.App) error {
		_, err := s.Once(ctx)
		return err
	})
}

func (a *invocation) refresh(ctx context.Context, args []string) error {
	name, err := oneName(flag.NewFlagSet("refresh", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	return a.with(ctx, func(s *app.App) error {
		row, err := s.Refresh(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "refreshed %s: version %d, expires %s\n", name, row.Version, expiresText(row.AccessTokenExpires, time.Now()))
		return nil
	})
}

func (a *invocation) check(ctx context.Context, args []string) error {
	name, err := oneName(flag.NewFlagSet("check", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	return a.with(ctx, func(s *app.App) error {
		res, err := s.Check(ctx, name)
		if err != nil {
			return err
		}
		if !res.Accepted {
			return fmt.Errorf("check %s: the provider refused the access token (HTTP %d from %s)", name, res.Status, res.URL)
		}
		fmt.Fprintf(a.stdout, "%s: the provider accepts the access token (HTTP %d from %s)\n", name, res.Status, res.URL)
		return nil
	})
}

func (a *invocation) clear(ctx context.Context, args []string) error {
	name, err := oneName(flag.NewFlagSet("clear", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	return a.with(ctx, func(s *app.App) error {
		if err := s.Clear(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "cleared %s; a running worker refreshes it now\n", name)
		return nil
	})
}

func (a *invocation) importCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	batch := fs.Int("batch", 0, "commit every N records instead of all in one transaction; a rerun after a failure is safe")
	quiet := fs.Bool("quiet", false, "show no progress, only the summary")
	from := fs.String("from", "", "import from a seed system's own store instead of a file: "+seedimport.Sources+" (docs/migrate.md)")
	seed := seedimport.Register(fs)
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 || *from != "" && len(pos) > 0 && (!seedimport.TakesFile(*from) || seed.File != "") {
		return cli.UsageError("import takes one file (or - for standard input), or --from and its flags")
	}
	if *batch < 0 {
		return cli.UsageError("--batch must be a positive number of records")
	}
	in := a.stdin
	src := "standard input"
	if *from != "" && len(pos) == 1 {
		seed.File, pos = pos[0], nil // --from google-service-account KEY.json
	}
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		in, src = f, pos[0]
	}
	if *from != "" {
		// The seed's records take the same path as a file's from here on.
		if in, err = seed.Open(ctx, *from); err != nil {
			return fmt.Errorf("import --from %w", err)
		}
		src = "--from " + *from
	}
	cfg, err := a.config()
	if err != nil {
		return err
	}
	cat, err := provider.LoadCatalogue(cfg.ProvidersFile)
	if err != nil {
		return err
	}
	// Records are validated as they stream, each before it is written,
	// and a failure rolls the transaction back. The first is read before
	// the database is opened: a file that is not one needs no database to
	// be told so.
	rd := connfile.NewReader(in, cat, time.Now())
	first, err := rd.Next()
	if err != nil {
		return fmt.Errorf("import %s: %w", src, err)
	}
	next := func() (store.ImportRow, error) {
		if first.Name != "" {
			row := first
			first = store.ImportRow{}
			return row, nil
		}
		return rd.Next()
	}
	return a.withConfig(ctx, cfg, func(s *app.App) error {
		rep := a.progress("import", *quiet)
		n, err := s.Import(ctx, next, app.ImportOptions{Batch: *batch, Progress: rep})
		rep.Finish()
		if err != nil {
			if *batch > 0 {
				return fmt.Errorf("import %s: %w (%d connection(s) committed before it; the import can be run again)", src, err, n)
			}
			return fmt.Errorf("import %s: %w", src, err)
		}
		fmt.Fprintf(a.stdout, "imported %d connection(s)\n", n)
		return nil
	})
}

// progress returns the reporter of a long command on stderr: a bar on a
// terminal, a plain line every few seconds otherwise, nothing when quiet.
// The command's summary on stdout is printed in every case.
func (a *invocation) progress(what string, quiet bool) progress.Reporter {
	return progress.New(a.stderr, what, progress.Options{Quiet: quiet, Terminal: cli.IsTerminal(a.stderr)})
}

func (a *invocation) migrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	roles := fs.Bool("roles", false, "also create the least-privilege roles of sql/roles.sql")
	status := fs.Bool("status", false, "list the migrations, applied or pending, and apply nothing")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *status && *roles {
		return cli.UsageError("migrate --status applies nothing: drop --roles")
	}
	return a.with(ctx, func(s *app.App) error {
		if *status {
			list, err := s.MigrationStatus(ctx)
			if err != nil {
				return err
			}
			return printMigrations(a.stdout, list)
		}
		applied, err := s.Migrate(ctx)
		for _, m := range applied {
			fmt.Fprintf(a.stdout, "applied %s\n", m)
		}
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintln(a.stdout, "schema up to date")
		}
		if *roles {
			if err := s.ApplyRoles(ctx); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "roles tokenwarden_worker and tokenwarden_consumer applied")
		}
		return nil
	})
}

// printMigrations is `worker migrate --status`: one line per migration.
func printMigrations(out io.Writer, list []store.Migration) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tNAME\tSTATE\tAPPLIED AT")
	for _, m := range list {
		state, at := "pending", "-"
		if m.Applied() {
			state, at = "applied", m.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%05d\t%s\t%s\t%s\n", m.Version, m.Name, state, at)
	}
	return w.Flush()
}

func (a *invocation) providers(_ context.Context, args []string) error {
	if err := noArgs(flag.NewFlagSet("providers", flag.ContinueOnError), args); err != nil {
		return err
	}
	cfg, err := a.config()
	if err != nil {
		return err
	}
	cat, err := provider.LoadCatalogue(cfg.ProvidersFile)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROVIDER\tAUTH\tLIFETIME\tROTATES\tGRANTS\tTOKEN URL\tALIASES")
	for _, n := range cat.Names() {
		t, _ := cat.Lookup(n)
		u := cmp.Or(t.TokenURL, "(token_url of the connection)")
		lifetime := t.DefaultLifetime.D().String()
		if t.TokensNeverExpire {
			lifetime = "never expires"
		}
		rotates := "no"
		if t.Rotates {
			rotates = "yes"
			if t.ReuseGrace > 0 {
				rotates += fmt.Sprintf(" (old valid %s)", t.ReuseGrace.D())
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Auth, lifetime, rotates, strings.Join(t.SupportedGrants(), ","), u, strings.Join(t.Aliases, ","))
	}
	return w.Flush()
}

// listEntry is what `worker list --json` prints of a connection: never a
// secret, only whether one is present.
type listEntry struct {
	Name               string     `json:"name"`
	Provider           string     `json:"provider"`
	Status             string     `json:"status"`
	AccessTokenExpires *time.Time `json:"access_token_expires"`
	ExpiresInSeconds   *int64     `json:"expires_in_seconds"`
	HasAccessToken     bool       `json:"has_access_token"`
	HasRefreshToken    bool       `json:"has_refresh_token"`
	Updating           bool       `json:"updating"`
	UpdatingUntil      *time.Time `json:"updating_until,omitempty"`
	FailureCount       int        `json:"failure_count"`
	NextAttemptAt      *time.Time `json:"next_attempt_at,omitempty"`
	LastError          string     `json:"last_error,omitempty"`
	LastRefreshedAt    *time.Time `json:"last_refreshed_at,omitempty"`
	Version            int64      `json:"version"`
	// RefreshTokenExpires and ReauthSoon surface connections whose refresh
	// token dies within TOKENS_REAUTH_WARNING.
	RefreshTokenExpires *time.Time `json:"refresh_token_expires,omitempty"`
	ReauthSoon          bool       `json:"reauth_soon"`
}

func (a *invocation) list(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	return a.with(ctx, func(s *app.App) error {
		rows, err := s.List(ctx)
		if err != nil {
			return err
		}
		return a.printList(rows, time.Now(), s.Config().ReauthWarning, *asJSON)
	})
}

// printList prints the connections, as JSON or as a table.
func (a *invocation) printList(rows []model.OAuthToken, now time.Time, warning time.Duration, asJSON bool) error {
	if asJSON {
		out := make([]listEntry, 0, len(rows))
		for i := range rows {
			out = append(out, entryOf(&rows[i], now, warning))
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tPROVIDER\tSTATUS\tEXPIRES\tUPDATING\tFAILURES\tREAUTH\tLAST ERROR")
	for i := range rows {
		r := &rows[i]
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%t\t%d\t%s\t%s\n", r.Name, r.Provider, r.Status,
			expiresText(r.AccessTokenExpires, now), leaseLive(r, now), r.FailureCount,
			reauthText(r, now, warning), store.Str(r.LastError))
	}
	return w.Flush()
}

// reauthSoon reports a connection whose refresh token dies within warning.
func reauthSoon(r *model.OAuthToken, now time.Time, warning time.Duration) bool {
	return r.Status == model.StatusActive && r.RefreshTokenExpires != nil && r.RefreshTokenExpires.Before(now.Add(warning))
}

func reauthText(r *model.OAuthToken, now time.Time, warning time.Duration) string {
	switch {
	case r.Status == model.StatusNeedsReauth:
		return "NOW"
	case reauthSoon(r, now, warning):
		return "by " + r.RefreshTokenExpires.UTC().Format(time.RFC3339)
	}
	return "-"
}

func entryOf(r *model.OAuthToken, now time.Time, warning time.Duration) listEntry {
	e := listEntry{
		Name: r.Name, Provider: r.Provider, Status: r.Status, AccessTokenExpires: r.AccessTokenExpires,
		HasAccessToken: store.Str(r.AccessToken) != "", HasRefreshToken: store.Str(r.RefreshToken) != "",
		Updating: leaseLive(r, now), FailureCount: r.FailureCount, NextAttemptAt: r.NextAttemptAt,
		LastError: store.Str(r.LastError), LastRefreshedAt: r.LastRefreshedAt, Version: r.Version,
		RefreshTokenExpires: r.RefreshTokenExpires, ReauthSoon: reauthSoon(r, now, warning),
	}
	if r.Updating {
		e.UpdatingUntil = r.UpdatingUntil
	}
	if r.AccessTokenExpires != nil {
		s := int64(r.AccessTokenExpires.Sub(now).Seconds())
		e.ExpiresInSeconds = &s
	}
	return e
}

func expiresText(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	left := t.Sub(now).Round(time.Second)
	if left <= 0 {
		return fmt.Sprintf("%s (expired %s ago)", t.UTC().Format(time.RFC3339), -left)
	}
	return fmt.Sprintf("%s (in %s)", t.UTC().Format(time.RFC3339), left)
}

// leaseLive reports whether a worker's claim on r is still in force at now.
func leaseLive(r *model.OAuthToken, now time.Time) bool {
	return r.Updating && r.UpdatingUntil != nil && r.UpdatingUntil.After(now)
}
