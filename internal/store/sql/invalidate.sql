-- A consumer got 401 with @stale. Make the row due only if it still holds that
-- token, so a hundred consumers failing with the same token cause one
-- refresh, and wake the workers. LEAST ignores NULL, so a never-expiring
-- token becomes due too.
WITH u AS (
    UPDATE oauth_tokens
    SET access_token_expires = LEAST(access_token_expires, now())
    WHERE name = @name
      AND access_token = @stale
      AND status = 'active'
      AND refresh_token IS NOT NULL
    RETURNING name
)
SELECT u.name, pg_notify('tokenwarden_refresh', u.name) IS NOT NULL AS notified FROM u
