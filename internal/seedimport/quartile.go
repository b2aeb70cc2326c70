package seedimport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tokenwarden/tokenwarden/internal/connfile"
)

// quartile reads the quartile_tokens table of seed 003. The seed keys a
// row by its UUID and nothing else, so the connection's name is the
// prefix (--name, "quartile-" by default) followed by that id. The
// expiry is the seed's access_token_expires, which its worker writes and
// compares in UTC.
func (o *Options) quartile(ctx context.Context) ([]connfile.Record, error) {
	prefix := o.Name
	if prefix == "" {
		prefix = "quartile-"
	}
	var recs []connfile.Record
	err := query(ctx, o.DSN, `SELECT id::text, coalesce(access_token, ''), coalesce(refresh_token, ''), access_token_expires
		FROM quartile_tokens ORDER BY created_at, id`, func(rows pgx.Rows) error {
		var id, at, rt string
		var exp pgtype.Timestamp
		if err := rows.Scan(&id, &at, &rt, &exp); err != nil {
			return err
		}
		rec := connfile.Record{Name: prefix + id, Provider: ptr("quartile"), AccessToken: ptr(at), RefreshToken: ptr(rt)}
		if exp.Valid && at != "" {
			s := exp.Time.UTC().Format(time.RFC3339)
			rec.ExpiresAt = &s
		}
		recs = append(recs, rec)
		return nil
	})
	return recs, err
}

// query runs sql on the seed's database dsn and calls each for every row.
func query(ctx context.Context, dsn, sql string, each func(pgx.Rows) error) error {
	if dsn == "" {
		return errors.New("--dsn (the seed's database) is required")
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to the seed's database: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	rows, err := c.Query(ctx, sql)
	if err != nil {
		return fmt.Errorf("read the seed's table: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return fmt.Errorf("read the seed's table: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the seed's table: %w", err)
	}
	return nil
}
