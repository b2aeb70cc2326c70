package main

import (
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
)

// endpoint is a rotating mock token endpoint on 127.0.0.1. It records what it
// issued per presented refresh token (for the lost-answer check), counts
// calls, and counts reuses of rotated refresh tokens (double refreshes).
type endpoint struct {
	*mockprovider.Server
	srv *httptest.Server
}

func startProvider(lifetime, latency time.Duration) *endpoint {
	m := mockprovider.New(mockprovider.Options{Rotate: true, Lifetime: lifetime, Latency: latency})
	srv := httptest.NewUnstartedServer(m)
	// The worker keeps up to TOKENS_CONCURRENCY connections alive; let the
	// server do the same.
	srv.Config.IdleTimeout = time.Minute
	srv.Start()
	return &endpoint{Server: m, srv: srv}
}

// TokenURL is the token endpoint to store in the rows.
func (p *endpoint) TokenURL() string { return p.srv.URL + "/token" }

func (p *endpoint) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
}

var _ http.Handler = (*mockprovider.Server)(nil)
