-- The rows of a rekey page that the set-based write did not take (changed
-- since they were read) or that did not open, read again locked, so that
-- a worker storing a refresh for one of them waits for the re-encryption
-- (or the other way round) instead of either write being lost. The
-- identity columns are what refresh_token and client_secret are bound to
-- (see store.Identity).
SELECT id, name, provider, token_url, client_id, params, "grant",
       access_token, refresh_token, client_secret
FROM oauth_tokens
WHERE id = ANY (CAST(@ids AS uuid[]))
ORDER BY id
FOR UPDATE
