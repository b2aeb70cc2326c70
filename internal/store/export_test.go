package store

// The worker's statements, for explain_test.go to EXPLAIN as they run.
var (
	ClaimSQL   = claimSQL
	NextDueSQL = nextDueSQL
	StatsSQL   = statsSQL
	ReleaseSQL = releaseSQL

	StatusCountsSQL = statusCountsSQL

	ConsoleListSQL = consoleListSQL
)
