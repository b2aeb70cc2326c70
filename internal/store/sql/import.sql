-- Upsert one connection by name. A field left out of the import (NULL here)
-- keeps its stored value. New tokens revive the connection (status active,
-- failures reset) and fence any claim in flight, so that a worker still
-- refreshing the old refresh token cannot overwrite the imported one. A
-- changed identity (provider, token_url, client_id, params) fences too:
-- a late result would be sealed for the old one (store.Import refuses the
-- change while a claim is live).
INSERT INTO oauth_tokens AS t (
    id, name, provider, token_url, client_id, client_secret, scopes, auth_style,
    access_token, access_token_sha256, refresh_token, access_token_expires, refresh_token_expires, params
) VALUES (
    @id, @name, COALESCE(CAST(@provider AS text), 'oauth2'), @token_url, @client_id, @client_secret, @scopes, @auth_style,
    @access_token, decode(CAST(@access_token_sha256 AS text), 'hex'), @refresh_token, @access_token_expires, @refresh_token_expires, CAST(@params AS jsonb)
)
ON CONFLICT (name) DO UPDATE SET
    provider              = CASE WHEN CAST(@provider AS text) IS NULL THEN t.provider ELSE EXCLUDED.provider END,
    token_url             = COALESCE(EXCLUDED.token_url, t.token_url),
    client_id             = COALESCE(EXCLUDED.client_id, t.client_id),
    client_secret         = COALESCE(EXCLUDED.client_secret, t.client_secret),
    scopes                = COALESCE(EXCLUDED.scopes, t.scopes),
    auth_style            = COALESCE(EXCLUDED.auth_style, t.auth_style),
    params                = COALESCE(EXCLUDED.params, t.params),
    access_token          = CASE WHEN @has_tokens THEN EXCLUDED.access_token ELSE t.access_token END,
    access_token_sha256   = CASE WHEN @has_tokens THEN EXCLUDED.access_token_sha256 ELSE t.access_token_sha256 END,
    refresh_token         = COALESCE(EXCLUDED.refresh_token, t.refresh_token),
    access_token_expires  = CASE WHEN @has_tokens THEN EXCLUDED.access_token_expires ELSE t.access_token_expires END,
    refresh_token_expires = CASE WHEN @has_tokens THEN EXCLUDED.refresh_token_expires ELSE t.refresh_token_expires END,
    status                = CASE WHEN @has_tokens THEN 'active' ELSE t.status END,
    failure_count         = CASE WHEN @has_tokens THEN 0 ELSE t.failure_count END,
    next_attempt_at       = CASE WHEN @has_tokens THEN NULL ELSE t.next_attempt_at END,
    last_error            = CASE WHEN @has_tokens THEN NULL ELSE t.last_error END,
    updating              = CASE WHEN @fence THEN false ELSE t.updating END,
    updating_until        = CASE WHEN @fence THEN NULL ELSE t.updating_until END,
    claim_id              = CASE WHEN @fence THEN NULL ELSE t.claim_id END,
    version               = CASE WHEN @has_tokens THEN t.version + 1 ELSE t.version END
