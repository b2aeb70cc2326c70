-- The next page of rows for `worker rekey`, by id (keyset), read without
-- locks: they are re-sealed in Go and written back by rekey_write.sql only
-- where their sealed values are still the ones read here. The identity
-- columns are what refresh_token and client_secret are bound to (see
-- store.Identity).
SELECT id, name, provider, token_url, client_id, params, "grant",
       access_token, refresh_token, client_secret
FROM oauth_tokens
WHERE id > @after
ORDER BY id
LIMIT @limit
