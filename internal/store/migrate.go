package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	twsql "github.com/tokenwarden/tokenwarden/sql"
)

// migrateLockID is the advisory lock `worker migrate` holds while it
// migrates, so that replicas starting together run the migrations one
// after the other. Releases before versioned migrations took the same
// lock (as a transaction lock), so an old and a new binary wait for each
// other too.
const migrateLockID = 7461636

// Migration is one of sql/migrations, and whether it has been applied.
type Migration struct {
	Version int64
	// Name is the file's name without its version and extension, e.g.
	// "release_0afbbf5".
	Name string
	// AppliedAt is when it was applied; zero while it is pending.
	AppliedAt time.Time
}

// Applied reports whether the migration has been applied.
func (m Migration) Applied() bool { return !m.AppliedAt.IsZero() }

// String names the migration as its file does: 00001_release_0afbbf5.
func (m Migration) String() string { return fmt.Sprintf("%05d_%s", m.Version, m.Name) }

// Migrate applies the pending migrations in order, each in its own
// transaction, and returns those it applied (none when the schema is
// current).
func (s *Store) Migrate(ctx context.Context) ([]Migration, error) {
	db, err := s.db.DB()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return MigrateDB(ctx, db)
}

// MigrationStatus lists every migration in order, applied or pending.
func (s *Store) MigrationStatus(ctx context.Context) ([]Migration, error) {
	db, err := s.db.DB()
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	p, err := newMigrator(db)
	if err != nil {
		return nil, err
	}
	list, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Migration, len(list))
	for i, st := range list {
		out[i] = migrationOf(st.Source)
		if st.State == goose.StateApplied {
			out[i].AppliedAt = st.AppliedAt
		}
	}
	return out, nil
}

// MigrateDB is Migrate on a database/sql handle, for callers without a
// Store (the test template of internal/pgtest).
func MigrateDB(ctx context.Context, db *sql.DB) ([]Migration, error) {
	p, err := newMigrator(db)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	var applied []Migration
	for _, r := range results {
		m := migrationOf(r.Source)
		m.AppliedAt = time.Now()
		applied = append(applied, m)
	}
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) {
			return applied, fmt.Errorf("migration %s: %w", migrationOf(partial.Failed.Source), partial.Err)
		}
		return applied, fmt.Errorf("migrate: %w", err)
	}
	return applied, nil
}

// newMigrator returns goose's provider over the embedded migrations,
// recording them in goose's own table (goose_db_version), under
// migrateLockID.
func newMigrator(db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(twsql.Migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(advisoryLock{}),
		// Only the migrations of this binary, never Go migrations some
		// other package registered globally.
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

func migrationOf(src *goose.Source) Migration {
	base := strings.TrimSuffix(path.Base(src.Path), ".sql")
	_, name, _ := strings.Cut(base, "_")
	return Migration{Version: src.Version, Name: name}
}

// advisoryLock is a goose.SessionLocker that waits on
// pg_advisory_lock(migrateLockID) for as long as the context allows,
// where goose's own locker polls every 5 s: a replica that starts while
// another migrates goes on the moment the other is done.
type advisoryLock struct{}

func (advisoryLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockID); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	return nil
}

func (advisoryLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", migrateLockID); err != nil {
		return fmt.Errorf("release the migration lock: %w", err)
	}
	return nil
}
