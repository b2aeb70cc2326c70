package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// scanAll runs q and returns its rows, each read by scan. want is how many
// rows the caller expects at most, and room for them is made at once: a
// burst's claims take hundreds of rows each, and growing the slice to
// them allocated nearly twice the rows (measured in the burst's allocation
// profile). A claim that finds fewer wastes one short-lived slice, at most
// ClaimBatch (1000) rows of about 330 bytes, once per pass.
//
// The worker's per-batch statements (claim, store) take their results this
// way rather than through gorm's Scan. Scan records
// every statement's SQL with its arguments spliced in (logger.Recorder and
// ExplainSQL) even when nothing logs it, which for a stored batch means
// rebuilding a copy of the whole payload, tokens included, through a
// regular expression; and its reflection costs more per row than the claim
// itself. Rows runs the statement without either.
func scanAll[T any](ctx context.Context, s *Store, q string, args map[string]any, want int, scan func(*sql.Rows) (T, error)) ([]T, error) {
	rows, err := s.db.WithContext(ctx).Raw(q, args).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]T, 0, want)
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanOne runs q, which returns at most one row, read by scan. A failing
// statement is an error saying what it did; no row is missing, as it is.
func scanOne[T any](ctx context.Context, s *Store, q string, args map[string]any, scan func(*sql.Rows) (T, error), what string, missing error) (*T, error) {
	rows, err := scanAll(ctx, s, q, args, 1, scan)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", what, err)
	case len(rows) == 0:
		return nil, missing
	}
	return &rows[0], nil
}

// scanClaimed reads one row of claim.sql or claim_one.sql, whose RETURNING
// lists these columns in this order.
func scanClaimed(rows *sql.Rows) (Claimed, error) {
	var (
		c                                    Claimed
		tokenURL, clientID, scopes, auth     sql.NullString
		clientSecret, refreshToken           sql.NullString
		accessExpires, refreshExpires, until sql.NullTime
		claimID                              uuid.NullUUID
		params                               []byte
	)
	t := &c.OAuthToken
	err := rows.Scan(&t.ID, &t.Name, &t.Provider, &tokenURL, &clientID, &clientSecret,
		&scopes, &auth, &refreshToken, &accessExpires,
		&refreshExpires, &t.Updating, &until, &claimID, &t.Status, &t.FailureCount,
		&t.Version, &params, &t.Grant, &c.TakenOver)
	if err != nil {
		return c, err
	}
	t.TokenURL, t.ClientID, t.Scopes, t.AuthStyle = nullStr(tokenURL), nullStr(clientID), nullStr(scopes), nullStr(auth)
	t.ClientSecret, t.RefreshToken = nullSecret(clientSecret), nullSecret(refreshToken)
	t.AccessTokenExpires, t.RefreshTokenExpires = nullTime(accessExpires), nullTime(refreshExpires)
	t.HasRefreshToken = refreshToken.Valid || t.Grant != model.GrantRefreshToken
	t.UpdatingUntil = nullTime(until)
	if claimID.Valid {
		t.ClaimID = &claimID.UUID
	}
	if params != nil {
		t.Params = params
	}
	return c, nil
}

func nullStr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

func nullSecret(s sql.NullString) *model.Secret {
	if !s.Valid {
		return nil
	}
	v := model.Secret(s.String)
	return &v
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}

func scanStored(rows *sql.Rows) (Stored, error) {
	var st Stored
	return st, rows.Scan(&st.ID, &st.Version)
}

func scanID(rows *sql.Rows) (uuid.UUID, error) {
	var id uuid.UUID
	return id, rows.Scan(&id)
}
