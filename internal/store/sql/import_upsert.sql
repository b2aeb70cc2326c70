-- Upsert every staged row by name in one statement. A field left out of
-- the import (NULL here) keeps its stored value. New tokens revive the
-- connection (status active, failures reset) and fence any claim in
-- flight, so that a worker still refreshing the old refresh token cannot
-- overwrite the imported one. A changed identity (provider, token_url,
-- client_id, params) fences too: a late result would be sealed for the old
-- one (store.Import refuses the change while a claim is live).
--
-- Not INSERT ... ON CONFLICT DO UPDATE: the per-row has_tokens and fence
-- cannot reach the SET list through EXCLUDED. The import knows which rows
-- exist (it looked them up FOR UPDATE with the import lock held), so it
-- updates those and inserts the others. The update matches the id too, and
-- the insert does nothing on a conflict: a row created or recreated behind
-- the import's back is left alone and the caller sees the count fall
-- short, rather than secrets sealed for an id the row does not have.
WITH updated AS (
    UPDATE oauth_tokens AS t SET
        provider              = COALESCE(i.provider, t.provider),
        token_url             = COALESCE(i.token_url, t.token_url),
        authorize_url         = COALESCE(i.authorize_url, t.authorize_url),
        client_id             = COALESCE(i.client_id, t.client_id),
        client_secret         = COALESCE(i.client_secret, t.client_secret),
        scopes                = COALESCE(i.scopes, t.scopes),
        auth_style            = COALESCE(i.auth_style, t.auth_style),
        params                = COALESCE(i.params, t.params),
        "grant"               = COALESCE(i."grant", t."grant"),
        access_token          = CASE WHEN i.has_tokens THEN i.access_token ELSE t.access_token END,
        access_token_sha256   = CASE WHEN i.has_tokens THEN i.access_token_sha256 ELSE t.access_token_sha256 END,
        refresh_token         = COALESCE(i.refresh_token, t.refresh_token),
        access_token_expires  = CASE WHEN i.has_tokens THEN i.access_token_expires ELSE t.access_token_expires END,
        refresh_token_expires = CASE WHEN i.has_tokens THEN i.refresh_token_expires ELSE t.refresh_token_expires END,
        status                = COALESCE(i.status, CASE WHEN i.has_tokens THEN 'active' ELSE t.status END),
        failure_count         = CASE WHEN i.has_tokens THEN 0 ELSE t.failure_count END,
        next_attempt_at       = CASE WHEN i.has_tokens THEN NULL ELSE t.next_attempt_at END,
        last_error            = CASE WHEN i.has_tokens THEN NULL ELSE t.last_error END,
        updating              = CASE WHEN i.fence THEN false ELSE t.updating END,
        updating_until        = CASE WHEN i.fence THEN NULL ELSE t.updating_until END,
        claim_id              = CASE WHEN i.fence THEN NULL ELSE t.claim_id END,
        version               = CASE WHEN i.has_tokens THEN t.version + 1 ELSE t.version END
    FROM tokenwarden_import AS i
    WHERE NOT i.is_new AND t.name = i.name AND t.id = i.id
    RETURNING 1
), inserted AS (
    INSERT INTO oauth_tokens (
        id, name, provider, token_url, client_id, client_secret, scopes, auth_style,
        access_token, access_token_sha256, refresh_token, access_token_expires, refresh_token_expires, params,
        status, "grant", authorize_url
    )
    SELECT id, name, COALESCE(provider, 'oauth2'), token_url, client_id, client_secret, scopes, auth_style,
           access_token, access_token_sha256, refresh_token, access_token_expires, refresh_token_expires, params,
           COALESCE(status, 'active'), COALESCE("grant", 'refresh_token'), authorize_url
    FROM tokenwarden_import
    WHERE is_new
    ON CONFLICT (name) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM updated) + (SELECT count(*) FROM inserted)
