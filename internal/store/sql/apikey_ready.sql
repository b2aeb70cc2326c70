-- Readiness probe: the database answers and the schema the HTTP API needs is
-- applied. Fails with undefined_table otherwise; reads at most one row of each.
SELECT (SELECT count(*) FROM (SELECT 1 FROM oauth_tokens LIMIT 1) t) AS tokens,
       (SELECT count(*) FROM (SELECT 1 FROM api_keys LIMIT 1) k) AS keys
