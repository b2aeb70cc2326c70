package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestServerStopsAndStartsForReal(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	ping := func() error {
		c, err := pgx.Connect(context.Background(), s.DSN())
		if err != nil {
			return err
		}
		return c.Close(context.Background())
	}
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if ping() == nil {
		t.Fatal("connected to a stopped server")
	}
	s.Start()
	if err := ping(); err != nil {
		t.Fatal(err)
	}
}
