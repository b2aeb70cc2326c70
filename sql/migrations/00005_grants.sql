-- 00005: a connection has a grant, the way the worker obtains its next
-- access token: refresh_token (every connection before this migration),
-- client_credentials, jwt_bearer or github_app. The last three need no
-- refresh token: the connection's own credentials obtain each token.
--
-- has_refresh_token, which the consumer reads to know whether an expired
-- token will ever be replaced and which the claims and the due/held
-- indexes now use to find refreshable rows, becomes "can be refreshed":
-- a refresh token, or a grant that needs none. PostgreSQL 15 cannot change
-- a generated column's expression, so the column is dropped and added
-- again (it moves to the end of the table), and the consumer role's grant
-- on it, dropped with it, is given back when the role exists.
--
-- +goose Up

ALTER TABLE oauth_tokens ADD COLUMN IF NOT EXISTS "grant" text NOT NULL DEFAULT 'refresh_token'
    CHECK ("grant" IN ('refresh_token', 'client_credentials', 'jwt_bearer', 'github_app'));

DROP INDEX IF EXISTS oauth_tokens_due_idx;
DROP INDEX IF EXISTS oauth_tokens_held_idx;
ALTER TABLE oauth_tokens DROP COLUMN has_refresh_token;
ALTER TABLE oauth_tokens ADD COLUMN has_refresh_token boolean
    GENERATED ALWAYS AS ("grant" <> 'refresh_token' OR (refresh_token IS NOT NULL AND refresh_token <> '')) STORED;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tokenwarden_consumer') THEN
        GRANT SELECT (has_refresh_token) ON oauth_tokens TO tokenwarden_consumer;
    END IF;
END $$;
-- +goose StatementEnd

CREATE INDEX oauth_tokens_due_idx
    ON oauth_tokens (access_token_expires)
    WHERE status = 'active' AND has_refresh_token AND held_until IS NULL;

CREATE INDEX oauth_tokens_held_idx
    ON oauth_tokens (held_until)
    WHERE status = 'active' AND has_refresh_token AND held_until IS NOT NULL;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tokenwarden_invalidate_hash(p_name text, p_sha256 bytea) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    -- LEAST ignores NULL, so a never-expiring token becomes due too.
    UPDATE oauth_tokens
    SET access_token_expires = LEAST(access_token_expires, now()),
        refresh_not_before = NULL
    WHERE name = p_name
      AND access_token_sha256 = p_sha256
      AND status = 'active'
      AND has_refresh_token;
    IF FOUND THEN
        PERFORM pg_notify('tokenwarden_refresh', p_name);
        RETURN 'marked';
    END IF;
    IF EXISTS (SELECT 1 FROM oauth_tokens WHERE name = p_name) THEN
        RETURN 'stale';
    END IF;
    RETURN 'missing';
END $$;
-- +goose StatementEnd
