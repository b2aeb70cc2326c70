package dbretry

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestOnceRetriesALostConnectionOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		first error
		runs  int
	}{
		{nil, 1},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), 2},
		{&pgconn.PgError{Code: "57P01"}, 2}, // admin_shutdown
		{&pgconn.PgError{Code: "42P01"}, 1}, // undefined_table: again would fail again
		{errors.New("something else"), 1},
	} {
		runs := 0
		err := Once(func() error {
			runs++
			if runs == 1 {
				return tc.first
			}
			return nil
		})
		if runs != tc.runs || (tc.runs == 2 && err != nil) {
			t.Errorf("first error %v: %d runs, %v; want %d", tc.first, runs, err, tc.runs)
		}
	}
}
