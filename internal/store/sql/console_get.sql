-- One connection for the console, every column but the secrets.
SELECT id, name, provider, token_url, authorize_url, client_id, scopes, auth_style, "grant",
       has_refresh_token, access_token_expires, refresh_token_expires, updating, updating_until,
       status, failure_count, next_attempt_at, last_error, last_refreshed_at, version,
       json_data, params, created_at, updated_at
FROM oauth_tokens
WHERE name = @name
