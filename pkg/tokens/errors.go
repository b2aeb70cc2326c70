package tokens

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound means there is no connection with that name.
	ErrNotFound = errors.New("tokens: no such connection")
	// ErrNeedsReauth means the provider refused the connection's refresh
	// token (or it has none left): a person must authorize it again. The
	// error returned wraps it in a *ReauthError carrying the last error.
	ErrNeedsReauth = errors.New("tokens: connection needs re-authorization")
	// ErrDisabled means an operator disabled the connection.
	ErrDisabled = errors.New("tokens: connection is disabled")
)

// ReauthError is returned by Get for a connection in status needs_reauth.
type ReauthError struct {
	Name string
	// LastError is the provider's answer to the last refresh, as stored
	// by the worker. It never holds a token.
	LastError string
}

func (e *ReauthError) Error() string {
	if e.LastError == "" {
		return fmt.Sprintf("tokens: %s needs re-authorization", e.Name)
	}
	return fmt.Sprintf("tokens: %s needs re-authorization: %s", e.Name, e.LastError)
}

// Is makes errors.Is(err, ErrNeedsReauth) true.
func (e *ReauthError) Is(target error) bool { return target == ErrNeedsReauth }
