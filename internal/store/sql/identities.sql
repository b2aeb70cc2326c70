-- The identity columns of rows whose refresh result carries none (see
-- store.claimIdentities).
SELECT id, provider, token_url, client_id, params, "grant"
FROM oauth_tokens
WHERE id = ANY (CAST(@ids AS uuid[]))
