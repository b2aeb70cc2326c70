-- The next batch of rows for `worker rekey`, locked so that a worker
-- storing a refresh for one of them waits for the re-encryption (or the
-- other way round) instead of either write being lost.
SELECT id, access_token, refresh_token, client_secret
FROM oauth_tokens
WHERE id > @after
ORDER BY id
LIMIT 200
FOR UPDATE
