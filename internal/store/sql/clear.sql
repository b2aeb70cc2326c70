-- Drop the stored access token (the seed's --clear); the before-write trigger
-- then makes the row due now, and the notification wakes a worker.
WITH u AS (
    UPDATE oauth_tokens
    SET access_token = NULL, access_token_expires = now(), next_attempt_at = NULL
    WHERE name = @name
    RETURNING name
)
SELECT u.name, pg_notify('tokenwarden_refresh', u.name) IS NOT NULL AS notified FROM u
