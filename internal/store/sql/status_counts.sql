-- The connections by status, for the console's counts (on every page of
-- its list) and /metrics' tokenwarden_connections, each from an index
-- range that holds only what it counts, never the whole table:
--   needs_reauth, disabled: counted in oauth_tokens_inactive_idx, which
--             holds only them;
--   rows:     every row, counted while the table is small (under 10,000
--             rows by the planner's estimate, or never analysed), and above
--             that the planner's estimate (pg_class.reltuples, which
--             autovacuum keeps within a few percent): counting a million
--             rows on every page or scrape would cost more than the figure
--             is worth.
-- active = rows - needs_reauth - disabled. Apart from stats.sql, whose due
-- count reads every due row: with the workers stopped for an hour, tens of
-- thousands of them (docs/benchmarks.md, "console").
WITH est AS (
    SELECT reltuples::bigint AS n FROM pg_class WHERE oid = 'oauth_tokens'::regclass
)
SELECT
    (SELECT count(*) FROM oauth_tokens WHERE status = 'needs_reauth') AS needs_reauth,
    (SELECT count(*) FROM oauth_tokens WHERE status = 'disabled') AS disabled,
    (SELECT CASE WHEN n < 10000 THEN (SELECT count(*) FROM oauth_tokens) ELSE n END FROM est) AS rows
