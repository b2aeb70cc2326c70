// Command worker keeps the OAuth2 access tokens in the oauth_tokens table
// fresh, and manages the connections in it. `worker help` lists its
// commands (the usage constant below, the one list of them); the README
// describes each.
//
// Configuration comes from the environment; see the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/cli"
	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &invocation{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: config.Environ()}
	os.Exit(c.main(ctx, os.Args[1:]))
}

// invocation is one run of the command, with its streams and environment
// passed in so that tests run commands in-process and in parallel. It
// parses the command line, calls internal/app and prints.
type invocation struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        map[string]string
}

const usage = `usage: worker COMMAND [ARGS]

commands:
  run                 refresh due tokens until stopped (SIGTERM/SIGINT)
  once                one pass, then exit; non-zero if any refresh failed
  list [--json]       every connection, without secrets
  refresh NAME        refresh one connection now, whatever its expiry
  clear NAME          drop a connection's access token so it is refreshed next
  disable NAME        take a connection out of service: not refreshed, consumers get ErrDisabled
  enable NAME         put a disabled (or needs_reauth) connection back in service, failures cleared
  delete NAME --yes   remove a connection and its tokens for good (its events remain)
  check NAME          ask the provider whether it accepts the current access token
  events NAME         the connection's latest refresh attempts [--limit 50] [--json]
  import [--batch N] [--quiet] [FILE|-]
                      upsert connections from JSON (object, array or JSON Lines)
  import --from cdata|nifi-xero|quartile|webex ...
                      move a seed system's connections from its own store (docs/migrate.md)
  import --from google-service-account KEY.json --name N --scopes S [--subject EMAIL]
                      a jwt_bearer connection from a service account's downloaded key
  export [--names GLOBS] [--status S] [--include-secrets] [-o FILE] [--quiet]
                      write connections as JSON Lines that import reads back; without
                      --include-secrets no token or client secret is written; -o FILE is mode 0600
  migrate [--roles|--status]
                      apply the pending schema migrations; --status lists them;
                      --roles also creates the least-privilege roles
  rekey [--skip-unreadable] [--quiet]
                      re-encrypt every secret under the first key of TOKENS_ENCRYPTION_KEYS;
                      --skip-unreadable marks what cannot be decrypted needs_reauth instead of failing
  providers           list the known providers
  authorize NAME --provider P [--client-id ID] [--scopes S] [--port 3000] [--auth-url U] [--token-url U] [--params JSON] [--timeout 5m]
                      authorize a connection in a browser and store its tokens; the URL to
                      open is the first line of output; the client secret is read from
                      standard input or the environment (see the README), never a flag
  serve               serve the token HTTP API, /proxy/, the console, /healthz, /readyz,
                      /metrics on TOKENS_HTTP_ADDR, without refreshing
  connect-link NAME [--ttl 24h]
                      a single-use link that reconnects NAME in a browser, for its account
                      owner (TOKENS_PUBLIC_URL); the URL is the first line of output
  apikey create --names 'xero-*,hubspot-acme' [--label L]
                      make an API key for those connections; printed once
  apikey create --admin [--label L]
                      make an admin key, which signs in to the console and reads no token
  apikey list [--json]
                      every API key (admin ones marked), never the key itself
  apikey revoke ID    revoke an API key at once

Configuration is read from the environment (DATABASE_URL, TOKENS_*).`

func (a *invocation) main(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(a.stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmds := map[string]func(context.Context, []string) error{
		"run":          a.run,
		"once":         a.once,
		"list":         a.list,
		"refresh":      a.refresh,
		"clear":        a.clear,
		"disable":      a.disable,
		"enable":       a.enable,
		"delete":       a.deleteCmd,
		"check":        a.check,
		"events":       a.events,
		"rekey":        a.rekey,
		"import":       a.importCmd,
		"export":       a.exportCmd,
		"migrate":      a.migrate,
		"providers":    a.providers,
		"authorize":    a.authorize,
		"serve":        a.serve,
		"apikey":       a.apikey,
		"connect-link": a.connectLink,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(a.stderr, "worker: unknown command %q (try worker help)\n", args[0])
		return 2
	}
	if err := cmd(ctx, args[1:]); err != nil {
		if store.IsUndefinedTable(err) {
			err = app.ErrNoSchema
		}
		fmt.Fprintf(a.stderr, "worker: %s\n", cli.OneLine(err))
		if errors.Is(err, cli.ErrUsage) {
			return 2
		}
		return 1
	}
	return 0
}
