package store

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The worker's statements, for explain_test.go to EXPLAIN as they run.
var (
	ClaimSQL   = claimSQL
	NextDueSQL = nextDueSQL
	StatsSQL   = statsSQL
	ReleaseSQL = releaseSQL

	StatusCountsSQL = statusCountsSQL

	ConsoleListSQL = consoleListSQL
)

// TrimKeys is trimKeys, the last step of Rekey, for a test to run it in a
// state Rekey itself leaves behind only in a race.
func (s *Store) TrimKeys(ctx context.Context, skipped []string) error {
	return s.trimKeys(ctx, skipped)
}

// RekeyChangedMeanwhile re-seals the first page of rows as Rekey does,
// with change run between reading the page and writing it back: the
// set-based write meeting rows changed since they were read.
func (s *Store) RekeyChangedMeanwhile(ctx context.Context, change func()) (RekeyResult, error) {
	var res RekeyResult
	err := s.withPgx(ctx, func(conn *pgx.Conn) error {
		page, err := readRekeyPage(ctx, conn, uuid.Nil)
		if err != nil {
			return err
		}
		change()
		return s.rekeyPage(ctx, conn, page, false, &res)
	})
	return res, err
}
