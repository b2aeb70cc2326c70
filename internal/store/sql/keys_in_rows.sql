-- The keys the table's sealed values actually name (both formats,
-- twenc:v1 and twenc:v2), rows rekey skipped aside: a full scan, for
-- worker rekey only.
SELECT DISTINCT split_part(v, ':', 3) AS key_id
FROM oauth_tokens, LATERAL (VALUES (access_token), (refresh_token), (client_secret)) AS c(v)
WHERE v LIKE 'twenc:v_:%'
  AND name <> ALL (CAST(@skipped AS text[]))
