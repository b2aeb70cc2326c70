package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// The statements of `worker rekey` beyond store.go's list.
var (
	rekeySkipSQL              = query("rekey_skip")
	rekeyCountSQL             = query("rekey_count")
	rekeyAuthorizationsSQL    = query("rekey_authorizations")
	rekeyAuthorizationSQL     = query("rekey_authorization")
	rekeyAuthorizationSkipSQL = query("rekey_authorization_skip")
	rekeyPageSQL              = query("rekey_page")
	rekeyStageSQL             = query("rekey_stage")
	rekeyWriteSQL             = query("rekey_write")
)

// Unreadable is a row `worker rekey` could not open: a connection, or a
// pending authorization of the console (Authorization set).
type Unreadable struct {
	Name string
	Err  error
	// Authorization says the row is a pending authorization for the
	// connection Name, not the connection itself.
	Authorization bool
}

// what names u in a message.
func (u Unreadable) what() string {
	if u.Authorization {
		return "the pending authorization of " + u.Name
	}
	return u.Name
}

// RekeyResult is what Rekey did.
type RekeyResult struct {
	// Resealed counts the connections rewritten.
	Resealed int
	// Visited counts the connections read.
	Visited int
	// Authorizations counts the pending authorizations rewritten.
	Authorizations int
	// Unreadable lists the connections whose secrets did not open, in id
	// order, then the pending authorizations.
	Unreadable []Unreadable
}

// UnreadableError is Rekey's error when rows did not open and were not to
// be skipped.
type UnreadableError struct{ Rows []Unreadable }

func (e *UnreadableError) Error() string {
	parts := make([]string, len(e.Rows))
	for i, u := range e.Rows {
		parts[i] = fmt.Sprintf("%s (%v)", u.what(), u.Err)
	}
	return fmt.Sprintf("cannot decrypt %d row(s): %s; put them right (worker import), or run rekey --skip-unreadable to take them out of rotation and retire their key",
		len(e.Rows), strings.Join(parts, "; "))
}

// Rekey seals every secret in the table under the keyring's primary key in
// the format Seal writes for it (bound to the row's identity, but for the
// access token), plaintext included, a page of rows at a time: read
// without locks, re-sealed in Go and written back in one statement only
// where each row is still as read; a row changed meanwhile is done again,
// locked (rekeyPage). Every value is opened, so every row that
// cannot be is found: without skip, the rows that can are rewritten and an
// *UnreadableError names the others; with skip, those are marked
// needs_reauth and the keys only they name are forgotten, so that a lost
// key can be taken out of TOKENS_ENCRYPTION_KEYS.
//
// The console's pending authorizations that can still complete are
// re-sealed too (rekeyAuthorizations), and the keys they name count as in
// use, so that a flow begun before a key's retirement still completes.
//
// progress, when set, is given the number of rows to visit, then the rows
// visited after each page.
func (s *Store) Rekey(ctx context.Context, skip bool, progress func(done, total int)) (RekeyResult, error) {
	var res RekeyResult
	if !s.keys.Enabled() {
		return res, fmt.Errorf("rekey needs TOKENS_ENCRYPTION_KEYS")
	}
	if err := s.recordKey(ctx); err != nil {
		return res, err
	}
	total := 0
	if progress != nil {
		if err := s.db.WithContext(ctx).Raw(rekeyCountSQL).Scan(&total).Error; err != nil {
			return res, fmt.Errorf("rekey: %w", err)
		}
		progress(0, total)
	}
	visited := func() {
		if progress != nil {
			progress(res.Visited, total)
		}
	}
	if err := s.withPgx(ctx, func(conn *pgx.Conn) error { return s.rekeyRows(ctx, conn, skip, &res, visited) }); err != nil {
		return res, err
	}
	if err := s.rekeyAuthorizations(ctx, skip, &res); err != nil {
		return res, err
	}
	if len(res.Unreadable) > 0 && !skip {
		return res, &UnreadableError{Rows: res.Unreadable}
	}
	skipped := []string{}
	for _, u := range res.Unreadable {
		if !u.Authorization { // skipped authorizations are deleted
			skipped = append(skipped, u.Name)
		}
	}
	return res, s.trimKeys(ctx, skipped)
}

// pendingAuthorization is the sealed part of a row of
// oauth_authorizations, as rekey reads it.
type pendingAuthorization struct {
	ID           uuid.UUID
	Name         string
	Verifier     string
	ClientSecret *string
}

// rekeyAuthorizations seals the verifier and client secret of every
// pending authorization that can still complete under the primary key, in
// one transaction (there are at most a few thousand), and adds to res.
// One that does not open is listed as unreadable; with skip it is deleted,
// since it could never complete.
func (s *Store) rekeyAuthorizations(ctx context.Context, skip bool, res *RekeyResult) error {
	n := 0
	var unreadable []Unreadable
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []pendingAuthorization
		if err := tx.Raw(rekeyAuthorizationsSQL).Scan(&rows).Error; err != nil {
			return err
		}
		for i := range rows {
			a := &rows[i]
			changed, err := s.resealAuthorization(a)
			switch {
			case err != nil:
				unreadable = append(unreadable, Unreadable{Name: a.Name, Err: err, Authorization: true})
				if skip {
					if err := tx.Exec(rekeyAuthorizationSkipSQL, map[string]any{"id": a.ID}).Error; err != nil {
						return err
					}
				}
			case changed:
				args := map[string]any{"id": a.ID, "verifier": a.Verifier, "client_secret": a.ClientSecret}
				if err := tx.Exec(rekeyAuthorizationSQL, args).Error; err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rekey the pending authorizations: %w", err)
	}
	res.Authorizations += n
	res.Unreadable = append(res.Unreadable, unreadable...)
	return nil
}

// resealAuthorization opens a's sealed values and seals again each one
// not current under the primary key, bound as CreateAuthorization binds
// them; it reports whether any changed.
func (s *Store) resealAuthorization(a *pendingAuthorization) (bool, error) {
	changed := false
	for _, c := range [...]struct {
		col string
		p   *string
	}{{"verifier", &a.Verifier}, {"client_secret", a.ClientSecret}} {
		if c.p == nil || *c.p == "" {
			continue
		}
		v, err := s.resealValue(*c.p, authorizationBinding(a.ID, c.col))
		if err != nil {
			return false, fmt.Errorf("%s: %w", c.col, err)
		}
		changed = changed || v != *c.p
		*c.p = v
	}
	return changed, nil
}

// resealValue opens stored under b and returns it sealed again under the
// primary key in the format Seal writes for b, or stored itself when it
// already is.
func (s *Store) resealValue(stored string, b keyring.Binding) (string, error) {
	plain, err := s.keys.Open(stored, b)
	if err != nil || s.keys.Current(stored, b) {
		return stored, err
	}
	return s.keys.Seal(plain, b)
}

// trimKeys forgets the keys no row names any more, rows skipped by name
// aside, so that they may be removed from TOKENS_ENCRYPTION_KEYS.
func (s *Store) trimKeys(ctx context.Context, skipped []string) error {
	var inUse []string
	err := s.db.WithContext(ctx).Raw(keysInRowsSQL, map[string]any{"skipped": pgTextArray(skipped)}).Scan(&inUse).Error
	if err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	sort.Strings(inUse)
	keep := pgTextArray(append(inUse, s.keys.Primary()))
	if err := s.db.WithContext(ctx).Exec(trimKeysSQL, map[string]any{"keep": keep}).Error; err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	return nil
}

type rekeyRow struct {
	model.OAuthToken `gorm:"embedded"`
}

// rekeyPageSize is how many rows a rekey page reads, re-seals and writes
// back in one statement.
const rekeyPageSize = 5000

// rekeyRows re-seals every row of the table a page at a time, in id
// order, adding to res and calling visited after each page.
func (s *Store) rekeyRows(ctx context.Context, conn *pgx.Conn, skip bool, res *RekeyResult, visited func()) error {
	after := uuid.Nil
	for {
		page, err := readRekeyPage(ctx, conn, after)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		after = page[len(page)-1].ID
		if err := s.rekeyPage(ctx, conn, page, skip, res); err != nil {
			return err
		}
		res.Visited += len(page)
		visited()
	}
}

// readRekeyPage reads the page of rows after the id after, without locks.
func readRekeyPage(ctx context.Context, conn *pgx.Conn, after uuid.UUID) ([]rekeyRow, error) {
	rows, err := conn.Query(ctx, rekeyPageSQL, pgx.NamedArgs{"after": after, "limit": rekeyPageSize})
	if err != nil {
		return nil, fmt.Errorf("rekey: %w", err)
	}
	page, err := pgx.CollectRows(rows, scanRekeyRow)
	if err != nil {
		return nil, fmt.Errorf("rekey: %w", err)
	}
	return page, nil
}

func scanRekeyRow(r pgx.CollectableRow) (rekeyRow, error) {
	var (
		x          rekeyRow
		at, rt, cs *string
	)
	err := r.Scan(&x.ID, &x.Name, &x.Provider, &x.TokenURL, &x.ClientID, &x.Params, &x.Grant, &at, &rt, &cs)
	x.AccessToken, x.RefreshToken, x.ClientSecret = (*model.Secret)(at), (*model.Secret)(rt), (*model.Secret)(cs)
	return x, err
}

// rekeyStageColumns are the columns of rekey_stage.sql, in the order
// rekeyPage stages them.
var rekeyStageColumns = []string{"id", "old_provider", "old_token_url", "old_client_id", "old_params", "old_grant",
	"old_access_token", "old_refresh_token", "old_client_secret", "access_token", "refresh_token", "client_secret"}

// rekeyPage re-seals a page of rows read without locks and writes back the
// changed ones in one set-based statement, fenced on the values and
// identity read (rekey_write.sql). A row the statement did not take (it
// changed since it was read) and a row that did not open are done again,
// locked (rekeyLocked), which also decides whether it is unreadable.
func (s *Store) rekeyPage(ctx context.Context, conn *pgx.Conn, page []rekeyRow, skip bool, res *RekeyResult) error {
	var (
		staged [][]any
		again  []uuid.UUID
	)
	for i := range page {
		r := &page[i]
		stage := []any{r.ID, r.Provider, r.TokenURL, r.ClientID, jsonArg(r.Params), r.Grant,
			(*string)(r.AccessToken), (*string)(r.RefreshToken), (*string)(r.ClientSecret)}
		changed, err := s.reseal(r)
		switch {
		case err != nil:
			again = append(again, r.ID)
		case changed:
			staged = append(staged, append(stage, (*string)(r.AccessToken), (*string)(r.RefreshToken), (*string)(r.ClientSecret)))
		}
	}
	if len(staged) > 0 {
		written, err := writeRekeyPage(ctx, conn, staged)
		if err != nil {
			return fmt.Errorf("rekey: %w", err)
		}
		res.Resealed += len(written)
		for _, row := range staged {
			if id := row[0].(uuid.UUID); !written[id] {
				again = append(again, id)
			}
		}
	}
	if len(again) == 0 {
		return nil
	}
	slices.SortFunc(again, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return s.rekeyLocked(ctx, again, skip, res)
}

// jsonArg is a jsonb argument, for COPY or a statement: NULL for none.
func jsonArg(v json.RawMessage) any {
	if v == nil {
		return nil
	}
	return string(v)
}

// writeRekeyPage COPYs the staged rows into a temporary table and writes
// them in one statement, in one transaction; it returns the ids written.
func writeRekeyPage(ctx context.Context, conn *pgx.Conn, staged [][]any) (map[uuid.UUID]bool, error) {
	written := make(map[uuid.UUID]bool, len(staged))
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, rekeyStageSQL); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"tokenwarden_rekey"}, rekeyStageColumns, pgx.CopyFromRows(staged)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, rekeyWriteSQL)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		for _, id := range ids {
			written[id] = true
		}
		return err
	})
	return written, err
}

// rekeyLocked reads the rows ids again, locked, so that a worker storing a
// refresh for one of them waits for the re-encryption (or the other way
// round), re-seals them one at a time and adds to res. A row that does not
// open is listed, and with skip taken out of rotation.
func (s *Store) rekeyLocked(ctx context.Context, ids []uuid.UUID, skip bool, res *RekeyResult) error {
	n := 0
	var unreadable []Unreadable
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []rekeyRow
		if err := tx.Raw(rekeyBatchSQL, map[string]any{"ids": pgUUIDArray(ids)}).Scan(&rows).Error; err != nil {
			return err
		}
		for i := range rows {
			r := &rows[i]
			changed, err := s.reseal(r)
			if err != nil {
				unreadable = append(unreadable, Unreadable{Name: r.Name, Err: err})
				if skip {
					msg := fmt.Sprintf("worker rekey --skip-unreadable: cannot decrypt %v", err)
					if err := tx.Exec(rekeySkipSQL, map[string]any{"id": r.ID, "last_error": msg}).Error; err != nil {
						return err
					}
				}
				continue
			}
			if !changed {
				continue
			}
			if err := tx.Exec(rekeyRowSQL, map[string]any{"id": r.ID, "access_token": (*string)(r.AccessToken),
				"refresh_token": (*string)(r.RefreshToken), "client_secret": (*string)(r.ClientSecret)}).Error; err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	res.Resealed += n
	res.Unreadable = append(res.Unreadable, unreadable...)
	return nil
}

// reseal opens each secret of r and seals again each one that is not in
// the current format under the primary key; it reports whether any value
// changed, and fails on the first value that does not open.
func (s *Store) reseal(r *rekeyRow) (bool, error) {
	ident := IdentityOf(&r.OAuthToken)
	changed := false
	for _, c := range [...]struct {
		col string
		p   **model.Secret
	}{{"access_token", &r.AccessToken}, {"refresh_token", &r.RefreshToken}, {"client_secret", &r.ClientSecret}} {
		if *c.p == nil || **c.p == "" {
			continue
		}
		stored := string(**c.p)
		sealed, err := s.resealValue(stored, binding(r.ID, ident, c.col))
		if err != nil {
			return false, fmt.Errorf("%s: %w", c.col, err)
		}
		if sealed == stored {
			continue
		}
		v := model.Secret(sealed)
		*c.p = &v
		changed = true
	}
	return changed, nil
}
