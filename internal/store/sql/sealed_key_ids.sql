-- The keys the table's sealed values name, to fail at start-up when one is
-- missing rather than at the first refresh.
SELECT DISTINCT split_part(v, ':', 3) AS key_id
FROM oauth_tokens, LATERAL (VALUES (access_token), (refresh_token), (client_secret)) AS c(v)
WHERE v LIKE 'twenc:v1:%'
