package notify

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// ErrNotPgx is returned for a pool whose driver is not pgx's
// (github.com/jackc/pgx/v5/stdlib): only pgx gives database/sql a way to
// wait for notifications.
var ErrNotPgx = errors.New("LISTEN needs a database/sql pool on the pgx driver (github.com/jackc/pgx/v5/stdlib)")

// CheckDB reports whether Hub.RunDB can listen on db's connections.
func CheckDB(db *sql.DB) error {
	if _, ok := db.Driver().(*stdlib.Driver); !ok {
		return ErrNotPgx
	}
	return nil
}

// dialDB lends use one of db's connections, then closes it (see
// Hub.RunDB).
func dialDB(db *sql.DB) dialer {
	return func(ctx context.Context, use func(*pgx.Conn) error) error {
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Raw(func(dc any) error {
			c, ok := dc.(*stdlib.Conn)
			if !ok {
				return ErrNotPgx
			}
			return discard{use(c.Conn())}
		})
	}
}

// discard is an error that has database/sql close the connection it came
// from (it Is driver.ErrBadConn) while it reads as the error it wraps.
type discard struct{ err error }

func (d discard) Error() string {
	if d.err == nil {
		return "listen connection released"
	}
	return d.err.Error()
}

func (d discard) Unwrap() error { return d.err }

func (d discard) Is(target error) bool { return target == driver.ErrBadConn }
