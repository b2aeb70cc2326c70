package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"

	"github.com/tokenwarden/tokenwarden/internal/httpapi"
	"github.com/tokenwarden/tokenwarden/internal/metrics"
	"github.com/tokenwarden/tokenwarden/internal/refresh"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

// serve runs the token HTTP API (with /healthz, /readyz and /metrics) on
// TOKENS_HTTP_ADDR until ctx ends, without refreshing anything.
func (a *app) serve(ctx context.Context, args []string) error {
	if err := noArgs(flag.NewFlagSet("serve", flag.ContinueOnError), args); err != nil {
		return err
	}
	if strings.TrimSpace(a.environ["TOKENS_HTTP_ADDR"]) == "" {
		return errors.New("TOKENS_HTTP_ADDR is not set (e.g. 127.0.0.1:8080)")
	}
	e, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.checkReady(ctx); err != nil {
		return err
	}
	done, err := e.startHTTP(ctx)
	if err != nil {
		return err
	}
	err = done()
	e.log.Info("HTTP API stopped")
	return err
}

// startHTTP listens on TOKENS_HTTP_ADDR and serves the API there until ctx
// ends. It sets e.metrics first, so that a worker made afterwards reports
// to /metrics. done waits for the server's graceful shutdown.
func (e *session) startHTTP(ctx context.Context) (done func() error, err error) {
	ln, err := net.Listen("tcp", e.cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("TOKENS_HTTP_ADDR: %w", err)
	}
	keys, err := tokens.ParseKeys(e.cfg.EncryptionKeys)
	if err != nil {
		ln.Close()
		return nil, err
	}
	client, err := tokens.Open(ctx, e.cfg.DatabaseURL, &tokens.Options{MaxConns: e.cfg.DBMaxConns, Logger: e.log,
		EncryptionKeys: keys, PollOnly: e.cfg.PollOnly, PollInterval: e.consumerPoll()})
	if err != nil {
		ln.Close()
		return nil, err
	}
	m := metrics.New()
	m.WatchTable(e.store, e.cfg.RefreshBefore, e.log)
	if e.spool != nil {
		m.WatchSpool(e.spool)
	}
	e.metrics = m
	h := httpapi.New(httpapi.Config{
		Tokens:  client,
		Keys:    e.store,
		Ready:   e.store.Ready,
		Metrics: m.Handler(),
		Logger:  e.log,
	})
	e.log.Info("HTTP API listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() {
		err := httpapi.Serve(ctx, ln, h, e.log)
		if err != nil {
			e.log.Error("HTTP API failed", "err", err)
		}
		client.Close()
		errc <- err
	}()
	return func() error { return <-errc }, nil
}

// observer is the worker's refresh.Observer: the metrics while /metrics is
// served, otherwise none (a nil interface, not a nil *Metrics).
func (e *session) observer() refresh.Observer {
	if e.metrics == nil {
		return nil
	}
	return e.metrics
}
