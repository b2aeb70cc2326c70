-- The next batch of rows for `worker rekey`, locked so that a worker
-- storing a refresh for one of them waits for the re-encryption (or the
-- other way round) instead of either write being lost. The identity
-- columns are what refresh_token and client_secret are bound to (see
-- store.Identity). needs_hash marks a sealed access token stored before
-- access_token_sha256 existed.
SELECT id, name, provider, token_url, client_id, params,
       access_token, refresh_token, client_secret,
       access_token IS NOT NULL AND access_token_sha256 IS NULL AS needs_hash
FROM oauth_tokens
WHERE id > @after
ORDER BY id
LIMIT 200
FOR UPDATE
