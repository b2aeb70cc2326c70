-- worker enable: put a disabled (or needs_reauth) connection back in service
-- with a clean slate: no failure count, backoff or last error, so that it is
-- refreshed as soon as it is due, and the workers are woken to look. An
-- active connection is left as it is. Returns the status the connection
-- had; no row: no such connection.
WITH old AS (
    SELECT id, name, status FROM oauth_tokens WHERE name = @name FOR UPDATE
), u AS (
    UPDATE oauth_tokens t
    SET status = 'active', failure_count = 0, next_attempt_at = NULL, last_error = NULL
    FROM old
    WHERE t.id = old.id AND old.status <> 'active'
    -- A data-modifying WITH runs to completion, RETURNING included, even
    -- though nothing reads it.
    RETURNING pg_notify('tokenwarden_refresh', t.name)
)
SELECT status AS was FROM old
