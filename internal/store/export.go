package store

import (
	"context"
	"database/sql"
	"fmt"

	"gorm.io/gorm"

	"github.com/tokenwarden/tokenwarden/pkg/model"
)

var (
	exportSQL      = query("export")
	exportCountSQL = query("export_count")
)

// exportPage is how many rows one page of Export reads: enough that the
// round trips cost little, few enough that memory stays small (a page of
// rows with secrets is a few MB).
const exportPage = 5000

// ExportFilter chooses the connections Export reads.
type ExportFilter struct {
	// Status keeps only the connections with that status; "" keeps all.
	Status string
	// Match keeps only the names it accepts; nil keeps all.
	Match func(name string) bool
	// Secrets opens and returns the secrets; without it they are not read.
	Secrets bool
	// Total, when set and Match is not, is told how many rows the export
	// will emit before the first.
	Total func(int)
}

// Export calls emit with each connection f chooses, in name order, and
// returns how many it emitted. The rows are read a page at a time in one
// read-only repeatable-read transaction, so memory stays bounded whatever
// the table's size and the export is a consistent snapshot. With
// f.Secrets, the secrets are opened with the keyring; emit must not keep
// the row it is given, which is reused.
func (s *Store) Export(ctx context.Context, f ExportFilter, emit func(*model.OAuthToken) error) (int, error) {
	if f.Secrets {
		// Keys first, as for a claim: a value that does not open under
		// checked keys is a row changed behind tokenwarden's back.
		if err := s.checkKeys(ctx); err != nil {
			return 0, err
		}
	}
	n := 0
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if f.Total != nil && f.Match == nil {
			var total int
			if err := tx.Raw(exportCountSQL, map[string]any{"status": f.Status}).Row().Scan(&total); err != nil {
				return err
			}
			f.Total(total)
		}
		after := ""
		for {
			last, more, err := s.exportPage(ctx, tx, f, after, func(t *model.OAuthToken) error {
				n++
				return emit(t)
			})
			if err != nil || !more {
				return err
			}
			after = last
		}
	}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	return n, nil
}

// exportPage reads the page after name after and emits its rows that f
// matches; last is the page's last name and more whether a page may follow.
func (s *Store) exportPage(ctx context.Context, tx *gorm.DB, f ExportFilter, after string, emit func(*model.OAuthToken) error) (last string, more bool, err error) {
	rows, err := tx.WithContext(ctx).Raw(exportSQL, map[string]any{
		"after": after, "status": f.Status, "secrets": f.Secrets, "limit": exportPage,
	}).Rows()
	if err != nil {
		return "", false, err
	}
	defer rows.Close()
	var t model.OAuthToken
	read := 0
	for rows.Next() {
		if err := scanExported(rows, &t); err != nil {
			return "", false, err
		}
		read++
		last = t.Name
		if f.Match != nil && !f.Match(t.Name) {
			continue
		}
		if f.Secrets {
			if err := s.unseal(&t); err != nil {
				return "", false, err
			}
		}
		if err := emit(&t); err != nil {
			return "", false, err
		}
	}
	return last, read == exportPage, rows.Err()
}

// scanExported reads one row of export.sql into t, every field set.
func scanExported(rows *sql.Rows, t *model.OAuthToken) error {
	var (
		tokenURL, authURL, clientID, scopes, auth sql.NullString
		clientSecret, accessToken, refreshToken   sql.NullString
		accessExpires, refreshExpires             sql.NullTime
		params                                    []byte
	)
	err := rows.Scan(&t.ID, &t.Name, &t.Provider, &tokenURL, &authURL, &clientID, &scopes, &auth, &params, &t.Grant,
		&accessExpires, &refreshExpires, &t.Status, &clientSecret, &accessToken, &refreshToken)
	if err != nil {
		return err
	}
	t.TokenURL, t.ClientID, t.Scopes, t.AuthStyle = nullStr(tokenURL), nullStr(clientID), nullStr(scopes), nullStr(auth)
	t.AuthorizeURL = nullStr(authURL)
	t.ClientSecret, t.AccessToken, t.RefreshToken = nullSecret(clientSecret), nullSecret(accessToken), nullSecret(refreshToken)
	t.AccessTokenExpires, t.RefreshTokenExpires = nullTime(accessExpires), nullTime(refreshExpires)
	t.Params = params
	return nil
}
