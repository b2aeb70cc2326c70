package main

import (
	"context"
	"flag"

	"github.com/tokenwarden/tokenwarden/internal/app"
)

// serve runs the token HTTP API (with /healthz, /readyz and /metrics) on
// TOKENS_HTTP_ADDR until ctx ends, without refreshing anything.
func (a *invocation) serve(ctx context.Context, args []string) error {
	if err := noArgs(flag.NewFlagSet("serve", flag.ContinueOnError), args); err != nil {
		return err
	}
	cfg, err := a.config()
	if err != nil {
		return err
	}
	// Refused before connecting: without an address there is nothing to do.
	if _, err := cfg.HTTPListenAddr(); err != nil {
		return err
	}
	return a.withConfig(ctx, cfg, func(s *app.App) error { return s.Serve(ctx) })
}
