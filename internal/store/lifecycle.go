package store

import (
	"context"
	"database/sql"
	"fmt"
)

var (
	disableSQL = query("disable")
	enableSQL  = query("enable")
	deleteSQL  = query("delete")
)

// Disable takes a connection out of service: workers no longer refresh it
// and consumers get tokens.ErrDisabled. It returns the status the
// connection had.
func (s *Store) Disable(ctx context.Context, name string) (was string, err error) {
	return s.setStatus(ctx, "disable", disableSQL, name)
}

// Enable puts a disabled or needs_reauth connection back in service with
// its failure state cleared, and wakes the workers; an active one is left
// as it is. It returns the status the connection had.
func (s *Store) Enable(ctx context.Context, name string) (was string, err error) {
	return s.setStatus(ctx, "enable", enableSQL, name)
}

// setStatus runs q, which returns the connection's former status, or no
// row for an unknown name.
func (s *Store) setStatus(ctx context.Context, verb, q, name string) (string, error) {
	was, err := scanOne(ctx, s, q, map[string]any{"name": name}, func(r *sql.Rows) (string, error) {
		var v string
		return v, r.Scan(&v)
	}, verb+" "+name, fmt.Errorf("%w: %s", ErrNotFound, name))
	if err != nil {
		return "", err
	}
	return *was, nil
}

// Delete removes a connection and its secrets; its events remain.
func (s *Store) Delete(ctx context.Context, name string) error {
	n, err := s.countRows(ctx, deleteSQL, map[string]any{"name": name})
	if err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return nil
}
