package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

var (
	authorizationCreateSQL     = query("authorization_create")
	authorizationConsumeSQL    = query("authorization_consume")
	pruneConsoleSQL            = query("prune_console")
	authorizationConnectionSQL = query("authorization_connection")
	connectLinkConsumeSQL      = query("connect_link_consume")
)

// ErrNoAuthorization is returned for a state that names no pending
// authorization: unknown (forged), already used (replayed) or expired.
var ErrNoAuthorization = errors.New("no pending authorization has this state")

// Authorization is an authorization-code flow between the consent page and
// the callback (oauth_authorizations). Its state is never stored, only the
// state's hash; Verifier and ClientSecret are sealed at rest.
type Authorization struct {
	ID uuid.UUID
	// TokenID is the connection a reconnect stores into; nil for a new
	// connection, which has only its Name.
	TokenID *uuid.UUID
	Name    string
	// LinkID is the reconnect link the flow was started from, if any: it
	// is consumed when the flow's tokens are stored.
	LinkID      *uuid.UUID
	RedirectURI string
	Verifier    string
	// Settings are the connection's settings for the flow (the caller's
	// JSON, without secrets).
	Settings json.RawMessage
	// ClientSecret is a new connection's client secret, "" for none.
	ClientSecret string
}

// sealed columns of oauth_authorizations, bound to the flow's id and the
// column, as a connection's secrets are bound to theirs.
func authorizationBinding(id uuid.UUID, col string) keyring.Binding {
	return keyring.AAD(id.String(), "oauth_authorizations."+col)
}

// CreateAuthorization records a, valid for ttl, under stateHash (the
// SHA-256 of the state), its verifier and client secret sealed. A reconnect
// whose connection is gone is ErrNotFound; one whose link is used or
// expired, ErrLinkUnusable.
func (s *Store) CreateAuthorization(ctx context.Context, stateHash []byte, a *Authorization, ttl time.Duration) error {
	if err := s.recordKey(ctx); err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	verifier, err := s.keys.Seal(a.Verifier, authorizationBinding(id, "verifier"))
	if err != nil {
		return err
	}
	var secret any
	if a.ClientSecret != "" {
		if secret, err = s.keys.Seal(a.ClientSecret, authorizationBinding(id, "client_secret")); err != nil {
			return err
		}
	}
	n, err := s.countRows(ctx, authorizationCreateSQL, map[string]any{
		"id": id, "state_hash": stateHash, "token_id": uuidArg(a.TokenID), "name": a.Name, "link_id": uuidArg(a.LinkID),
		"redirect_uri": a.RedirectURI, "verifier": verifier, "settings": jsonArg(a.Settings), "client_secret": secret,
		"ttl_us": ttl.Microseconds(),
	})
	switch {
	case err != nil:
		return fmt.Errorf("record the authorization: %w", err)
	case n == 0 && a.LinkID != nil:
		return ErrLinkUnusable
	case n == 0:
		return fmt.Errorf("%w: %s", ErrNotFound, a.Name)
	}
	a.ID = id
	return nil
}

func uuidArg(id *uuid.UUID) any {
	if id == nil {
		return nil
	}
	return id.String()
}

// ConsumeAuthorization marks the pending authorization whose state hashes
// to stateHash used and returns it, its secrets opened: once, and only if
// it is unused and unexpired; otherwise ErrNoAuthorization.
func (s *Store) ConsumeAuthorization(ctx context.Context, stateHash []byte) (*Authorization, error) {
	a, err := scanOne(ctx, s, authorizationConsumeSQL, map[string]any{"state_hash": stateHash}, scanAuthorization,
		"consume the authorization", ErrNoAuthorization)
	if err != nil {
		return nil, err
	}
	if a.Verifier, err = s.keys.Open(a.Verifier, authorizationBinding(a.ID, "verifier")); err != nil {
		return nil, fmt.Errorf("open the authorization: %w", err)
	}
	if a.ClientSecret != "" {
		if a.ClientSecret, err = s.keys.Open(a.ClientSecret, authorizationBinding(a.ID, "client_secret")); err != nil {
			return nil, fmt.Errorf("open the authorization: %w", err)
		}
	}
	return a, nil
}

func scanAuthorization(r *sql.Rows) (Authorization, error) {
	var (
		a        Authorization
		secret   sql.NullString
		settings []byte
	)
	// database/sql leaves a pointer destination nil for NULL.
	if err := r.Scan(&a.ID, &a.TokenID, &a.Name, &a.LinkID, &a.RedirectURI, &a.Verifier, &settings, &secret); err != nil {
		return a, err
	}
	a.Settings, a.ClientSecret = settings, secret.String
	return a, nil
}

// StoreAuthorization stores row, the tokens of the completed authorization
// a, through the path every import takes (ImportStream: sealed, version
// bumped, status active, a claim in flight fenced, consumers notified), in
// one transaction that also checks that the connection is still the one
// the flow was for and consumes a's reconnect link. Either all of it
// happens or none of it.
func (s *Store) StoreAuthorization(ctx context.Context, row ImportRow, a *Authorization) error {
	done := false
	_, err := s.ImportStream(ctx, func() (ImportRow, error) {
		if done {
			return ImportRow{}, io.EOF
		}
		done = true
		return row, nil
	}, ImportOptions{before: func(ctx context.Context, tx pgx.Tx) error { return checkAuthorized(ctx, tx, a) }})
	return err
}

// checkAuthorized runs in the storing transaction, under the import lock
// (so no import creates or points the row elsewhere meanwhile).
func checkAuthorized(ctx context.Context, tx pgx.Tx, a *Authorization) error {
	var (
		id     uuid.UUID
		status string
	)
	err := tx.QueryRow(ctx, authorizationConnectionSQL, pgx.NamedArgs{"name": a.Name}).Scan(&id, &status)
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("store the authorization: %w", err)
	}
	switch {
	case a.TokenID != nil && (!found || id != *a.TokenID):
		return fmt.Errorf("%w: %s was deleted while it was being authorized; nothing was stored", ErrNotFound, a.Name)
	case a.TokenID == nil && found:
		return fmt.Errorf("a connection named %s was created while this one was being authorized; nothing was stored", a.Name)
	case status == model.StatusDisabled:
		return fmt.Errorf("%s was disabled while it was being authorized; nothing was stored", a.Name)
	case a.LinkID == nil:
		return nil
	}
	// The link is consumed here, with the tokens it let in: a person who
	// abandoned the consent page can try again until it expires.
	tag, err := tx.Exec(ctx, connectLinkConsumeSQL, pgx.NamedArgs{"id": *a.LinkID})
	if err != nil {
		return fmt.Errorf("consume the reconnect link: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrLinkUnusable
	}
	return nil
}

// PruneConsole deletes expired console sessions, pending authorizations
// and reconnect links, and returns how many rows it deleted.
func (s *Store) PruneConsole(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Raw(pruneConsoleSQL).Row().Scan(&n); err != nil {
		return 0, fmt.Errorf("prune console state: %w", err)
	}
	return n, nil
}
