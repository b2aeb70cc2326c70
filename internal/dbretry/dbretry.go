// Package dbretry runs an idempotent statement again when the connection
// it ran on was lost. The worker's store and the consumer's reader both use
// it; it depends on pgx's errors only, so pkg/tokens may import it.
package dbretry

import (
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// Once runs f, an idempotent statement, and runs it again if its connection
// was lost: after a server restart every pooled connection fails once
// before the pool drops it.
func Once(f func() error) error {
	err := f()
	if ConnectionLost(err) {
		err = f()
	}
	return err
}

// ConnectionLost reports an error from a connection the server closed (a
// restart, an administrator's termination, a network cut): the pool drops
// such a connection, so the next attempt gets a new one.
func ConnectionLost(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "57P") || strings.HasPrefix(pgErr.Code, "08")
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}
