package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// The statements of an import.
var (
	importLookupSQL = query("import_lookup")
	importStageSQL  = query("import_stage")
	importUpsertSQL = query("import_upsert")
)

// importLock is the advisory lock every import transaction takes once,
// so that two imports of the same new name agree on its id: the second
// waits, then finds the row the first created. One lock per import,
// whatever its size, where a lock per row filled PostgreSQL's shared lock
// table past about 12,000 rows.
const importLock = "tokenwarden import"

// importChunk is how many rows an import looks up, seals and COPYs at a
// time: enough to keep round trips rare, few enough that memory stays
// bounded whatever the file holds.
const importChunk = 5000

// ImportRow is one connection to upsert. A nil field keeps the stored value
// of an existing connection.
type ImportRow struct {
	Name     string
	Provider *string
	TokenURL *string
	// AuthorizeURL is a generic connection's authorization endpoint, used
	// only to reconnect it in a browser.
	AuthorizeURL *string
	ClientID     *string
	ClientSecret *string
	Scopes       *string
	AuthStyle    *string
	// Grant, when set, is the connection's grant (model.Grant*).
	Grant               *string
	AccessToken         *string
	RefreshToken        *string
	AccessTokenExpires  *time.Time
	RefreshTokenExpires *time.Time
	// Params is a JSON object of provider parameters.
	Params *string
	// Status, when set, is the connection's status after the import;
	// else new tokens make it active and otherwise it is kept.
	Status *string
}

func (r *ImportRow) hasTokens() bool { return r.AccessToken != nil || r.RefreshToken != nil }

// ImportOptions shape ImportStream.
type ImportOptions struct {
	// Batch, when positive, commits every Batch rows, for inputs too large
	// for one transaction. A failure then leaves the batches before it
	// written; running the same import again is safe, since rows are
	// upserted by name.
	Batch int
	// Check, when set, is called with each chunk of rows and the stored
	// connections among their names (without secrets), before the chunk is
	// written; first is the number of rows[0] in the input, from 1. Its
	// error stops the import.
	Check func(first int, rows []ImportRow, stored map[string]*model.OAuthToken) error
	// Progress, when set, is told how many rows have been written so far
	// (committed or staged in the open transaction).
	Progress func(done int)
	// before, when set, runs in each transaction once the import lock is
	// held, before any row is looked up; its error rolls the transaction
	// back. StoreAuthorization checks and consumes what an authorization
	// depends on with it, in the transaction that stores its tokens.
	before func(ctx context.Context, tx pgx.Tx) error
}

// Import upserts rows by name in one transaction: either every row lands
// or none does. See ImportStream.
func (s *Store) Import(ctx context.Context, rows []ImportRow) error {
	i := 0
	_, err := s.ImportStream(ctx, func() (ImportRow, error) {
		if i == len(rows) {
			return ImportRow{}, io.EOF
		}
		i++
		return rows[i-1], nil
	}, ImportOptions{})
	return err
}

// ImportStream upserts the rows next returns, until it returns io.EOF,
// and returns how many it committed. Without opts.Batch, it writes them in one
// transaction: either every row lands or none does. Rows are looked up,
// sealed and COPYed into a temporary table a chunk at a time, so memory
// stays bounded, and then upserted by one statement.
//
// A row whose identity (provider, token_url, client_id, params) changes
// has the secrets it keeps sealed again for the new one: import is how a
// connection is legitimately pointed elsewhere, where the same change made
// with SQL leaves secrets that no longer open.
func (s *Store) ImportStream(ctx context.Context, next func() (ImportRow, error), opts ImportOptions) (int, error) {
	if err := s.recordKey(ctx); err != nil {
		return 0, err
	}
	imp := &importer{s: s, next: next, opts: opts}
	err := s.withPgx(ctx, func(conn *pgx.Conn) error { return imp.run(ctx, conn) })
	return imp.committed, err
}

// importer is one run of ImportStream.
type importer struct {
	s         *Store
	next      func() (ImportRow, error)
	opts      ImportOptions
	done      int  // rows written, committed or staged
	committed int  // rows committed
	eof       bool // next has returned io.EOF
}

func (m *importer) run(ctx context.Context, conn *pgx.Conn) error {
	for !m.eof {
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return m.batch(ctx, tx) }); err != nil {
			return err
		}
		m.committed = m.done
	}
	return nil
}

// batch writes one transaction's rows: all of them, or opts.Batch.
func (m *importer) batch(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", importLock); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if m.opts.before != nil {
		if err := m.opts.before(ctx, tx); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, importStageSQL); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	staged := 0
	chunk := make([]ImportRow, 0, importChunk)
	for !m.eof && (m.opts.Batch <= 0 || staged < m.opts.Batch) {
		chunk = chunk[:0]
		for len(chunk) < cap(chunk) && (m.opts.Batch <= 0 || staged+len(chunk) < m.opts.Batch) {
			row, err := m.next()
			if errors.Is(err, io.EOF) {
				m.eof = true
				break
			}
			if err != nil {
				return err
			}
			chunk = append(chunk, row)
		}
		if len(chunk) == 0 {
			break
		}
		if err := m.stage(ctx, tx, chunk); err != nil {
			return err
		}
		staged += len(chunk)
		m.done += len(chunk)
		if m.opts.Progress != nil {
			m.opts.Progress(m.done)
		}
	}
	if staged == 0 {
		return nil
	}
	var n int
	if err := tx.QueryRow(ctx, importUpsertSQL).Scan(&n); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if n != staged {
		return fmt.Errorf("import: %d of %d connection(s) were created, deleted or recreated outside `worker import` while it ran; nothing was written, run it again", staged-n, staged)
	}
	return nil
}

// stage looks the chunk's rows up, checks them, seals their secrets and
// COPYs them into the staging table.
func (m *importer) stage(ctx context.Context, tx pgx.Tx, chunk []ImportRow) error {
	stored, err := lookup(ctx, tx, chunk)
	if err != nil {
		return err
	}
	if m.opts.Check != nil {
		models := make(map[string]*model.OAuthToken, len(stored))
		for name, r := range stored {
			models[name] = &r.OAuthToken
		}
		if err := m.opts.Check(m.done+1, chunk, models); err != nil {
			return err
		}
	}
	out := make([][]any, len(chunk))
	for i := range chunk {
		if out[i], err = m.s.importValues(&chunk[i], stored[chunk[i].Name]); err != nil {
			return fmt.Errorf("import %s: %w", chunk[i].Name, err)
		}
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"tokenwarden_import"}, stageColumns, pgx.CopyFromRows(out))
	if err != nil {
		return fmt.Errorf("import %s: %w", copyRecord(err, chunk), err)
	}
	return nil
}

// copyLine finds the line of a COPY that PostgreSQL refused in its error
// context ("COPY tokenwarden_import, line 2, column …").
var copyLine = regexp.MustCompile(`^COPY tokenwarden_import, line ([0-9]+)`)

// copyRecord names the row of chunk that err, a COPY's error, is about, so
// that a value PostgreSQL refuses (NUL in text) names its record.
func copyRecord(err error, chunk []ImportRow) string {
	pe, ok := errors.AsType[*pgconn.PgError](err)
	if !ok {
		return "rows"
	}
	m := copyLine.FindStringSubmatch(pe.Where)
	if m == nil {
		return "rows"
	}
	n, _ := strconv.Atoi(m[1])
	if n < 1 || n > len(chunk) {
		return "rows"
	}
	return chunk[n-1].Name
}

// stageColumns are the columns of import_stage.sql in importValues' order.
var stageColumns = []string{"id", "name", "is_new", "provider", "token_url", "client_id", "client_secret",
	"scopes", "auth_style", "access_token", "access_token_sha256", "refresh_token",
	"access_token_expires", "refresh_token_expires", "params", "has_tokens", "fence", "status", "grant", "authorize_url"}

// importValues is the staging row of r, whose stored row is cur (nil for a
// new connection), with its secrets sealed.
func (s *Store) importValues(r *ImportRow, cur *importedRow) ([]any, error) {
	// Secrets are sealed bound to the row's id, so the id must be known
	// before the upsert: the existing row's, or a new one. The import lock
	// keeps another import from giving the same new name another id.
	var id uuid.UUID
	var was *Identity
	var err error
	if cur != nil {
		id, was = cur.ID, IdentityOf(&cur.OAuthToken)
	} else if id, err = uuid.NewV7(); err != nil {
		return nil, err
	}
	ident := r.identity(was)
	moved := was != nil && *was != *ident
	if moved && cur.InFlight && !r.hasTokens() {
		return nil, errors.New("a refresh of it is in flight, and its result would be sealed for the old provider, token_url, client_id or params; run the import again in a moment")
	}
	var sealed [3]*string
	for j, f := range []struct {
		col string
		v   *string
	}{{"client_secret", r.ClientSecret}, {"access_token", r.AccessToken}, {"refresh_token", r.RefreshToken}} {
		switch {
		case f.v != nil:
			sealed[j], err = s.sealPtr(id, ident, f.col, f.v)
		case moved:
			sealed[j], err = s.resealKept(cur, was, ident, f.col)
		}
		if err != nil {
			return nil, err
		}
	}
	var sum []byte
	if r.AccessToken != nil && *r.AccessToken != "" {
		h := sha256.Sum256([]byte(*r.AccessToken))
		sum = h[:]
	}
	return []any{id, r.Name, cur == nil, r.Provider, r.TokenURL, r.ClientID, sealed[0],
		r.Scopes, r.AuthStyle, sealed[1], sum, sealed[2],
		r.AccessTokenExpires, r.RefreshTokenExpires, r.Params, r.hasTokens(), r.hasTokens() || moved, r.Status, r.Grant, r.AuthorizeURL}, nil
}

// lookup returns the stored rows among chunk's names, locked.
func lookup(ctx context.Context, tx pgx.Tx, chunk []ImportRow) (map[string]*importedRow, error) {
	names := make([]string, len(chunk))
	for i := range chunk {
		names[i] = chunk[i].Name
	}
	rows, err := tx.Query(ctx, importLookupSQL, pgx.NamedArgs{"names": names})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer rows.Close()
	stored := map[string]*importedRow{}
	for rows.Next() {
		var r importedRow
		var clientSecret, refreshToken *string
		var hasRT *bool
		if err := rows.Scan(&r.ID, &r.Name, &r.Provider, &r.TokenURL, &r.ClientID, &r.Params, &r.Grant, &clientSecret, &refreshToken,
			&hasRT, &r.Status, &r.InFlight); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		r.ClientSecret, r.RefreshToken = (*model.Secret)(clientSecret), (*model.Secret)(refreshToken)
		r.HasRefreshToken = hasRT != nil && *hasRT
		stored[r.Name] = &r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return stored, nil
}

// identity is the identity the row has after the import, as
// import_upsert.sql computes it: each field given replaces the stored one
// (was, nil for a new row).
func (r *ImportRow) identity(was *Identity) *Identity {
	id := Identity{Provider: "oauth2"}
	if was != nil {
		id = *was
	}
	if r.Provider != nil {
		id.Provider = *r.Provider
	}
	if r.TokenURL != nil {
		id.TokenURL = *r.TokenURL
	}
	if r.ClientID != nil {
		id.ClientID = *r.ClientID
	}
	if r.Params != nil {
		id.Params = canonicalJSON([]byte(*r.Params))
	}
	if r.Grant != nil {
		id.Grant = grantIdentity(*r.Grant)
	}
	return &id
}

// importedRow is what an import reads of an existing row (import_lookup.sql).
type importedRow struct {
	model.OAuthToken `gorm:"embedded"`
	InFlight         bool `gorm:"column:in_flight"`
}

// resealKept returns the stored secret of col sealed again for the row's
// new identity, or nil to keep the stored value as it is: there is none,
// it is plaintext (rekey seals it), it is not bound to the identity (the
// access token), or it already opens under the new identity (a row
// changed with SQL that this import puts back).
func (s *Store) resealKept(cur *importedRow, was, now *Identity, col string) (*string, error) {
	var stored *model.Secret
	switch col {
	case "client_secret":
		stored = cur.ClientSecret
	case "refresh_token":
		stored = cur.RefreshToken
	}
	if stored == nil || keyring.KeyID(string(*stored)) == "" {
		return nil, nil
	}
	plain, err := s.keys.Open(string(*stored), binding(cur.ID, was, col))
	if err != nil {
		if _, again := s.keys.Open(string(*stored), binding(cur.ID, now, col)); again == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot re-seal the stored %s for the new identity: %w; import it too", col, err)
	}
	return s.sealPtr(cur.ID, now, col, &plain)
}
