// Command consumer prints a connection's current access token, waiting
// while the worker refreshes it:
//
//	curl -H "Authorization: Bearer $(consumer get xero-acme)" ...
//	consumer get xero-acme --json       # the whole token as JSON
//	consumer invalidate xero-acme < stale-token
//
// It reads DATABASE_URL from the environment.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/cli"
	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: config.Environ()}
	os.Exit(a.main(ctx, os.Args[1:]))
}

type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        map[string]string
}

const usage = `usage:
  consumer get NAME [--timeout 30s] [--json]   print the current access token (or the whole token as JSON)
  consumer get NAME --write FILE [--format json|env] [--watch [--interval 5s]]
                                               write the token to FILE (mode 0600, replaced atomically);
                                               --watch keeps it current until SIGINT/SIGTERM, checking at
                                               least every --interval when no change notification comes
  consumer invalidate NAME                     report the token on standard input as refused (401); a refresh follows

DATABASE_URL, TOKENS_ENCRYPTION_KEYS (when tokens are encrypted) and TOKENS_POLL_ONLY
(behind PgBouncer in transaction mode) are read from the environment.`

func (a *app) main(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(a.stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "get":
		err = a.get(ctx, args[1:])
	case "invalidate":
		err = a.invalidate(ctx, args[1:])
	default:
		err = cli.UsageError("unknown command %q (try consumer help)", args[0])
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "consumer: %s\n", cli.OneLine(err))
		if errors.Is(err, cli.ErrUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func (a *app) open(ctx context.Context) (*tokens.Client, error) {
	cfg, err := config.LoadConsumer(a.environ)
	if err != nil {
		return nil, err
	}
	keys, err := tokens.ParseKeys(cfg.EncryptionKeys)
	if err != nil {
		return nil, err
	}
	// The client's reconnect warnings would interleave with a one-line
	// error; the command reports failures itself.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	return tokens.Open(ctx, cfg.DatabaseURL, &tokens.Options{MaxConns: 2, Logger: quiet, EncryptionKeys: keys,
		PollOnly: cfg.PollOnly, PollInterval: time.Second})
}

func (a *app) get(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for a refresh")
	asJSON := fs.Bool("json", false, "print the whole token as JSON")
	write := fs.String("write", "", "write the token to FILE (replaced atomically, mode 0600) instead of printing it")
	format := fs.String("format", "", "format of --write FILE: json (default) or env")
	watch := fs.Bool("watch", false, "with --write, keep the file current until SIGINT/SIGTERM")
	interval := fs.Duration("interval", 5*time.Second, "with --watch, the longest wait between checks for a new token")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cli.UsageError("get takes one connection name")
	}
	if *timeout <= 0 {
		return cli.UsageError("--timeout must be positive")
	}
	if *write != "" || *watch || *format != "" {
		return a.writeFile(ctx, pos[0], fileOptions{Path: *write, Format: *format, Watch: *watch, JSON: *asJSON,
			Timeout: *timeout, Interval: *interval})
	}
	c, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	// --timeout bounds the wait for the token, not the connection set-up.
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tok, err := c.Get(wctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(a.stdout).Encode(tok)
	}
	_, err = fmt.Fprintln(a.stdout, tok.AccessToken)
	return err
}

func (a *app) invalidate(ctx context.Context, args []string) error {
	pos, err := cli.Parse(flag.NewFlagSet("invalidate", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cli.UsageError("invalidate takes one connection name, and the stale token on standard input")
	}
	// The token comes on stdin, never as an argument: arguments are
	// visible to every user of the machine.
	line, err := bufio.NewReader(io.LimitReader(a.stdin, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the stale token from standard input: %w", err)
	}
	stale := strings.TrimSpace(line)
	if stale == "" {
		return cli.UsageError("give the stale access token on standard input")
	}
	c, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Invalidate(ctx, pos[0], stale)
}
