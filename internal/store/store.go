package store

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tokenwarden/tokenwarden/internal/dbretry"
	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/pkg/model"
	twsql "github.com/tokenwarden/tokenwarden/sql"
)

//go:embed sql/*.sql
var files embed.FS

// query returns the text of sql/NAME.sql without its comment lines: gorm
// would otherwise bind an @name mentioned in a comment. The files are part
// of the binary, so a missing one is a build mistake, not a runtime
// condition.
func query(name string) string {
	b, err := files.ReadFile("sql/" + name + ".sql")
	if err != nil {
		panic("store: missing embedded query " + name)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

var (
	claimSQL        = query("claim")
	claimOneSQL     = query("claim_one")
	storeSuccessSQL = query("store_success")
	storeFailureSQL = query("store_failure")
	releaseSQL      = query("release")
	getSQL          = query("get")
	listSQL         = query("list")
	clearSQL        = query("clear")
	nextDueSQL      = query("next_due")
	eventsSQL       = query("events")
	rekeyBatchSQL   = query("rekey_batch")
	rekeyRowSQL     = query("rekey_row")
	sealedKeyIDsSQL = query("sealed_key_ids")
	recordKeySQL    = query("record_key")
	keysInRowsSQL   = query("keys_in_rows")
	trimKeysSQL     = query("trim_keys")
	pruneEventsSQL  = query("prune_events")
)

// ErrNotFound is returned for a connection name that is not in the table.
var ErrNotFound = errors.New("no such connection")

// Store runs tokenwarden's statements on a bounded pool of connections.
type Store struct {
	db   *gorm.DB
	keys *keyring.Keyring
	// keysChecked is set once keys has been checked against
	// oauth_token_keys (checkKeys).
	keysChecked *atomic.Bool
	// recorded is set once the primary key is in oauth_token_keys.
	recorded *atomic.Bool
}

// WithKeyring returns a Store on the same pool that seals secrets on write
// and opens them on read with k (nil: plaintext).
func (s *Store) WithKeyring(k *keyring.Keyring) *Store {
	c := *s
	c.keys = k
	c.keysChecked = new(atomic.Bool)
	c.recorded = new(atomic.Bool)
	return &c
}

// Open connects to PostgreSQL with at most maxConns connections and checks
// that the server answers.
func Open(ctx context.Context, dsn string, maxConns int) (*Store, error) {
	db, err := gorm.Open(postgres.New(postgres.Config{DSN: dsn}), &gorm.Config{
		// gorm's default logger prints slow queries with their arguments,
		// which carry tokens: never let it speak.
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return &Store{db: db}, nil
}

// DB returns the underlying gorm handle, for statements outside the
// worker's protocol (tests, administrative tools).
func (s *Store) DB() *gorm.DB { return s.db }

// withPgx runs f on a pgx connection of the pool, for COPY (import and
// rekey).
func (s *Store) withPgx(ctx context.Context, f func(*pgx.Conn) error) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("COPY needs a pgx connection, not %T", dc)
		}
		return f(pc.Conn())
	})
}

// Close closes the pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// ApplyRoles applies sql/roles.sql.
func (s *Store) ApplyRoles(ctx context.Context) error {
	if err := s.db.WithContext(ctx).Exec(twsql.Roles).Error; err != nil {
		return fmt.Errorf("apply roles: %w", err)
	}
	return nil
}

// Claimed is a row claimed for refresh.
type Claimed struct {
	model.OAuthToken `gorm:"embedded"`
	// TakenOver reports that the row was claimed over another worker's
	// expired lease.
	TakenOver bool `gorm:"column:taken_over"`
	// UnsealErr is set when the row's secrets could not be decrypted (a
	// key missing from TOKENS_ENCRYPTION_KEYS); the row must not be sent
	// to its provider.
	UnsealErr error `gorm:"-"`
}

// Claim claims up to limit rows whose access token expires within before,
// for lease.
func (s *Store) Claim(ctx context.Context, limit int, before, lease time.Duration) ([]Claimed, error) {
	// Keys first: a row that does not open with checked keys is taken
	// for a row changed behind the worker's back (ErrRowChanged).
	if err := s.checkKeys(ctx); err != nil {
		return nil, err
	}
	rows, err := scanAll(ctx, s, claimSQL, map[string]any{
		"limit":     limit,
		"before_us": before.Microseconds(),
		"lease_us":  lease.Microseconds(),
	}, limit, scanClaimed)
	if err != nil {
		return nil, fmt.Errorf("claim due rows: %w", err)
	}
	for i := range rows {
		rows[i].UnsealErr = s.unseal(&rows[i].OAuthToken)
	}
	return rows, nil
}

// ErrNotClaimable is returned by ClaimByName for a connection that cannot be
// refreshed now; the wrapping error says why.
var ErrNotClaimable = errors.New("connection cannot be refreshed now")

// ClaimByName claims one connection whatever its expiry.
func (s *Store) ClaimByName(ctx context.Context, name string, lease time.Duration) (*Claimed, error) {
	if err := s.checkKeys(ctx); err != nil {
		return nil, err
	}
	rows, err := scanAll(ctx, s, claimOneSQL, map[string]any{
		"name":     name,
		"lease_us": lease.Microseconds(),
	}, 1, scanClaimed)
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", name, err)
	}
	if len(rows) == 1 {
		rows[0].UnsealErr = s.unseal(&rows[0].OAuthToken)
		return &rows[0], nil
	}
	row, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %s", ErrNotClaimable, whyNotClaimable(row))
}

func whyNotClaimable(t *model.OAuthToken) string {
	switch {
	case t.Status != model.StatusActive:
		return fmt.Sprintf("%s is %s", t.Name, t.Status)
	case t.RefreshToken == nil || *t.RefreshToken == "":
		return fmt.Sprintf("%s has no refresh token", t.Name)
	default:
		return fmt.Sprintf("%s is being refreshed by another worker", t.Name)
	}
}

// Success is the outcome of a refresh the provider accepted.
type Success struct {
	ID                  uuid.UUID       `json:"id"`
	ClaimID             uuid.UUID       `json:"claim_id"`
	Name                string          `json:"name"`
	DurationMS          int64           `json:"duration_ms"`
	AccessToken         string          `json:"access_token"`
	AccessTokenSHA256   string          `json:"access_token_sha256,omitempty"` // hex; set by the store
	RefreshToken        string          `json:"refresh_token,omitempty"`
	AccessTokenExpires  *time.Time      `json:"access_token_expires"`
	RefreshTokenExpires *time.Time      `json:"refresh_token_expires,omitempty"`
	JSONData            json.RawMessage `json:"json_data,omitempty"`
	// RefreshNotBefore is the earliest the next scheduled refresh may
	// run (see claim.sql); nil for no constraint.
	RefreshNotBefore *time.Time `json:"refresh_not_before,omitempty"`
	// Warning is what was odd about an answer that was stored anyway; it
	// becomes last_error and the event's error.
	Warning string `json:"warning,omitempty"`
	// Identity is the row's when it was claimed: the refresh token is
	// sealed bound to it (see claimIdentities).
	Identity *Identity `json:"identity,omitempty"`
}

// Stored is a row written by StoreSuccesses.
type Stored struct {
	ID      uuid.UUID
	Version int64
}

// StoreSuccesses writes a batch of refreshed tokens in one statement and
// returns the rows it wrote. A row missing from the result was fenced off:
// its claim was taken over or cancelled since. before is
// TOKENS_REFRESH_BEFORE, the window the rows' next refresh will be claimed
// in: a row whose schedule (RefreshNotBefore) comes after its token enters
// that window is stored as held until its schedule (see store_success.sql).
func (s *Store) StoreSuccesses(ctx context.Context, batch []Success, before time.Duration) ([]Stored, error) {
	if err := s.recordKey(ctx); err != nil {
		return nil, err
	}
	sealed, err := s.sealSuccesses(ctx, batch)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(sealed)
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	out, err := scanAll(ctx, s, storeSuccessSQL, map[string]any{"batch": string(payload), "before_us": before.Microseconds()}, len(batch), scanStored)
	if err != nil {
		return nil, fmt.Errorf("store %d refreshed tokens: %w", len(batch), err)
	}
	return out, nil
}

// Failure is the outcome of a refresh that did not produce tokens.
type Failure struct {
	ID         uuid.UUID `json:"id"`
	ClaimID    uuid.UUID `json:"claim_id"`
	Name       string    `json:"name"`
	HTTPStatus int       `json:"http_status"`
	DurationMS int64     `json:"duration_ms"`
	// Reauth marks the connection needs_reauth: retrying cannot help.
	Reauth bool `json:"reauth"`
	// Config, with Reauth, says the refusal was of the connection's
	// configuration, not of its grant: the event's outcome is "config".
	Config bool `json:"config,omitempty"`
	// RefreshToken is a rotated refresh token salvaged from an unusable
	// answer (see provider.Error.RefreshToken); stored, sealed, with the
	// failure.
	RefreshToken string `json:"refresh_token,omitempty"`
	// Identity is the row's when it was claimed, which a salvaged refresh
	// token is sealed bound to.
	Identity *Identity `json:"identity,omitempty"`
	// Delay is how long to wait before the next attempt (nanoseconds in
	// the JSON the statement reads).
	Delay     time.Duration `json:"delay_ns"`
	LastError string        `json:"last_error"`
}

// StoreFailures releases a batch of failed claims in one statement and
// returns the ids it released; the others were fenced off.
func (s *Store) StoreFailures(ctx context.Context, batch []Failure) ([]uuid.UUID, error) {
	batch, err := s.sealFailures(ctx, batch)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(batch)
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	ids, err := scanAll(ctx, s, storeFailureSQL, map[string]any{"batch": string(payload)}, len(batch), scanID)
	if err != nil {
		return nil, fmt.Errorf("release %d failed refreshes: %w", len(batch), err)
	}
	return ids, nil
}

// ClaimRef names one claim: the row and the claim_id it was claimed with.
type ClaimRef struct {
	ID      uuid.UUID `json:"id"`
	ClaimID uuid.UUID `json:"claim_id"`
}

// Release gives back claims that were never attempted; a row whose claim
// has been taken over since is left to its new claimant.
func (s *Store) Release(ctx context.Context, claims []ClaimRef) error {
	if len(claims) == 0 {
		return nil
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return err
	}
	if err := s.db.WithContext(ctx).Exec(releaseSQL, map[string]any{"claims": string(payload)}).Error; err != nil {
		return fmt.Errorf("release %d claims: %w", len(claims), err)
	}
	return nil
}

// Get reads one connection by name, secrets opened.
func (s *Store) Get(ctx context.Context, name string) (*model.OAuthToken, error) {
	if err := s.checkKeys(ctx); err != nil {
		return nil, err
	}
	row, err := readNamed(name, func() ([]*model.OAuthToken, error) {
		var rows []*model.OAuthToken
		err := s.db.WithContext(ctx).Raw(getSQL, map[string]any{"name": name}).Scan(&rows).Error
		return rows, err
	})
	if err != nil {
		return nil, err
	}
	if err := s.unseal(row); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return row, nil
}

// readNamed runs read, an idempotent read of the named connection, again if
// its connection was lost, and returns the row it found.
func readNamed[T any](name string, read func() ([]T, error)) (T, error) {
	var rows []T
	err := dbretry.Once(func() error {
		var err error
		rows, err = read()
		return err
	})
	var none T
	switch {
	case err != nil:
		return none, fmt.Errorf("read %s: %w", name, err)
	case len(rows) == 0:
		return none, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return rows[0], nil
}

// CurrentAccessToken returns the access token of an active connection if
// it is valid for at least minValidity.
func (s *Store) CurrentAccessToken(ctx context.Context, name string, minValidity time.Duration) (string, error) {
	row, err := s.Get(ctx, name)
	if err != nil {
		return "", err
	}
	switch {
	case row.Status != model.StatusActive:
		return "", fmt.Errorf("%s is %s", name, row.Status)
	case Str(row.AccessToken) == "":
		return "", fmt.Errorf("%s has no access token", name)
	case row.AccessTokenExpires != nil && row.AccessTokenExpires.Before(time.Now().Add(minValidity)):
		return "", fmt.Errorf("%s's access token has expired", name)
	}
	return Str(row.AccessToken), nil
}

// List reads every connection, ordered by name. Secrets are left sealed:
// listing never needs them.
func (s *Store) List(ctx context.Context) ([]model.OAuthToken, error) {
	var rows []model.OAuthToken
	if err := s.db.WithContext(ctx).Raw(listSQL).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return rows, nil
}

// Clear drops a connection's access token so that it is refreshed at once.
func (s *Store) Clear(ctx context.Context, name string) error {
	n, err := s.countRows(ctx, clearSQL, map[string]any{"name": name})
	if err != nil {
		return fmt.Errorf("clear %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return nil
}

// NextDue returns how long until a row becomes claimable; ok is false when
// no row is refreshable at all.
func (s *Store) NextDue(ctx context.Context, before time.Duration) (d time.Duration, ok bool, err error) {
	var ms *int64
	if err := s.db.WithContext(ctx).Raw(nextDueSQL, map[string]any{"before_us": before.Microseconds()}).Row().Scan(&ms); err != nil {
		return 0, false, fmt.Errorf("find next due row: %w", err)
	}
	if ms == nil {
		return 0, false, nil
	}
	return time.Duration(*ms) * time.Millisecond, true, nil
}

func (s *Store) countRows(ctx context.Context, q string, args map[string]any) (int, error) {
	rows, err := s.db.WithContext(ctx).Raw(q, args).Rows()
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

// Event is one recorded refresh attempt.
type Event struct {
	At         time.Time `gorm:"column:at" json:"at"`
	Outcome    string    `gorm:"column:outcome" json:"outcome"`
	DurationMS *int64    `gorm:"column:duration_ms" json:"duration_ms,omitempty"`
	HTTPStatus *int      `gorm:"column:http_status" json:"http_status,omitempty"`
	Error      *string   `gorm:"column:error" json:"error,omitempty"`
	Version    *int64    `gorm:"column:version" json:"version,omitempty"`
}

// Events returns the latest limit refresh attempts of a connection, newest
// first.
func (s *Store) Events(ctx context.Context, name string, limit int) ([]Event, error) {
	var out []Event
	if err := s.db.WithContext(ctx).Raw(eventsSQL, map[string]any{"name": name, "limit": limit}).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("events of %s: %w", name, err)
	}
	return out, nil
}

// PruneEvents deletes events older than retention, in bounded batches, and
// returns how many it deleted. It deletes the console's expired sessions,
// pending authorizations and reconnect links too (PruneConsole), so that
// the worker's one hourly prune keeps every growing table in bounds.
func (s *Store) PruneEvents(ctx context.Context, retention time.Duration) (int64, error) {
	var total int64
	for {
		res := s.db.WithContext(ctx).Exec(pruneEventsSQL, map[string]any{"retention_us": retention.Microseconds()})
		if res.Error != nil {
			return total, fmt.Errorf("prune events: %w", res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < 10000 {
			break
		}
	}
	if _, err := s.PruneConsole(ctx); err != nil {
		return total, err
	}
	return total, nil
}

// IsDataError reports an error in the data of a statement (SQLSTATE
// classes 22, 23 and 54): sending the same data again fails again.
func IsDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	class := pgErr.Code[:2]
	return class == "22" || class == "23" || class == "54"
}

// IsUndefinedTable reports whether err says the schema has not been applied.
func IsUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}
