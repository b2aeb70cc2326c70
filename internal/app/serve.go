package app

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/tokenwarden/tokenwarden/internal/console"
	"github.com/tokenwarden/tokenwarden/internal/httpapi"
	"github.com/tokenwarden/tokenwarden/internal/metrics"
	"github.com/tokenwarden/tokenwarden/internal/notify"
	"github.com/tokenwarden/tokenwarden/internal/proxy"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

// Serve serves the token HTTP API, the token-injecting proxy, the
// operator console, /healthz, /readyz and /metrics on TOKENS_HTTP_ADDR
// until ctx ends, without refreshing anything, as `worker serve` does.
func (a *App) Serve(ctx context.Context) error {
	if _, err := a.cfg.HTTPListenAddr(); err != nil {
		return err
	}
	// The spool is opened, as it always was, for the start-up check of its
	// files' keys: serve refuses to start where run would.
	if err := a.openSpool(); err != nil {
		return err
	}
	if err := a.checkStart(ctx); err != nil {
		return err
	}
	hub, stopListening := a.listen(ctx, notify.TokensChannel)
	defer stopListening()
	srv, err := a.startHTTP(ctx, hub)
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
// ends, reading tokens on the App's pool and waking on hub's notifications
// (nil: poll-only). Its metrics are made first, for the worker that Run
// makes next.
func (a *App) startHTTP(ctx context.Context, hub *notify.Hub) (*server, error) {
	addr, err := a.cfg.HTTPListenAddr()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("TOKENS_HTTP_ADDR: %w", err)
	}
	client, err := a.tokensClient(ctx, hub)
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
	h = proxy.Mount(h, proxy.New(proxy.Config{Tokens: client, Keys: a.store, Connections: a.store,
		Catalogue: a.catalogue, Policy: a.policy(), Logger: a.log, Observer: m.Proxy(metrics.DefaultProxyConnections),
		MaxConcurrent: a.cfg.ProxyMaxConcurrent, ResponseHeaderTimeout: a.cfg.ProxyResponseHeaderTimeout}))
	// The operator console, its OAuth callback and reconnect links.
	h = console.Mount(h, console.Config{Backend: a, PublicURL: a.cfg.PublicURL, Logger: a.log, ReauthWarning: a.cfg.ReauthWarning})
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

// tokensClient is the token HTTP API's reader: the consumer library on the
// App's pool and its LISTEN connection, not a second pool and listener.
func (a *App) tokensClient(ctx context.Context, hub *notify.Hub) (*tokens.Client, error) {
	keys, err := tokens.ParseKeys(a.cfg.EncryptionKeys)
	if err != nil {
		return nil, err
	}
	db, err := a.store.DB().DB()
	if err != nil {
		return nil, err
	}
	opts := &tokens.Options{DB: db, Logger: a.log, EncryptionKeys: keys, PollOnly: a.cfg.PollOnly, PollInterval: a.consumerPoll()}
	if hub != nil {
		opts.Listener = hub
	}
	return tokens.Open(ctx, "", opts)
}

// listen starts the process's one LISTEN connection on channels, shared
// by the worker and the token HTTP API, and returns it; stop ends it and
// waits for it. In poll-only mode there is none: hub is nil.
func (a *App) listen(ctx context.Context, channels ...string) (hub *notify.Hub, stop func()) {
	if a.cfg.PollOnly {
		return nil, func() {}
	}
	hub, stopHub := a.runHub(ctx, channels...)
	a.hub.Store(hub) // the console's Watch shares it
	return hub, func() {
		a.hub.CompareAndSwap(hub, nil)
		stopHub()
	}
}

// runHub starts a LISTEN connection on channels, until ctx ends or stop
// is called; stop waits for it.
func (a *App) runHub(ctx context.Context, channels ...string) (hub *notify.Hub, stop func()) {
	hub = notify.NewHub(channels...)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { hub.Run(ctx, a.cfg.DatabaseURL, a.log) })
	return hub, func() {
		cancel()
		wg.Wait()
	}
}
