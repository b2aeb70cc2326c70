-- A few rows holding a value sealed under the key, to check that key's
-- bytes by opening them when no check value was recorded for it. A scan,
-- done once per key.
SELECT id, name, provider, token_url, client_id, params, "grant", access_token, refresh_token, client_secret
FROM oauth_tokens
WHERE @key_id IN (split_part(access_token, ':', 3), split_part(refresh_token, ':', 3), split_part(client_secret, ':', 3))
LIMIT 20
