-- Gauges for /metrics, read at scrape time in one statement (with
-- status_counts.sql), each from an index range that holds only what it counts (see migration 00004), never
-- the whole table:
--   due:      rows a worker would claim now (claim.sql's condition), with
--             @before_us = TOKENS_REFRESH_BEFORE in microseconds: the rows
--             nothing holds in the window, and the held rows whose hold has
--             ended, in the window;
--   soonest:  seconds until the soonest access-token expiry among active
--             refreshable rows (negative when already expired; NULL if
--             none): the head of the due index, and the least expiry of the
--             held rows, read from oauth_tokens_held_idx (as many as are
--             held: leases in flight, backoffs, parked schedules; far fewer
--             than the table, but the one gauge that grows with them:
--             indexing held rows by expiry too would cost every claim an
--             index entry more).
-- The counts by status are status_counts.sql, a statement of their own
-- because the console reads them on every page and needs neither of these.
SELECT
    (SELECT count(*)
       FROM oauth_tokens
      WHERE status = 'active'
        AND has_refresh_token
        AND held_until IS NULL
        AND access_token_expires <= now() + CAST(@before_us AS bigint) * interval '1 microsecond'
        AND (refresh_not_before IS NULL OR refresh_not_before <= now())
        AND (next_attempt_at IS NULL OR next_attempt_at <= now())
        AND (NOT updating OR updating_until < now()))
  + (SELECT count(*)
       FROM oauth_tokens
      WHERE status = 'active'
        AND has_refresh_token
        AND held_until <= now()
        AND access_token_expires <= now() + CAST(@before_us AS bigint) * interval '1 microsecond'
        AND (refresh_not_before IS NULL OR refresh_not_before <= now())
        AND (next_attempt_at IS NULL OR next_attempt_at <= now())
        AND (NOT updating OR updating_until < now())) AS due,
    (SELECT CAST(EXTRACT(EPOCH FROM LEAST(
        (SELECT min(access_token_expires) FROM oauth_tokens
          WHERE status = 'active' AND has_refresh_token AND held_until IS NULL),
        (SELECT min(access_token_expires) FROM oauth_tokens
          WHERE status = 'active' AND has_refresh_token AND held_until IS NOT NULL)
     ) - now()) AS double precision)) AS soonest
