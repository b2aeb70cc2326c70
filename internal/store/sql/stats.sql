-- Gauges for /metrics, read at scrape time in one statement.
--   due:      rows a worker would claim now (claim.sql's condition), with
--             @before_us = TOKENS_REFRESH_BEFORE in microseconds;
--   soonest:  seconds until the soonest access-token expiry among active
--             refreshable rows (negative when already expired; NULL if none);
--   active, needs_reauth, disabled: connections by status.
-- The first two are range scans over oauth_tokens_due_idx.
SELECT
    (SELECT count(*)
       FROM oauth_tokens
      WHERE status = 'active'
        AND refresh_token IS NOT NULL
        AND access_token_expires <= now() + CAST(@before_us AS bigint) * interval '1 microsecond'
        AND (refresh_not_before IS NULL OR refresh_not_before <= now())
        AND (next_attempt_at IS NULL OR next_attempt_at <= now())
        AND (NOT updating OR updating_until < now())) AS due,
    (SELECT CAST(EXTRACT(EPOCH FROM min(access_token_expires) - now()) AS double precision)
       FROM oauth_tokens
      WHERE status = 'active'
        AND refresh_token IS NOT NULL) AS soonest,
    count(*) FILTER (WHERE status = 'active') AS active,
    count(*) FILTER (WHERE status = 'needs_reauth') AS needs_reauth,
    count(*) FILTER (WHERE status = 'disabled') AS disabled
FROM oauth_tokens
