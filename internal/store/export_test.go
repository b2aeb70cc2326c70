package store

import "context"

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
