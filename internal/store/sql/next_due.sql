-- Milliseconds until the worker has something to claim; NULL when nothing
-- is refreshable. The least of:
--   the first row nothing holds to come within the refresh window (the
--     head of oauth_tokens_due_idx past the window);
--   now, if a row nothing holds is in the window and due; else the
--     soonest schedule among the rows nothing holds in the window (a
--     schedule the worker did not park: an operator's, or one stored
--     under another window; few);
--   the soonest end of a hold among the held rows in the window (the head
--     of oauth_tokens_held_idx).
-- Each reads an index range that holds only candidates, never the rows
-- that something holds for longer. (A row entering the window before an
-- unparked schedule wakes the worker once early; the next call finds its
-- schedule.)
SELECT (EXTRACT(EPOCH FROM LEAST(
    (SELECT min(access_token_expires)
       FROM oauth_tokens
      WHERE status = 'active'
        AND has_refresh_token
        AND held_until IS NULL
        AND access_token_expires > now() + CAST(@before_us AS bigint) * interval '1 microsecond')
      - CAST(@before_us AS bigint) * interval '1 microsecond',
    CASE WHEN EXISTS (
        SELECT 1
          FROM oauth_tokens
         WHERE status = 'active'
           AND has_refresh_token
           AND held_until IS NULL
           AND access_token_expires <= now() + CAST(@before_us AS bigint) * interval '1 microsecond'
           AND (refresh_not_before IS NULL OR refresh_not_before <= now()))
    THEN now()
    ELSE (SELECT min(refresh_not_before)
            FROM oauth_tokens
           WHERE status = 'active'
             AND has_refresh_token
             AND held_until IS NULL
             AND access_token_expires <= now() + CAST(@before_us AS bigint) * interval '1 microsecond')
    END,
    (SELECT GREATEST(held_until, now())
       FROM oauth_tokens
      WHERE status = 'active'
        AND has_refresh_token
        AND held_until IS NOT NULL
        AND access_token_expires <= now() + CAST(@before_us AS bigint) * interval '1 microsecond'
      ORDER BY held_until
      LIMIT 1)
) - now()) * 1000)::bigint AS ms
