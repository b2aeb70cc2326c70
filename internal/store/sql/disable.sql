-- worker disable: take a connection out of service. No worker claims it
-- (claims need status 'active'), and the trigger's notification wakes the
-- consumers waiting on it with ErrDisabled. A refresh already in flight keeps
-- its claim and still stores its answer, so a rotated refresh token is not
-- lost. Returns the status the connection had; no row: no such connection.
UPDATE oauth_tokens t
SET status = 'disabled'
FROM (SELECT id, status FROM oauth_tokens WHERE name = @name FOR UPDATE) AS old
WHERE t.id = old.id
RETURNING old.status AS was
