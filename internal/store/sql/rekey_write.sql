-- Write a page of re-sealed rows in one statement, each only where its
-- three sealed values and the identity they are bound to are still the
-- ones the page read: a row a worker refreshed, an import rewrote or an
-- operator changed since then keeps its new values, and is not returned, so rekey reads it again locked
-- (rekey_batch.sql). Re-sealing leaves each value's plaintext, and so
-- access_token_sha256, as it was.
UPDATE oauth_tokens AS t
SET access_token  = s.access_token,
    refresh_token = s.refresh_token,
    client_secret = s.client_secret
FROM tokenwarden_rekey AS s
WHERE t.id = s.id
  AND t.access_token IS NOT DISTINCT FROM s.old_access_token
  AND t.refresh_token IS NOT DISTINCT FROM s.old_refresh_token
  AND t.client_secret IS NOT DISTINCT FROM s.old_client_secret
  AND t.provider IS NOT DISTINCT FROM s.old_provider
  AND t.token_url IS NOT DISTINCT FROM s.old_token_url
  AND t.client_id IS NOT DISTINCT FROM s.old_client_id
  AND t.params IS NOT DISTINCT FROM s.old_params
  AND t."grant" IS NOT DISTINCT FROM s.old_grant
RETURNING t.id
