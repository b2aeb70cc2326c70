package store_test

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// source returns rows name-0 … name-(n-1), then io.EOF, or err in place
// of row failAt (from 0; -1: never).
func source(name string, n, failAt int, err error) func() (store.ImportRow, error) {
	i := 0
	return func() (store.ImportRow, error) {
		if i == failAt {
			return store.ImportRow{}, err
		}
		if i == n {
			return store.ImportRow{}, io.EOF
		}
		i++
		return store.ImportRow{Name: fmt.Sprintf("%s-%d", name, i-1), RefreshToken: ptr(fmt.Sprintf("rt-%s-%d", name, i-1))}, nil
	}
}

// One transaction of 60,000 new rows: a lock per row ran PostgreSQL's
// shared lock table out ("out of shared memory") past about 43,000 with
// the test server's settings (12,000 with PostgreSQL's defaults).
func TestImportOfManyRowsTakesNoLockPerRow(t *testing.T) {
	t.Parallel()
	st := setup(t)
	n, err := st.ImportStream(t.Context(), source("m", 60000, -1, nil), store.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 60000 || count(t, st, "oauth_tokens") != 60000 {
		t.Fatalf("imported %d, table holds %d", n, count(t, st, "oauth_tokens"))
	}
	if got := get(t, st, "m-59999").RefreshToken.Reveal(); got != "rt-m-59999" {
		t.Fatalf("refresh token %q", got)
	}
}

// Two imports creating the same new names at once must agree on each
// row's id, or one's secrets would be sealed for an id the row lacks.
func TestRacingImportsAgreeOnIds(t *testing.T) {
	t.Parallel()
	k, _ := newKeyring(t, "k1")
	st := setup(t).WithKeyring(k)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			rows := make([]store.ImportRow, 300)
			for j := range rows {
				rows[j] = store.ImportRow{Name: fmt.Sprintf("r-%d", j), RefreshToken: ptr(fmt.Sprintf("rt-%d-%d", i, j))}
			}
			errs[i] = st.Import(t.Context(), rows)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for j := range 300 {
		got := get(t, st, fmt.Sprintf("r-%d", j)).RefreshToken.Reveal()
		if got != fmt.Sprintf("rt-0-%d", j) && got != fmt.Sprintf("rt-1-%d", j) {
			t.Fatalf("r-%d: refresh token %q", j, got)
		}
	}
}

// With a batch size, the batches before a failure stay written, and the
// same import run again completes the table.
func TestImportInBatchesCanBeRunAgain(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := t.Context()
	bad := errors.New("record 26: bad")
	n, err := st.ImportStream(ctx, source("b", 35, 25, bad), store.ImportOptions{Batch: 10})
	if !errors.Is(err, bad) || n != 20 || count(t, st, "oauth_tokens") != 20 {
		t.Fatalf("first run: %d committed, %d in the table, %v", n, count(t, st, "oauth_tokens"), err)
	}
	if _, err := st.ImportStream(ctx, source("b", 35, -1, nil), store.ImportOptions{Batch: 10}); err != nil {
		t.Fatal(err)
	}
	if count(t, st, "oauth_tokens") != 35 {
		t.Fatalf("after the rerun: %d rows", count(t, st, "oauth_tokens"))
	}
	// Without a batch size, the failure writes nothing.
	if _, err := st.ImportStream(ctx, source("c", 35, 25, bad), store.ImportOptions{}); !errors.Is(err, bad) || count(t, st, "oauth_tokens") != 35 {
		t.Fatalf("one transaction: %d rows, %v", count(t, st, "oauth_tokens"), err)
	}
}
