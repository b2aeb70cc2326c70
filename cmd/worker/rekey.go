package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/store"
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
//
// The console's pending authorizations (flows between the consent page and
// the callback) are re-sealed too, so that a flow begun before a key's
// retirement completes.
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
		if res.Authorizations > 0 {
			fmt.Fprintf(a.stdout, "re-encrypted %d pending console authorization(s)\n", res.Authorizations)
		}
		printSkipped(a, res.Unreadable, false, "connection(s) that cannot be decrypted, now needs_reauth")
		printSkipped(a, res.Unreadable, true, "pending console authorization(s) that cannot be decrypted, deleted (the person starts again)")
		return nil
	})
}

// printSkipped lists the skipped rows of one kind (authorizations or
// connections) under what, if there are any.
func printSkipped(a *invocation, rows []store.Unreadable, authorizations bool, what string) {
	var skipped []store.Unreadable
	for _, u := range rows {
		if u.Authorization == authorizations {
			skipped = append(skipped, u)
		}
	}
	if len(skipped) == 0 {
		return
	}
	fmt.Fprintf(a.stdout, "skipped %d %s:\n", len(skipped), what)
	for _, u := range skipped {
		fmt.Fprintf(a.stdout, "  %s: %v\n", u.Name, u.Err)
	}
}
