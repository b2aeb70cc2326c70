package app

import (
	"context"
	"fmt"
	"net"

	"github.com/tokenwarden/tokenwarden/internal/httpapi"
	"github.com/tokenwarden/tokenwarden/internal/metrics"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

// Serve serves the token HTTP API, /healthz, /readyz and /metrics on
// TOKENS_HTTP_ADDR until ctx ends, without refreshing anything, as `worker
// serve` does.
func (a *App) Serve(ctx context.Context) error {
	if _, err := a.cfg.HTTPListenAddr(); err != nil {
		return err
	}
	// The spool is opened for its key check and its metrics: a server next
	// to a worker sharing the directory reports what is quarantined there.
	if err := a.openSpool(); err != nil {
		return err
	}
	if err := a.checkStart(ctx); err != nil {
		return err
	}
	srv, err := a.startHTTP(ctx)
	if err != nil {
		return err
	}
	err = srv.wait()
	a.log.Info("HTTP API stopped")
	return err
}

// server is the token HTTP API started by startHTTP.
type server struct {
	metrics *metrics.Metrics
	errc    chan error
}

// wait waits for the server's graceful shutdown once ctx has ended.
func (s *server) wait() error { return <-s.errc }

// startHTTP listens on TOKENS_HTTP_ADDR and serves the API there until ctx
// ends. Its metrics are made first, for the worker that Run makes next.
func (a *App) startHTTP(ctx context.Context) (*server, error) {
	addr, err := a.cfg.HTTPListenAddr()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("TOKENS_HTTP_ADDR: %w", err)
	}
	keys, err := tokens.ParseKeys(a.cfg.EncryptionKeys)
	if err != nil {
		ln.Close()
		return nil, err
	}
	pool, err := a.store.DB().DB()
	if err != nil {
		ln.Close()
		return nil, err
	}
	// The API reads on the worker's pool; with the URL it keeps its LISTEN
	// connection beside it.
	client, err := tokens.Open(ctx, a.cfg.DatabaseURL, &tokens.Options{DB: pool, Logger: a.log,
		EncryptionKeys: keys, PollOnly: a.cfg.PollOnly, PollInterval: a.consumerPoll()})
	if err != nil {
		ln.Close()
		return nil, err
	}
	m := metrics.New()
	m.WatchTable(a.store, a.cfg.RefreshBefore, a.log)
	if a.spool != nil {
		m.WatchSpool(a.spool)
	}
	h := httpapi.New(httpapi.Config{
		Tokens:  client,
		Keys:    a.store,
		Ready:   a.Ready,
		Metrics: m.Handler(),
		Logger:  a.log,
	})
	a.log.Info("HTTP API listening", "addr", ln.Addr().String())
	s := &server{metrics: m, errc: make(chan error, 1)}
	go func() {
		err := httpapi.Serve(ctx, ln, h, a.log)
		if err != nil {
			a.log.Error("HTTP API failed", "err", err)
		}
		client.Close()
		s.errc <- err
	}()
	return s, nil
}
