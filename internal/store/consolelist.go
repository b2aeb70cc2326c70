package store

import (
	"context"
	"fmt"
	"time"

	"github.com/tokenwarden/tokenwarden/pkg/model"
)

var consoleListSQL = query("console_list")

// ListQuery selects one page of ListConnections.
type ListQuery struct {
	// Status and Provider match exactly when not empty.
	Status, Provider string
	// NameRegexp is a regular expression (PostgreSQL's) the name must
	// match, case-insensitively; "" matches all.
	NameRegexp string
	// After is the previous page's last row, nil for the first page.
	After *ListCursor
	// Limit is the page size.
	Limit int
}

// ListCursor is a position in the list: a row's expiry and name.
type ListCursor struct {
	// Expires is nil for a token that never expires (listed last).
	Expires *time.Time
	Name    string
}

// ListConnections returns one page of connections, ordered by access-token
// expiry (never-expiring last), then name, without any secret.
func (s *Store) ListConnections(ctx context.Context, q ListQuery) ([]model.OAuthToken, error) {
	args := map[string]any{
		"status": q.Status, "provider": q.Provider, "name_re": q.NameRegexp, "limit": q.Limit,
		"after_null": false, "after_expires": "-infinity", "after_name": "", "after_null_name": "",
	}
	if c := q.After; c != nil {
		if c.Expires == nil {
			args["after_null"], args["after_null_name"] = true, c.Name
		} else {
			args["after_expires"], args["after_name"] = c.Expires.UTC().Format(time.RFC3339Nano), c.Name
		}
	}
	var rows []model.OAuthToken
	if err := s.db.WithContext(ctx).Raw(consoleListSQL, args).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return rows, nil
}

// Connection returns the named connection without any secret (Describe of
// one name), or an error wrapping ErrNotFound.
func (s *Store) Connection(ctx context.Context, name string) (*model.OAuthToken, error) {
	found, err := s.Describe(ctx, []string{name})
	if err != nil {
		return nil, err
	}
	c, ok := found[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return c, nil
}
