// Package pgtest gives each test its own real PostgreSQL database, cloned
// from a template that already holds tokenwarden's schema, so tests run in
// parallel against the real server without seeing each other's rows or
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
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		t.Fatal("pgtest: DATABASE_URL is not set; run `make test`, which starts a local PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx, base) })
	if templateErr != nil {
		t.Fatalf("pgtest: %v", templateErr)
	}
	name := "tw_test_" + randomHex(8)
	if err := createFromTemplate(ctx, base, name, templateName); err != nil {
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

// ensureTemplate creates, once per schema version, a template database
// holding the schema. Test binaries of several packages run at once, so an
// advisory lock serialises the check-and-create.
func ensureTemplate(ctx context.Context, base string) (string, error) {
	sum := sha256.Sum256([]byte(twsql.Schema))
	name := "tw_tmpl_" + hex.EncodeToString(sum[:6])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(74657374)"); err != nil {
		return "", err
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(74657374)")
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
	if err := execSQL(ctx, WithDatabase(base, building), twsql.Schema); err != nil {
		return "", fmt.Errorf("apply schema to template: %w", err)
	}
	// Renaming last means a crash mid-build never leaves a half-made template
	// under the name tests look for.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+name); err != nil {
		return "", err
	}
	return name, nil
}

func createFromTemplate(ctx context.Context, base, name, tmpl string) error {
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		err = execSQL(ctx, base, "CREATE DATABASE "+name+" TEMPLATE "+tmpl)
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
