-- The named connections that exist, without their secrets: what `worker
-- import` checks a record against, `worker events` looks a name up by and
-- the proxy resolves an API base from, none of which may need the
-- encryption keys (or spend a decryption per request). @names is a JSON
-- array.
SELECT id, name, provider, token_url, params, json_data, "grant", status, has_refresh_token
FROM oauth_tokens
WHERE name IN (SELECT jsonb_array_elements_text(CAST(@names AS jsonb)))
