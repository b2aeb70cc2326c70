package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/atomicfile"
	"github.com/tokenwarden/tokenwarden/internal/cli"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// exportCmd writes connections as JSON Lines that `worker import` reads
// back: to standard output, or with -o to a file that is replaced whole
// (mode 0600) only once every row is written. The progress and the count
// go to stderr, since stdout may be the data.
func (a *invocation) exportCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	names := fs.String("names", "", "comma-separated globs of the names to export, e.g. 'xero-*,hubspot-acme'")
	status := fs.String("status", "", "export only connections with this status: active, needs_reauth or disabled")
	secrets := fs.Bool("include-secrets", false, "also write access tokens, refresh tokens and client secrets, in plaintext")
	out := fs.String("o", "", "write to this file (mode 0600) instead of standard output")
	quiet := fs.Bool("quiet", false, "show no progress, only the summary")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	opts := app.ExportOptions{Status: *status, Secrets: *secrets}
	if *status != "" && !model.ValidStatus(*status) {
		return cli.UsageError("--status %q: want active, needs_reauth or disabled", *status)
	}
	if *names != "" {
		patterns, err := apikey.ParsePatterns(*names)
		if err != nil {
			return cli.UsageError("--names: %v", err)
		}
		opts.Match = func(name string) bool { return apikey.Allowed(patterns, name) }
	}
	return a.with(ctx, func(s *app.App) error {
		if *secrets {
			fmt.Fprintln(a.stderr, "worker: warning: the export holds access tokens, refresh tokens and client secrets in plaintext; keep it safe and delete it once imported")
		}
		opts.Progress = a.progress("export", *quiet)
		n, err := a.export(ctx, s, *out, opts)
		opts.Progress.Finish()
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "exported %d connection(s)\n", n)
		return nil
	})
}

// export writes to the file path, or to stdout if path is "".
func (a *invocation) export(ctx context.Context, s *app.App, path string, opts app.ExportOptions) (n int, err error) {
	if path == "" {
		return s.Export(ctx, a.stdout, opts)
	}
	err = atomicfile.WriteFrom(path, 0o600, func(w io.Writer) error {
		n, err = s.Export(ctx, w, opts)
		return err
	})
	return n, err
}
