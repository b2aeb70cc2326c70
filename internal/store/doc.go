// Package store holds every SQL statement the worker runs against the
// oauth_tokens table. The statements live in sql/*.sql beside this file and
// are embedded, so they can be read, reviewed and EXPLAINed as SQL. The
// consumer's few statements are pkg/tokens' own
// (pkg/tokens/internal/reader/sql), so that a consumer links none of this.
//
// The protocol between workers is carried by three columns: updating marks a
// claim, updating_until ends its lease, and claim_id fences it. A worker
// claims rows with one statement (SELECT ... FOR UPDATE SKIP LOCKED feeding an
// UPDATE ... RETURNING), so replicas never claim the same row, and writes its
// result only where claim_id is still the one it claimed with, so a worker
// whose lease was taken over cannot overwrite newer tokens.
//
// Results are written in batches (one multi-row UPDATE per flush) so that a
// burst of thousands of refreshes needs a handful of database connections
// and commits, not one per refresh.
package store
