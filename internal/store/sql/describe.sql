-- The named connections that exist, every column but the secrets: what the
-- console shows of a connection, `worker import` checks a record against,
-- `worker events` looks a name up by and the proxy resolves an API base
-- from, none of which may need the encryption keys (or spend a decryption
-- per request). @names is a JSON array.
SELECT id, name, provider, token_url, authorize_url, client_id, scopes, auth_style, "grant",
       has_refresh_token, access_token_expires, refresh_token_expires, updating, updating_until,
       status, failure_count, next_attempt_at, last_error, last_refreshed_at, version,
       json_data, params, created_at, updated_at
FROM oauth_tokens
WHERE name IN (SELECT jsonb_array_elements_text(CAST(@names AS jsonb)))
