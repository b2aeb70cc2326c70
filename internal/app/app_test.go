package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// open opens an App on a fresh database with environ's settings; its log
// goes to log when not nil.
func open(t *testing.T, environ map[string]string, log io.Writer) (*app.App, string) {
	t.Helper()
	dsn := pgtest.New(t)
	environ["DATABASE_URL"] = dsn
	cfg, err := config.LoadFrom(environ)
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = io.Discard
	}
	a, err := app.Open(t.Context(), cfg, slog.New(slog.NewTextHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Error(err)
		}
	})
	return a, dsn
}

func exec(t *testing.T, dsn, sql string) {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(t.Context(), sql); err != nil {
		t.Fatal(err)
	}
}

// TestReadyIsTheStartUpCheck: /readyz and start-up ask one question.
func TestReadyIsTheStartUpCheck(t *testing.T) {
	t.Parallel()
	a, dsn := open(t, map[string]string{}, nil)
	if err := a.Ready(t.Context()); err != nil {
		t.Fatalf("Ready on a migrated database: %v", err)
	}
	if _, err := a.Once(t.Context()); err != nil {
		t.Fatalf("Once on a migrated database: %v", err)
	}
	exec(t, dsn, `DROP TABLE api_keys CASCADE`)
	if err := a.Ready(t.Context()); !errors.Is(err, app.ErrNoSchema) {
		t.Errorf("Ready without api_keys: %v, want ErrNoSchema", err)
	}
	if _, err := a.Once(t.Context()); !errors.Is(err, app.ErrNoSchema) {
		t.Errorf("Once without api_keys: %v, want ErrNoSchema", err)
	}
}

// TestRunServesAndStops runs the worker with its HTTP API until the
// context ends: /readyz answers from App.Ready, and Run returns nil with
// the server and the LISTEN connection stopped (TestMain checks that no
// goroutine is left).
func TestRunServesAndStops(t *testing.T) {
	t.Parallel()
	var log testutil.Buffer
	a, _ := open(t, map[string]string{"TOKENS_HTTP_ADDR": "127.0.0.1:0"}, &log)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	addr := testutil.ListenAddr(t, &log)
	req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+addr+"/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not return after its context ended; log:\n%s", log.String())
	}
}
