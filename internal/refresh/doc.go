// Package refresh is the worker: it claims due connections, refreshes them
// at their providers with bounded concurrency, and stores the results in
// batches.
//
// A pass is a pipeline of three stages joined by channels:
//
//	claimer ──jobs──▶ N refreshers ──outcomes──▶ storer
//
// The claimer claims rows in batches (one statement each) but never holds
// more than twice the HTTP concurrency in claimed-but-unfinished rows, so a
// claimed row starts its refresh well within its lease. The refreshers do
// only HTTP. The storer writes outcomes in batches, one multi-row UPDATE per
// flush, so the database sees a handful of connections whatever the HTTP
// concurrency; when a store fails it keeps the outcomes and retries with
// backoff rather than dropping a refresh token the provider has already
// rotated. Backpressure runs the other way: a storer that cannot write
// stalls the refreshers, which stall the claimer.
//
// Worker.Run repeats passes: after each it sleeps until the next row
// becomes due (or the poll interval, whichever is sooner), and wakes at once
// when a consumer asks for a refresh through the tokenwarden_refresh channel.
package refresh
