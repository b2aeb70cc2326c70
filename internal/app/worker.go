package app

import (
	"context"
	"fmt"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/metrics"
	"github.com/tokenwarden/tokenwarden/internal/notify"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/internal/webhook"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// Run refreshes due connections until ctx ends, as `worker run` does. With
// TOKENS_HTTP_ADDR set it also serves the token HTTP API and /metrics, and
// stops serving after the worker has stored what it had in flight.
func (a *App) Run(ctx context.Context) error {
	if err := a.openRefreshing(); err != nil {
		return err
	}
	if err := a.checkStart(ctx); err != nil {
		return err
	}
	// One LISTEN connection wakes the worker on refresh requests and the
	// token HTTP API's waiting reads on changes. It stops last.
	hub, stopListening := a.listen(ctx, notify.RefreshChannel, notify.TokensChannel)
	defer stopListening()
	// The metrics must exist before the worker is made, so that it reports
	// to them: a worker takes its observer when it is made.
	var srv *server
	var m *metrics.Metrics
	if a.cfg.HTTPAddr != "" {
		var err error
		if srv, err = a.startHTTP(ctx, hub); err != nil {
			return err
		}
		m = srv.metrics
	}
	w := a.worker(m, hub)
	if a.spool == nil {
		a.log.Warn("TOKENS_SPOOL_DIR is not set: refresh results the database cannot take before the worker stops are lost")
	}
	a.log.Info("worker started", "poll_interval", a.cfg.PollInterval, "refresh_before", a.cfg.RefreshBefore,
		"concurrency", a.cfg.Concurrency, "db_max_conns", a.cfg.DBMaxConns, "lease", a.cfg.Lease)
	// Without a hub (poll-only) refresh requests wait for the next poll.
	err := w.Run(ctx)
	a.log.Info("worker stopped")
	if srv != nil {
		if herr := srv.wait(); err == nil {
			err = herr
		}
	}
	return err
}

// Once makes one pass over the due connections, as `worker once` does.
// The error counts the refreshes that failed.
func (a *App) Once(ctx context.Context) (refresh.Stats, error) {
	if err := a.openRefreshing(); err != nil {
		return refresh.Stats{}, err
	}
	if err := a.checkStart(ctx); err != nil {
		return refresh.Stats{}, err
	}
	stats, err := a.worker(nil, nil).Pass(ctx)
	if err != nil {
		return stats, err
	}
	a.log.Info("pass done", "claimed", stats.Claimed, "refreshed", stats.Refreshed, "failed", stats.Failed,
		"needs_reauth", stats.Reauth, "fenced", stats.Fenced)
	if n := stats.Errors(); n > 0 {
		return stats, fmt.Errorf("%d of %d refreshes failed", n, stats.Claimed)
	}
	return stats, nil
}

// Refresh refreshes one connection now, whatever its expiry, and returns
// it as stored afterwards, without its secrets.
func (a *App) Refresh(ctx context.Context, name string) (*model.OAuthToken, error) {
	// Check the keys, and read the row with its secrets opened, before
	// claiming it: without the keys it needs, the claim would fail and
	// record a failure and a backoff for a row that is fine.
	if err := a.store.CheckKeys(ctx); err != nil {
		return nil, fmt.Errorf("refresh %s: nothing done: %w", name, err)
	}
	if _, err := a.store.Get(ctx, name); err != nil {
		return nil, fmt.Errorf("refresh %s: nothing done: %w", name, err)
	}
	if err := a.openRefreshing(); err != nil {
		return nil, err
	}
	if err := a.worker(nil, nil).RefreshByName(ctx, name); err != nil {
		return nil, err
	}
	return a.store.Connection(ctx, name)
}

// Check asks the provider whether it accepts the connection's access
// token. A refusal is a result, not an error.
func (a *App) Check(ctx context.Context, name string) (*provider.CheckResult, error) {
	row, err := a.store.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	req, err := refresh.RequestOf(row)
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", name, err)
	}
	var token model.Secret
	if row.AccessToken != nil {
		token = *row.AccessToken
	}
	res, err := a.refresher().Check(ctx, req, token, row.JSONData)
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", name, err)
	}
	return res, nil
}

// policy is the endpoint policy every request carrying secrets obeys.
func (a *App) policy() provider.EndpointPolicy {
	return provider.EndpointPolicy{AllowInsecureHTTP: a.cfg.AllowInsecureHTTP, AllowedHosts: a.cfg.AllowedTokenHosts}
}

func (a *App) refresher() *provider.Refresher {
	client := provider.NewHTTPClient(a.cfg.HTTPTimeout, a.cfg.Concurrency)
	lookup := func(ctx context.Context, name string) (string, error) {
		return a.store.CurrentAccessToken(ctx, name, 10*time.Second)
	}
	return provider.NewRefresher(a.catalogue, client, lookup).WithEndpointPolicy(a.policy())
}

// worker makes the refresh worker, reporting to m (nil: no metrics) and to
// the webhooks, woken by hub (nil: none). Make it after openRefreshing.
func (a *App) worker(m *metrics.Metrics, hub *notify.Hub) *refresh.Worker {
	// Nil pointers would make non-nil interfaces: pass nil ones instead.
	var obs, hooks refresh.Observer
	var listener refresh.Listener
	if m != nil {
		obs = m
	}
	if hub != nil {
		listener = hub
	}
	if a.webhooks != nil {
		hooks = a.webhooks
	}
	var sp refresh.Spooler
	if a.spool != nil {
		sp = a.spool
	}
	return refresh.New(a.store, a.refresher(), refresh.Config{
		PollInterval:    a.cfg.PollInterval,
		RefreshBefore:   a.cfg.RefreshBefore,
		Lease:           a.cfg.Lease,
		HTTPTimeout:     a.cfg.HTTPTimeout,
		Concurrency:     a.cfg.Concurrency,
		ReauthWarning:   a.cfg.ReauthWarning,
		EventsRetention: a.cfg.EventsRetention,
		Observer:        webhook.Tee(obs, hooks),
		Spool:           sp,
		Listener:        listener,
	}, a.log)
}
