// Package reader runs the consumer's few statements: read a connection's
// access token, report a stale one, ask for a refresh, check readiness.
// They are all a consumer may do under sql/roles.sql's tokenwarden_consumer
// role. It runs them on a database/sql pool and knows nothing else of the
// worker: pkg/tokens stands on it alone.
package reader

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tokenwarden/tokenwarden/internal/dbretry"
	"github.com/tokenwarden/tokenwarden/internal/keyring"
)

//go:embed sql/*.sql
var files embed.FS

// query returns the text of sql/NAME.sql. The files are part of the binary,
// so a missing one is a build mistake, not a runtime condition.
func query(name string) string {
	b, err := files.ReadFile("sql/" + name + ".sql")
	if err != nil {
		panic("reader: missing embedded query " + name)
	}
	return string(b)
}

var (
	getSQL            = query("get")
	invalidateSQL     = query("invalidate")
	requestRefreshSQL = query("request_refresh")
	readySQL          = query("ready")
)

// ErrNotFound is returned for a name no connection has.
var ErrNotFound = errors.New("no such connection")

// Row is what a consumer reads of a connection.
type Row struct {
	ID string
	// AccessToken is opened; "" when the row has none.
	AccessToken string
	// Expires is when the access token expires; zero means never.
	Expires time.Time
	// UpdatingUntil is the end of a worker's claim on the row, zero when
	// none is held.
	UpdatingUntil   time.Time
	Status          string
	LastError       string
	Version         int64
	JSONData        []byte
	HasRefreshToken bool
}

// LeaseLive reports whether a worker's claim on the row is in force at now:
// the token is being replaced.
func (r *Row) LeaseLive(now time.Time) bool { return r.UpdatingUntil.After(now) }

// Reader runs the consumer's statements on db, opening sealed access tokens
// with keys (nil: the table holds plaintext).
type Reader struct {
	db   *sql.DB
	keys *keyring.Keyring
}

// New returns a Reader on db.
func New(db *sql.DB, keys *keyring.Keyring) *Reader { return &Reader{db: db, keys: keys} }

// Get reads the named connection, its access token opened.
func (r *Reader) Get(ctx context.Context, name string) (*Row, error) {
	var (
		row             Row
		stored, lastErr sql.NullString
		expires, until  sql.NullTime
		updating        bool
	)
	err := dbretry.Once(func() error {
		return r.db.QueryRowContext(ctx, getSQL, name).Scan(&row.ID, &stored, &expires, &updating, &until,
			&row.Status, &lastErr, &row.Version, &row.JSONData, &row.HasRefreshToken)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if row.AccessToken, err = r.keys.Open(stored.String, binding(row.ID)); err != nil {
		return nil, fmt.Errorf("read %s: access_token: %w", name, err)
	}
	row.LastError, row.Expires = lastErr.String, expires.Time
	if updating {
		row.UpdatingUntil = until.Time
	}
	return &row, nil
}

// binding is what a row's access token is sealed bound to: its row and
// column only, which a consumer can read (the worker's other secrets are
// bound to identity columns the consumer role may not read).
func binding(id string) keyring.Binding { return keyring.AAD(id, "access_token") }

// Invalidate makes the named connection due if it still holds the access
// token stale, and wakes the workers; it reports whether it did. Tokens are
// compared by SHA-256 in the database, so that sealed ones need not be
// read.
func (r *Reader) Invalidate(ctx context.Context, name, stale string) (marked bool, err error) {
	sum := sha256.Sum256([]byte(stale))
	var outcome string
	err = dbretry.Once(func() error {
		return r.db.QueryRowContext(ctx, invalidateSQL, name, sum[:]).Scan(&outcome)
	})
	switch {
	case err != nil:
		return false, fmt.Errorf("invalidate %s: %w", name, err)
	case outcome == "missing":
		return false, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return outcome == "marked", nil
}

// RequestRefresh wakes the workers for the named connection.
func (r *Reader) RequestRefresh(ctx context.Context, name string) error {
	err := dbretry.Once(func() error {
		_, err := r.db.ExecContext(ctx, requestRefreshSQL, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("request refresh of %s: %w", name, err)
	}
	return nil
}

// Ready reports whether the consumer's statements can run: the database
// answers, the schema is applied and the role has the consumer's grants.
// It reads no row.
func (r *Reader) Ready(ctx context.Context) error {
	var ok bool
	err := dbretry.Once(func() error { return r.db.QueryRowContext(ctx, readySQL).Scan(&ok) })
	var pgErr *pgconn.PgError
	errors.As(err, &pgErr)
	switch {
	case pgErr != nil && (pgErr.Code == "42P01" || pgErr.Code == "42883"): // undefined table or function
		return fmt.Errorf("not ready: the schema is not applied (worker migrate): %w", err)
	case pgErr != nil && pgErr.Code == "42501": // insufficient privilege
		return fmt.Errorf("not ready: this role lacks tokenwarden_consumer's grants (sql/roles.sql): %w", err)
	case err != nil:
		return fmt.Errorf("not ready: %w", err)
	case !ok:
		return errors.New("not ready: this role may not call tokenwarden's functions (sql/roles.sql)")
	}
	return nil
}
