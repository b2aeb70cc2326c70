-- Delete the console's expired state, one set-based statement per table:
-- sessions and pending authorizations once they expire; reconnect links
-- ten minutes after (longer than an authorization lives), so a flow begun
-- from a link just before it expired can still complete. These tables
-- hold what people did in a browser, thousands of rows at most.
WITH s AS (
    DELETE FROM console_sessions WHERE expires_at < now() RETURNING 1
), f AS (
    DELETE FROM oauth_authorizations WHERE expires_at < now() RETURNING 1
), l AS (
    DELETE FROM connect_links WHERE expires_at < now() - interval '10 minutes' RETURNING 1
)
SELECT (SELECT count(*) FROM s) + (SELECT count(*) FROM f) + (SELECT count(*) FROM l)
