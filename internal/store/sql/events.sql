-- The latest refresh attempts of one connection, newest first.
SELECT at, outcome, duration_ms, http_status, error, version
FROM oauth_token_events
WHERE name = @name
ORDER BY at DESC, id DESC
LIMIT @limit
