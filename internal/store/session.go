package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

var (
	sessionCreateSQL  = query("session_create")
	sessionGetSQL     = query("session_get")
	sessionDeleteSQL  = query("session_delete")
	adminKeyExistsSQL = query("admin_key_exists")
)

// ErrNoSession is returned for a session token that names no live session.
var ErrNoSession = errors.New("no such session")

// Session is a signed-in console operator, as console_sessions holds it:
// never the cookie's token, only its hash.
type Session struct {
	// KeyID and Label name the admin key that signed in.
	KeyID, Label string
	// CSRF is the token every state-changing request must carry.
	CSRF    string
	Expires time.Time
}

// CreateSession starts a session of ttl for the admin key keyID, storing
// tokenHash (the SHA-256 of the cookie's token) and csrf. It is
// ErrNoSession when keyID is not a live admin key.
func (s *Store) CreateSession(ctx context.Context, tokenHash []byte, keyID, csrf string, ttl time.Duration) (*Session, error) {
	rows, err := scanAll(ctx, s, sessionCreateSQL, map[string]any{
		"token_hash": tokenHash, "key_id": keyID, "csrf": csrf, "ttl_us": ttl.Microseconds(),
	}, 1, scanSession)
	if err != nil {
		return nil, fmt.Errorf("start session: %w", err)
	}
	if len(rows) == 0 {
		return nil, ErrNoSession
	}
	return &rows[0], nil
}

// Session returns the live session whose token hashes to tokenHash, or
// ErrNoSession: unknown, expired, signed out, or its key revoked or no
// longer admin.
func (s *Store) Session(ctx context.Context, tokenHash []byte) (*Session, error) {
	rows, err := scanAll(ctx, s, sessionGetSQL, map[string]any{"token_hash": tokenHash}, 1, scanSession)
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	if len(rows) == 0 {
		return nil, ErrNoSession
	}
	return &rows[0], nil
}

// DeleteSession ends the session whose token hashes to tokenHash; ending
// an unknown one is not an error.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if err := s.db.WithContext(ctx).Exec(sessionDeleteSQL, map[string]any{"token_hash": tokenHash}).Error; err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// HasAdminKey reports whether a live admin key exists.
func (s *Store) HasAdminKey(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.db.WithContext(ctx).Raw(adminKeyExistsSQL).Row().Scan(&ok); err != nil {
		return false, fmt.Errorf("look for an admin key: %w", err)
	}
	return ok, nil
}

// scanSession reads a row of session_create.sql or session_get.sql.
func scanSession(r *sql.Rows) (Session, error) {
	var v Session
	return v, r.Scan(&v.KeyID, &v.Label, &v.CSRF, &v.Expires)
}
