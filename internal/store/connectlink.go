package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

var (
	connectLinkCreateSQL = query("connect_link_create")
	connectLinkGetSQL    = query("connect_link_get")
)

// ErrLinkUnusable is returned for a reconnect link that is unknown, used
// or expired.
var ErrLinkUnusable = errors.New("this reconnect link has been used or has expired")

// ConnectLink is a reconnect link as connect_links holds it: never its
// secret, only the secret's hash.
type ConnectLink struct {
	ID uuid.UUID
	// TokenID and Name are the one connection the link re-authorizes.
	TokenID        uuid.UUID
	Name, Provider string
	// CreatedBy is the admin key's id, or "cli".
	CreatedBy          string
	CreatedAt, Expires time.Time
}

// CreateConnectLink stores a link to the named connection valid for ttl,
// under secretHash (the SHA-256 of the link's secret). An unknown name is
// ErrNotFound.
func (s *Store) CreateConnectLink(ctx context.Context, secretHash []byte, name, createdBy string, ttl time.Duration) (*ConnectLink, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	return scanOne(ctx, s, connectLinkCreateSQL, map[string]any{
		"id": id, "secret_hash": secretHash, "name": name, "created_by": createdBy, "ttl_us": ttl.Microseconds(),
	}, scanConnectLink, "create reconnect link", fmt.Errorf("%w: %s", ErrNotFound, name))
}

// ConnectLink returns the unused, unexpired link whose secret hashes to
// secretHash, or ErrLinkUnusable. It changes nothing.
func (s *Store) ConnectLink(ctx context.Context, secretHash []byte) (*ConnectLink, error) {
	return scanOne(ctx, s, connectLinkGetSQL, map[string]any{"secret_hash": secretHash}, scanConnectLink, "read reconnect link", ErrLinkUnusable)
}

func scanConnectLink(r *sql.Rows) (ConnectLink, error) {
	var l ConnectLink
	return l, r.Scan(&l.ID, &l.TokenID, &l.Name, &l.Provider, &l.CreatedBy, &l.CreatedAt, &l.Expires)
}
