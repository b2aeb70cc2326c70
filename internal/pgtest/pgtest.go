// Package pgtest gives each test its own real PostgreSQL database, cloned
// from a template that already holds tokenwarden's schema (built by running
// the migrations, as `worker migrate` does), so tests run in parallel
// against the real server without seeing each other's rows or
// notifications.
//
// The server comes from DATABASE_URL, which `make test` sets (starting a
// throwaway cluster under .dev/ when it is unset). Its role must be allowed
// to create databases.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tokenwarden/tokenwarden/internal/store"
	twsql "github.com/tokenwarden/tokenwarden/sql"
)

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// New creates a fresh database with the schema applied, drops it when the
// test ends, and returns its URL.
func New(t testing.TB) string {
	t.Helper()
	base := baseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx, base) })
	if templateErr != nil {
		t.Fatalf("pgtest: %v", templateErr)
	}
	return create(t, base, "TEMPLATE "+templateName)
}

// NewEmpty creates a database without any schema (template0), for tests of
// migrating itself, dropped when the test ends, and returns its URL.
func NewEmpty(t testing.TB) string {
	t.Helper()
	return create(t, baseURL(t), "TEMPLATE template0")
}

func baseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		t.Fatal("pgtest: DATABASE_URL is not set; run `make test`, which starts a local PostgreSQL")
	}
	return base
}

// create makes a database with the given CREATE DATABASE options and drops
// it when the test ends.
func create(t testing.TB, base, options string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := "tw_test_" + randomHex(8)
	if err := createDatabase(ctx, base, name+" "+options); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := execSQL(ctx, base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return WithDatabase(base, name)
}

// WithDatabase returns dsn with its database replaced by name.
func WithDatabase(dsn, name string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	u.Path = "/" + name
	return u.String()
}

// ensureTemplate creates, once per set of migrations, a template database
// holding the schema. Test binaries of several packages run at once, so an
// advisory lock serialises the check-and-create.
func ensureTemplate(ctx context.Context, base string) (string, error) {
	sum, err := migrationsSum()
	if err != nil {
		return "", err
	}
	name := "tw_tmpl_" + hex.EncodeToString(sum[:6])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(74657374)"); err != nil {
		return "", err
	}
	// Closing the connection releases the lock too, should the unlock fail.
	defer func() { _, _ = conn.Exec(context.Background(), "SELECT pg_advisory_unlock(74657374)") }()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_build"
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	if err := migrate(ctx, WithDatabase(base, building)); err != nil {
		return "", fmt.Errorf("migrate the template: %w", err)
	}
	// Renaming last means a crash mid-build never leaves a half-made template
	// under the name tests look for.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+name); err != nil {
		return "", err
	}
	return name, nil
}

// migrationsSum hashes the embedded migrations, names and contents, so
// that a new or changed migration builds a new template.
func migrationsSum() ([sha256.Size]byte, error) {
	h := sha256.New()
	err := fs.WalkDir(twsql.Migrations, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := twsql.Migrations.ReadFile(p)
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return err
	})
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum, err
}

// migrate runs the migrations on the database at dsn, the way `worker
// migrate` does.
func migrate(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	_, err = store.MigrateDB(ctx, db)
	return err
}

func createDatabase(ctx context.Context, base, spec string) error {
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		err = execSQL(ctx, base, "CREATE DATABASE "+spec)
		var pgErr *pgconn.PgError
		// 55006: another CREATE DATABASE is copying the template right now.
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(20+attempt*10) * time.Millisecond):
		}
	}
	return err
}

func execSQL(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
