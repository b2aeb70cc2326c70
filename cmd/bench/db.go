package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// benchApp is the application_name of the bench's own connections, so that
// connection counts can leave them out.
const benchApp = "twbench"

// bench is the state shared by the scenarios: the scratch database, a pool
// on it for setup and checks, and the worker binary.
type bench struct {
	opts      *options
	baseURL   string // DATABASE_URL: the server's maintenance database
	dbName    string // the scratch database
	dbURL     string // the scratch database, as the worker and client see it
	pool      *pgxpool.Pool
	tmpDir    string
	workerBin string
	pgVersion string
}

func setup(ctx context.Context, o *options) (*bench, error) {
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		return nil, errors.New("DATABASE_URL is not set (scripts/pg.sh start prints one)")
	}
	b := &bench{opts: o, baseURL: base, dbName: "bench_" + randomHex(6)}
	tmp, err := os.MkdirTemp("", "twbench")
	if err != nil {
		return nil, err
	}
	b.tmpDir = tmp
	if err := b.buildWorker(ctx); err != nil {
		return b, err
	}
	if err := adminExec(ctx, base, "CREATE DATABASE "+b.dbName); err != nil {
		return b, fmt.Errorf("create scratch database: %w", err)
	}
	logf("created database %s", b.dbName)
	b.dbURL = withDatabase(base, b.dbName)
	st, err := store.Open(ctx, b.dbURL, 2)
	if err != nil {
		return b, err
	}
	err = st.Migrate(ctx)
	st.Close()
	if err != nil {
		return b, err
	}
	cfg, err := pgxpool.ParseConfig(b.dbURL)
	if err != nil {
		return b, err
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = benchApp
	cfg.MaxConns = 4
	if b.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return b, err
	}
	if err := b.pool.QueryRow(ctx, "SELECT version()").Scan(&b.pgVersion); err != nil {
		return b, err
	}
	return b, nil
}

// cleanup drops the scratch database; it runs whatever happened before, so it
// ignores the (possibly cancelled) run context.
func (b *bench) cleanup() {
	if b.pool != nil {
		b.pool.Close()
	}
	if b.dbURL != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, b.baseURL, "DROP DATABASE IF EXISTS "+b.dbName+" WITH (FORCE)"); err != nil {
			logf("drop database %s: %v", b.dbName, err)
		} else {
			logf("dropped database %s", b.dbName)
		}
	}
	if b.tmpDir != "" {
		os.RemoveAll(b.tmpDir)
	}
}

// buildWorker builds ./cmd/worker of the enclosing module once, with the
// Dockerfile's flags.
func (b *bench) buildWorker(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	b.workerBin = filepath.Join(b.tmpDir, "worker")
	// Built as the Dockerfile builds the shipped image: a static binary
	// without symbol tables, which starts about 2 MB smaller than a
	// default cgo build.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", b.workerBin, "./cmd/worker")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	logf("building %s/cmd/worker", root)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build worker: %w", err)
	}
	return nil
}

// reset empties the tables between scenarios and writes a checkpoint, so
// that one scenario's writes (steady leaves 130,000 updates behind) are not
// flushed during the next one's latency measurements, and collects the
// bench's own garbage. A role that may not checkpoint only loses that part
// of the isolation.
func (b *bench) reset(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	// The events too: ratio reads its round trips and timings from them.
	if _, err := b.pool.Exec(ctx, "TRUNCATE oauth_tokens, oauth_token_events"); err != nil {
		return err
	}
	if _, err := b.pool.Exec(ctx, "CHECKPOINT"); err != nil {
		logf("CHECKPOINT between scenarios failed (%v); continuing without it", err)
	}
	// The same for the bench process, which hosts the mock provider and
	// the in-process scenarios: steady's mock leaves 130,000 issued tokens
	// behind, and collecting them mid-way through wake would time the
	// bench's garbage collector.
	debug.FreeOSMemory()
	return nil
}

// seed inserts n rows named bench-000001... with refresh tokens rt-1... in
// one statement. expires is an SQL expression over g (the row number, from
// 1) and now(). The insert skips the table's triggers (so a million rows do
// not queue a million notifications); every row gets an access token, so
// the before-write trigger would not have changed anything.
func (b *bench) seed(ctx context.Context, n int, tokenURL, expires string) error {
	width := max(6, len(strconv.Itoa(n)))
	q := fmt.Sprintf(`
INSERT INTO oauth_tokens (id, name, provider, token_url, client_id, client_secret,
                          access_token, refresh_token, access_token_expires)
SELECT gen_random_uuid(), 'bench-' || lpad(g::text, %d, '0'), 'oauth2', $1, 'bench', 'bench-secret',
       'at-initial-' || g, 'rt-' || g, %s
FROM generate_series(1, $2::int) AS g`, width, expires)
	start := time.Now()
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, q, tokenURL, n)
		return err
	})
	if err != nil {
		return fmt.Errorf("seed %d rows: %w", n, err)
	}
	if _, err := b.pool.Exec(ctx, "VACUUM ANALYZE oauth_tokens"); err != nil {
		return err
	}
	logf("seeded %d rows in %s", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// rowNumber returns n of bench-<n>.
func rowNumber(name string) (int, error) {
	return strconv.Atoi(strings.TrimLeft(strings.TrimPrefix(name, "bench-"), "0"))
}

// lostAnswers counts rows whose stored tokens differ from what the provider
// issued for the row's initial refresh token rt-<n>: an answer the worker
// received but did not store (or stored for the wrong row).
func (b *bench) lostAnswers(ctx context.Context, p *endpoint) (int, error) {
	rows, err := b.pool.Query(ctx, "SELECT name, coalesce(access_token, ''), coalesce(refresh_token, '') FROM oauth_tokens")
	if err != nil {
		return 0, err
	}
	lost := 0
	var name, at, rt string
	_, err = pgx.ForEachRow(rows, []any{&name, &at, &rt}, func() error {
		n, err := rowNumber(name)
		if err != nil {
			return err
		}
		iss, ok := p.Issued("rt-" + strconv.Itoa(n))
		if !ok || iss.AccessToken != at || iss.RefreshToken != rt {
			lost++
		}
		return nil
	})
	return lost, err
}

// staleRows counts rows whose refresh token is not the newest of its family
// at the provider: after any number of rotations a row must hold the latest.
func (b *bench) staleRows(ctx context.Context, p *endpoint) (int, error) {
	rows, err := b.pool.Query(ctx, "SELECT name, coalesce(refresh_token, '') FROM oauth_tokens")
	if err != nil {
		return 0, err
	}
	stale := 0
	var name, rt string
	_, err = pgx.ForEachRow(rows, []any{&name, &rt}, func() error {
		n, err := rowNumber(name)
		if err != nil {
			return err
		}
		if p.Current("rt-"+strconv.Itoa(n)) != rt {
			stale++
		}
		return nil
	})
	return stale, err
}

func (b *bench) count(ctx context.Context, where string) (int, error) {
	var n int
	err := b.pool.QueryRow(ctx, "SELECT count(*) FROM oauth_tokens WHERE "+where).Scan(&n)
	return n, err
}

// connSampler records the most connections the worker processes held on the
// scratch database, sampled every 100 ms from the maintenance database. The
// bench's own connections (application_name twbench) are left out.
type connSampler struct {
	max  atomic.Int64
	stop context.CancelFunc
	done sync.WaitGroup
}

func (b *bench) sampleConns(ctx context.Context) (*connSampler, error) {
	conn, err := pgx.Connect(ctx, b.baseURL)
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	s := &connSampler{stop: stop}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		defer conn.Close(context.Background())
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			var n int64
			err := conn.QueryRow(sctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = $1 AND backend_type = 'client backend' AND application_name <> $2`,
				b.dbName, benchApp).Scan(&n)
			if err == nil && n > s.max.Load() {
				s.max.Store(n)
			}
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s, nil
}

// finish stops sampling and returns the maximum.
func (s *connSampler) finish() int64 {
	s.stop()
	s.done.Wait()
	return s.max.Load()
}

func adminExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func withDatabase(dsn, name string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}
