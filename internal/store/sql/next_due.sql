-- Milliseconds until the worker has something to claim: the soonest row to
-- come within the refresh window, or the soonest row in the window whose
-- schedule, backoff or lease ends. NULL when nothing is refreshable. (A row
-- entering the window before its schedule wakes the worker once early; the
-- next call then finds its schedule.)
SELECT (EXTRACT(EPOCH FROM LEAST(
    (SELECT min(access_token_expires)
       FROM oauth_tokens
      WHERE status = 'active'
        AND refresh_token IS NOT NULL
        AND access_token_expires > now() + CAST(@before_us AS bigint) * interval '1 microsecond')
      - CAST(@before_us AS bigint) * interval '1 microsecond',
    (SELECT min(COALESCE(GREATEST(next_attempt_at, refresh_not_before,
                                  CASE WHEN updating THEN updating_until END), now()))
       FROM oauth_tokens
      WHERE status = 'active'
        AND refresh_token IS NOT NULL
        AND access_token_expires <= now() + CAST(@before_us AS bigint) * interval '1 microsecond')
) - now()) * 1000)::bigint AS ms
