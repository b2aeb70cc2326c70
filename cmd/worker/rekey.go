package main

import (
	"context"
	"flag"
	"fmt"
)

// rekey seals every secret in the table under the first key of
// TOKENS_ENCRYPTION_KEYS: after adding a new key in front, and for rows
// written before encryption was turned on. Run it once every worker has the
// new key list, or a worker still sealing with the old key undoes it.
func (a *app) rekey(ctx context.Context, args []string) error {
	if err := noArgs(flag.NewFlagSet("rekey", flag.ContinueOnError), args); err != nil {
		return err
	}
	e, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	n, err := e.store.Rekey(ctx)
	if err != nil {
		return fmt.Errorf("%w (%d rows re-encrypted before the error; run rekey again)", err, n)
	}
	fmt.Fprintf(a.stdout, "re-encrypted %d connection(s) under key %q\n", n, e.keys.Primary())
	return nil
}
