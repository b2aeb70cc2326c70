package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/cli"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// disable takes a connection out of service without SQL: no worker
// refreshes it and consumers get ErrDisabled, until `worker enable`.
func (a *invocation) disable(ctx context.Context, args []string) error {
	name, err := oneName(flag.NewFlagSet("disable", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	return a.with(ctx, func(s *app.App) error {
		was, err := s.SetDisabled(ctx, name)
		if err != nil {
			return err
		}
		if was == model.StatusDisabled {
			fmt.Fprintf(a.stdout, "%s was already disabled\n", name)
			return nil
		}
		fmt.Fprintf(a.stdout, "disabled %s (was %s): no worker refreshes it and consumers get ErrDisabled until `worker enable %s`\n", name, was, name)
		return nil
	})
}

// enable puts a disabled (or needs_reauth) connection back in service,
// its failure count, backoff and last error cleared.
func (a *invocation) enable(ctx context.Context, args []string) error {
	name, err := oneName(flag.NewFlagSet("enable", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	return a.with(ctx, func(s *app.App) error {
		was, err := s.SetEnabled(ctx, name)
		if err != nil {
			return err
		}
		if was == model.StatusActive {
			fmt.Fprintf(a.stdout, "%s is already active\n", name)
			return nil
		}
		fmt.Fprintf(a.stdout, "enabled %s (was %s); a running worker refreshes it when it is due\n", name, was)
		return nil
	})
}

// deleteCmd removes a connection and its secrets for good; its events
// stay. It wants --yes, checked before touching the database.
func (a *invocation) deleteCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("delete", flag.ContinueOnError)
	yes := fs.Bool("yes", false, "confirm that the connection and its tokens are to be removed for good")
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	if !*yes {
		return cli.UsageError("delete removes %s and its tokens for good (`worker disable` can be undone); add --yes to confirm", name)
	}
	return a.with(ctx, func(s *app.App) error {
		if err := s.Delete(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "deleted %s; its events remain\n", name)
		return nil
	})
}
