-- The keys the sealed values actually name (both formats, twenc:v1 and
-- twenc:v2), rows rekey skipped aside: a full scan, for worker rekey only.
-- The console's pending authorizations count too, those that can still be
-- completed: a key trimmed while a flow's verifier is sealed under it
-- could be taken out of TOKENS_ENCRYPTION_KEYS, and the flow would fail.
SELECT split_part(v, ':', 3) AS key_id
FROM oauth_tokens, LATERAL (VALUES (access_token), (refresh_token), (client_secret)) AS c(v)
WHERE v LIKE 'twenc:v_:%'
  AND name <> ALL (CAST(@skipped AS text[]))
UNION
SELECT split_part(v, ':', 3)
FROM oauth_authorizations, LATERAL (VALUES (verifier), (client_secret)) AS c(v)
WHERE v LIKE 'twenc:v_:%'
  AND used_at IS NULL AND expires_at > now()
