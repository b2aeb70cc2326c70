-- 00003: one way to invalidate a token: by the SHA-256 of the stale token
-- (tokenwarden_invalidate_hash), for every row. Before this, a sealed
-- access token stored before access_token_sha256 existed could only be
-- compared after opening it, outside SQL (tokenwarden_invalidate and the
-- 'unhashed' outcome); that path goes, so every row must have its hash
-- first.
--
-- +goose Up

-- Plaintext tokens without a hash (rows from before the hash column, not
-- written since): hash them here, as the before-write trigger would.
UPDATE oauth_tokens
SET access_token_sha256 = sha256(convert_to(access_token, 'UTF8'))
WHERE access_token IS NOT NULL
  AND access_token_sha256 IS NULL
  AND access_token NOT LIKE 'twenc:v_:%';

-- Sealed tokens without a hash cannot be hashed in SQL: the database never
-- holds the keys. Make each refreshable one due now instead, as an
-- Invalidate would: the worker refreshes it at once and stores the new
-- token with its hash. Until then a consumer reading it sees an expired
-- token and waits for the refresh, as after `worker clear`. A row that
-- cannot be refreshed (not active, or no refresh token) is left as it is:
-- Invalidate never marked such a row either.
UPDATE oauth_tokens
SET access_token_expires = LEAST(access_token_expires, now()),
    refresh_not_before = NULL
WHERE access_token LIKE 'twenc:v_:%'
  AND access_token_sha256 IS NULL
  AND status = 'active'
  AND refresh_token IS NOT NULL;

DROP FUNCTION IF EXISTS tokenwarden_invalidate(text, text);

-- A consumer got 401 with the token whose SHA-256 is p_sha256. Make the
-- row due only if it still holds that token, so many consumers failing
-- with one token cause one refresh, and wake the workers. 'marked',
-- 'stale' (the row holds another token) or 'missing' (no such
-- connection). SECURITY DEFINER: the consumer role may call this but may
-- not update the table itself (sql/roles.sql).
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
      AND refresh_token IS NOT NULL;
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
