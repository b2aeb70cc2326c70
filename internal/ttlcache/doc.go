// Package ttlcache is the one small in-memory cache with a fixed time to
// live: what is read on every request (an API key, a proxy target) is
// read from the database at most once per TTL, and a change (a revoked
// key, an edited connection) takes effect within that bound.
package ttlcache
