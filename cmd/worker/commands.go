package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/cli"
	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/internal/connfile"
	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/metrics"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/spool"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/webhook"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// session is what every database command needs.
type session struct {
	cfg       *config.Config
	log       *slog.Logger
	store     *store.Store
	keys      *keyring.Keyring
	catalogue *provider.Catalogue
	// spool keeps unstored results when TOKENS_SPOOL_DIR is set.
	spool *spool.Spool
	// webhooks delivers failure events when TOKENS_WEBHOOK_URL is set.
	webhooks refresh.Observer
	// metrics is set while the HTTP API serves /metrics; see serve.go.
	metrics *metrics.Metrics
}

func (a *app) open(ctx context.Context) (*session, error) {
	cfg, err := config.LoadFrom(a.environ)
	if err != nil {
		return nil, err
	}
	cat, err := provider.LoadCatalogue(cfg.ProvidersFile)
	if err != nil {
		return nil, err
	}
	keys, err := keyring.Parse(cfg.EncryptionKeys)
	if err != nil {
		return nil, err
	}
	var sp *spool.Spool
	if cfg.SpoolDir != "" {
		if sp, err = spool.Open(cfg.SpoolDir, keys); err != nil {
			return nil, err
		}
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns)
	if err != nil {
		return nil, err
	}
	log := cli.Logger(cfg, a.stderr)
	return &session{cfg: cfg, log: log, store: st.WithKeyring(keys), keys: keys, catalogue: cat,
		spool: sp, webhooks: webhook.FromConfig(cfg, log)}, nil
}

// close flushes queued webhook events (bounded: a dead endpoint must not
// hold the process) and closes the pool.
func (e *session) close() {
	if n, ok := e.webhooks.(*webhook.Notifier); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := n.Flush(ctx); err != nil {
			e.log.Warn("webhook events not delivered before exit", "err", err)
		}
		cancel()
		n.Close()
	}
	e.store.Close()
}

// consumerPoll is how often a waiting consumer re-reads a row without
// notifications: 0 (the library's default) unless in poll-only mode.
func (e *session) consumerPoll() time.Duration {
	if e.cfg.PollOnly {
		return time.Second
	}
	return 0
}

// policy is the endpoint policy every request carrying secrets obeys.
func (e *session) policy() provider.EndpointPolicy {
	return provider.EndpointPolicy{AllowInsecureHTTP: e.cfg.AllowInsecureHTTP, AllowedHosts: e.cfg.AllowedTokenHosts}
}

func (e *session) refresher() *provider.Refresher {
	client := provider.NewHTTPClient(e.cfg.HTTPTimeout, e.cfg.Concurrency)
	lookup := func(ctx context.Context, name string) (string, error) {
		return e.store.CurrentAccessToken(ctx, name, 10*time.Second)
	}
	return provider.NewRefresher(e.catalogue, client, lookup).WithEndpointPolicy(e.policy())
}

func (e *session) worker() *refresh.Worker {
	var sp refresh.Spooler
	if e.spool != nil {
		sp = e.spool // a nil *spool.Spool in the interface would not be nil
	}
	return refresh.New(e.store, e.refresher(), refresh.Config{
		PollInterval:    e.cfg.PollInterval,
		RefreshBefore:   e.cfg.RefreshBefore,
		Lease:           e.cfg.Lease,
		HTTPTimeout:     e.cfg.HTTPTimeout,
		Concurrency:     e.cfg.Concurrency,
		ReauthWarning:   e.cfg.ReauthWarning,
		EventsRetention: e.cfg.EventsRetention,
		Observer:        webhook.Tee(e.observer(), e.webhooks),
		Spool:           sp,
	}, e.log)
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

func (a *app) run(ctx context.Context, args []string) error {
	if err := noArgs(flag.NewFlagSet("run", flag.ContinueOnError), args); err != nil {
		return err
	}
	e, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.checkReady(ctx); err != nil {
		return err
	}
	// With TOKENS_HTTP_ADDR, serve the token API and /metrics too; started
	// before the worker is made, so that the worker reports to /metrics.
	var httpDone func() error
	if e.cfg.HTTPAddr != "" {
		if httpDone, err = e.startHTTP(ctx); err != nil {
			return err
		}
	}
	w := e.worker()
	if e.spool == nil {
		e.log.Warn("TOKENS_SPOOL_DIR is not set: refresh results the database cannot take before the worker stops are lost")
	}
	e.log.Info("worker started", "poll_interval", e.cfg.PollInterval, "refresh_before", e.cfg.RefreshBefore,
		"concurrency", e.cfg.Concurrency, "db_max_conns", e.cfg.DBMaxConns, "lease", e.cfg.Lease)
	listen := e.cfg.DatabaseURL
	if e.cfg.PollOnly {
		listen = "" // no LISTEN: refresh requests wait for the next poll
	}
	err = w.Run(ctx, listen)
	e.log.Info("worker stopped")
	if httpDone != nil {
		if herr := httpDone(); err == nil {
			err = herr
		}
	}
	return err
}

func (a *app) once(ctx context.Context, args []string) error {
	if err := noArgs(flag.NewFlagSet("once", flag.ContinueOnError), args); err != nil {
		return err
	}
	e, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.checkReady(ctx); err != nil {
		return err
	}
	w := e.worker()
	stats, err := w.Pass(ctx)
	if err != nil {
		return err
	}
	e.log.Info("pass done", "claimed", stats.Claimed, "refreshed", stats.Refreshed, "failed", stats.Failed,
		"needs_reauth", stats.Reauth, "fenced", stats.Fenced)
	if n := stats.Errors(); n > 0 {
		return fmt.Errorf("%d of %d refreshes failed", n, stats.Claimed)
	}
	return nil
}

// checkReady fails before any refresh when the schema is missing or the
// table holds secrets sealed with a key the worker does not have: sending
// undecryptable values to providers would only burn the connections.
func (e *session) checkReady(ctx context.Context) error {
	if _, err := e.store.Get(ctx, ""); store.IsUndefinedTable(err) {
		return errors.New("the schema is not applied; run `worker migrate` first")
	}
	// Every key the table names must be here, with the bytes it recorded.
	if err := e.store.CheckKeys(ctx); err != nil {
		return err
	}
	// So must every key the spool's files name: they hold rotated tokens
	// found nowhere else (unreadable garbage is quarantined, not refused).
	if e.spool != nil {
		if err := e.spool.CheckKeys(); err != nil {
			return err
		}
	}
	if !e.keys.Enabled() {
		e.log.Warn("TOKENS_ENCRYPTION_KEYS is not set: tokens and client secrets are stored in plaintext")
	}
	return nil
}

func (a *app) refresh(ctx context.Context, args []string) error {
	name, err := oneName(flag.NewFlagSet("refresh", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	e, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	// Check the keys, and read the row with its secrets opened, before
	// claiming it: without the keys it needs, the claim would fail and
	// record a failure and a backoff for a row that is fine.
	if err := e.store.CheckKeys(ctx); err != nil {
		return fmt.Errorf("refresh %s: nothing done: %w", name, err)
	}
	if _, err := e.store.Get(ctx, name); err != nil {
		return fmt.Errorf("refresh %s: nothing done: %w", name, err)
	}
	w := e.worker()
	if err := w.RefreshByName(ctx, name); err != nil {
		return err
	}
	row, err := e.store.Get(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "refreshed %s: version %d, expires %s\n", name, row.Version, expiresText(row.AccessTokenExpires, time.Now()))
	return nil
}

func (a *app) check(ctx context.Context, args []string) error {
	name, err := oneName(flag.NewFlagSet("check", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	e, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	row, err := e.store.Get(ctx, name)
	if err != nil {
		return err
	}
	req, err := refresh.RequestOf(row)
	if err != nil {
		return fmt.Errorf("check %s: %w", name, err)
	}
	var token model.Secret
	if row.AccessToken != nil {
		token = *row.AccessToken
	}
	res, err := e.refresher().Check(ctx, req, token, row.JSONData)
	if err != nil {
		return fmt.Errorf("check %s: %w", name, err)
	}
	if !res.Accepted {
		return fmt.Errorf("check %s: the provider refused the access token (HTTP %d from %s)", name, res.Status, res.URL)
	}
	fmt.Fprintf(a.stdout, "%s: the provider accepts the access token (HTTP %d from %s)\n", name, res.Status, res.URL)
	return nil
}

func (a *app) clear(ctx context.Context, args []string) error {
	name, err := oneName(flag.NewFlagSet("clear", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	e, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.store.Clear(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "cleared %s; a running worker refreshes it now\n", name)
	return nil
}

func (a *app) importCmd(ctx context.Context, args []string) error {
	pos, err := cli.Parse(flag.NewFlagSet("import", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return cli.UsageError("import takes one file (or - for standard input)")
	}
	var in io.Reader = a.stdin
	src := "standard input"
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		in, src = f, pos[0]
	}
	// Validate everything before touching the database: a bad file writes
	// nothing, and needs no database to be told so.
	cat, err := provider.LoadCatalogue(a.environ["TOKENS_PROVIDERS_FILE"])
	if err != nil {
		return err
	}
	rows, err := connfile.Parse(in, cat, time.Now())
	if err != nil {
		return fmt.Errorf("import %s: %w", src, err)
	}
	e, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	// Where each connection will refresh depends on what is stored of it
	// (a record may leave its provider and token URL out): check it as it
	// will be, before anything is written.
	names := make([]string, len(rows))
	for i := range rows {
		names[i] = rows[i].Name
	}
	stored, err := e.store.Describe(ctx, names)
	if err != nil {
		return err
	}
	if err := connfile.CheckEndpoints(rows, stored, e.catalogue, e.policy()); err != nil {
		return fmt.Errorf("import %s: %w", src, err)
	}
	if err := e.store.Import(ctx, rows); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "imported %d connection(s)\n", len(rows))
	return nil
}

func (a *app) migrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	roles := fs.Bool("roles", false, "also create the least-privilege roles of sql/roles.sql")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	e, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.store.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "schema applied")
	if *roles {
		if err := e.store.ApplyRoles(ctx); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, "roles tokenwarden_worker and tokenwarden_consumer applied")
	}
	return nil
}

func (a *app) providers(_ context.Context, args []string) error {
	if err := noArgs(flag.NewFlagSet("providers", flag.ContinueOnError), args); err != nil {
		return err
	}
	cat, err := provider.LoadCatalogue(a.environ["TOKENS_PROVIDERS_FILE"])
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROVIDER\tAUTH\tLIFETIME\tROTATES\tTOKEN URL\tALIASES")
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
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Auth, lifetime, rotates, u, strings.Join(t.Aliases, ","))
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

func (a *app) list(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	e, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	rows, err := e.store.List(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	if *asJSON {
		out := make([]listEntry, 0, len(rows))
		for i := range rows {
			out = append(out, entryOf(&rows[i], now, e.cfg.ReauthWarning))
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
			reauthText(r, now, e.cfg.ReauthWarning), store.Str(r.LastError))
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
