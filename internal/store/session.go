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
	sessionOIDCSQL    = query("session_create_oidc")
	sessionGetSQL     = query("session_get")
	sessionDeleteSQL  = query("session_delete")
	adminKeyExistsSQL = query("admin_key_exists")
)

// ErrNoSession is returned for a session token that names no live session.
var ErrNoSession = errors.New("no such session")

// Session is a signed-in console operator, as console_sessions holds it:
// never the cookie's token, only its hash. Either KeyID or Subject is set.
type Session struct {
	// KeyID and Label name the admin key that signed in.
	KeyID, Label string
	// Subject and Email name the person signed in through OpenID Connect:
	// the ID token's sub and email.
	Subject, Email string
	// CSRF is the token every state-changing request must carry.
	CSRF    string
	Expires time.Time
}

// CreateSession starts a session of ttl for the admin key keyID, storing
// tokenHash (the SHA-256 of the cookie's token) and csrf. It is
// ErrNoSession when keyID is not a live admin key.
func (s *Store) CreateSession(ctx context.Context, tokenHash []byte, keyID, csrf string, ttl time.Duration) (*Session, error) {
	return scanOne(ctx, s, sessionCreateSQL, map[string]any{
		"token_hash": tokenHash, "key_id": keyID, "csrf": csrf, "ttl_us": ttl.Microseconds(),
	}, scanSession, "start session", ErrNoSession)
}

// CreateOIDCSession starts a session of ttl for the person the OpenID
// Connect provider vouched for (the ID token's subject and email),
// storing tokenHash (the SHA-256 of the cookie's token) and csrf.
func (s *Store) CreateOIDCSession(ctx context.Context, tokenHash []byte, subject, email, csrf string, ttl time.Duration) (*Session, error) {
	if subject == "" || email == "" {
		return nil, errors.New("start session: an OpenID Connect session needs a subject and an email")
	}
	rows, err := scanAll(ctx, s, sessionOIDCSQL, map[string]any{
		"token_hash": tokenHash, "subject": subject, "email": email, "csrf": csrf, "ttl_us": ttl.Microseconds(),
	}, 1, scanSession)
	if err != nil {
		return nil, fmt.Errorf("start session: %w", err)
	}
	return &rows[0], nil
}

// Session returns the live session whose token hashes to tokenHash, or
// ErrNoSession: unknown, expired, signed out, or its key revoked or no
// longer admin. A session signed in through OpenID Connect ends only by
// expiry or sign-out.
func (s *Store) Session(ctx context.Context, tokenHash []byte) (*Session, error) {
	return scanOne(ctx, s, sessionGetSQL, map[string]any{"token_hash": tokenHash}, scanSession, "read session", ErrNoSession)
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

// scanSession reads a row of session_create.sql, session_create_oidc.sql
// or session_get.sql: the key's columns are NULL in an OpenID Connect
// session, the subject's in an admin key's.
func scanSession(r *sql.Rows) (Session, error) {
	var v Session
	var keyID, label, subject, email *string
	err := r.Scan(&keyID, &label, &v.CSRF, &v.Expires, &subject, &email)
	v.KeyID, v.Label, v.Subject, v.Email = Str(keyID), Str(label), Str(subject), Str(email)
	return v, err
}
