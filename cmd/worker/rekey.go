package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/tokenwarden/tokenwarden/internal/app"
)

// rekey seals every secret in the table under the first key of
// TOKENS_ENCRYPTION_KEYS, bound to its connection: after adding a new key
// in front, after upgrading from values sealed before bindings, and for
// rows written before encryption was turned on. Run it once every worker
// has the new key list, or a worker still sealing with the old key undoes
// it.
//
// It opens every value, so it finds every row that cannot be opened (a
// lost key, a row changed behind tokenwarden's back) and names them all.
// With --skip-unreadable it takes those rows out of rotation instead of
// failing, so that a lost key can be removed from the list.
func (a *invocation) rekey(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rekey", flag.ContinueOnError)
	skip := fs.Bool("skip-unreadable", false, "mark the rows that cannot be decrypted needs_reauth and finish, instead of failing")
	quiet := fs.Bool("quiet", false, "show no progress, only the summary")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	return a.with(ctx, func(s *app.App) error {
		rep := a.progress("rekey", *quiet)
		res, key, err := s.Rekey(ctx, *skip, rep)
		rep.Finish()
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "re-encrypted %d connection(s) under key %q\n", res.Resealed, key)
		if len(res.Unreadable) > 0 {
			fmt.Fprintf(a.stdout, "skipped %d connection(s) that cannot be decrypted, now needs_reauth:\n", len(res.Unreadable))
			for _, u := range res.Unreadable {
				fmt.Fprintf(a.stdout, "  %s: %v\n", u.Name, u.Err)
			}
		}
		return nil
	})
}
