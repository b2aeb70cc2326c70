-- The named connections that exist, without their secrets: what `worker
-- import` checks a record against and `worker events` looks a name up by,
-- neither of which may need the encryption keys. @names is a JSON array.
SELECT id, name, provider, token_url, params, "grant", status, has_refresh_token
FROM oauth_tokens
WHERE name IN (SELECT jsonb_array_elements_text(CAST(@names AS jsonb)))
