package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokenwarden/tokenwarden/internal/connfile"
	"github.com/tokenwarden/tokenwarden/internal/progress"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// List returns every connection; its secrets are not opened.
func (a *App) List(ctx context.Context) ([]model.OAuthToken, error) { return a.store.List(ctx) }

// Clear drops a connection's access token, so that a worker refreshes it
// next.
func (a *App) Clear(ctx context.Context, name string) error { return a.store.Clear(ctx, name) }

// SetDisabled takes a connection out of service and returns the status it
// had.
func (a *App) SetDisabled(ctx context.Context, name string) (was string, err error) {
	return a.store.Disable(ctx, name)
}

// SetEnabled puts a disabled (or needs_reauth) connection back in service,
// its failures cleared, and returns the status it had.
func (a *App) SetEnabled(ctx context.Context, name string) (was string, err error) {
	return a.store.Enable(ctx, name)
}

// Delete removes a connection and its secrets for good; its events stay.
func (a *App) Delete(ctx context.Context, name string) error { return a.store.Delete(ctx, name) }

// Events returns a connection's latest refresh attempts, newest first.
// Events outlive a deleted connection, so they are returned whether or not
// the row exists; only a name with neither is store.ErrNotFound. Nothing
// is opened, so no key is needed.
func (a *App) Events(ctx context.Context, name string, limit int) ([]store.Event, error) {
	evs, err := a.store.Events(ctx, name, limit)
	if err != nil || len(evs) > 0 {
		return evs, err
	}
	found, err := a.store.Describe(ctx, []string{name})
	if err != nil {
		return nil, err
	}
	if found[name] == nil {
		return nil, fmt.Errorf("%w: %s", store.ErrNotFound, name)
	}
	return evs, nil
}

// ImportOptions shape Import.
type ImportOptions struct {
	// Batch, when positive, commits every Batch records (store.ImportOptions).
	Batch int
	// Progress, when set, is told how many records have been written.
	Progress progress.Reporter
}

// Import upserts the rows next returns (a connfile.Reader's Next, which
// validates records as they stream) until io.EOF, and
// returns how many it committed. Each record is also checked as it will
// be once imported (connfile.CheckEndpoints): where a connection refreshes
// depends on what is stored of it, since a record may leave its provider
// and token URL out. Without opts.Batch, all records are written or none.
func (a *App) Import(ctx context.Context, next func() (store.ImportRow, error), opts ImportOptions) (int, error) {
	var done func(int)
	if opts.Progress != nil {
		done = opts.Progress.Set
	}
	return a.store.ImportStream(ctx, next, store.ImportOptions{
		Batch:    opts.Batch,
		Progress: done,
		Check: func(first int, rows []store.ImportRow, stored map[string]*model.OAuthToken) error {
			return connfile.CheckEndpoints(first, rows, stored, a.catalogue, a.policy())
		},
	})
}

// Migrate applies the pending migrations and returns those it applied.
func (a *App) Migrate(ctx context.Context) ([]store.Migration, error) { return a.store.Migrate(ctx) }

// MigrationStatus lists every migration, applied or pending.
func (a *App) MigrationStatus(ctx context.Context) ([]store.Migration, error) {
	return a.store.MigrationStatus(ctx)
}

// ApplyRoles creates the least-privilege roles of sql/roles.sql.
func (a *App) ApplyRoles(ctx context.Context) error { return a.store.ApplyRoles(ctx) }

// Rekey seals every secret under the first key of TOKENS_ENCRYPTION_KEYS,
// bound to its connection, and returns that key's id; see store.Rekey.
// With skip, the rows that do not open are marked needs_reauth instead of
// failing the rekey.
// rep, when set, is told the rows to visit and the rows visited.
func (a *App) Rekey(ctx context.Context, skip bool, rep progress.Reporter) (store.RekeyResult, string, error) {
	var visited func(done, total int)
	if rep != nil {
		visited = func(done, total int) {
			if done == 0 {
				rep.SetTotal(total)
			}
			rep.Set(done)
		}
	}
	res, err := a.store.Rekey(ctx, skip, visited)
	if err != nil {
		if _, unreadable := errors.AsType[*store.UnreadableError](err); unreadable {
			return res, "", fmt.Errorf("rekey: %w (%d other row(s) re-encrypted)", err, res.Resealed)
		}
		return res, "", fmt.Errorf("%w (%d rows re-encrypted before the error; run rekey again)", err, res.Resealed)
	}
	return res, a.keys.Primary(), nil
}
