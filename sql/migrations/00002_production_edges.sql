-- 00002: what issue 11 ("production edges") added to the schema after the
-- release of 00001. Safe on a database whose schema.sql already had some of
-- it (a build between the two): columns are added IF NOT EXISTS and
-- functions replaced.
--
-- The event outcome 'config' needs no DDL: oauth_token_events.outcome is
-- plain text.
--
-- +goose Up

-- The earliest a refresh may be scheduled: the worker sets it when it
-- stores a token, to half the token's lifetime and at least a floor after
-- the answer. A row is due when its expiry is within TOKENS_REFRESH_BEFORE
-- and this time has passed, so a token is refreshed once per lifetime
-- whatever its length. NULL: no constraint (imported rows, and any
-- explicit request for a refresh).
ALTER TABLE oauth_tokens ADD COLUMN IF NOT EXISTS refresh_not_before timestamptz;

-- What the key's bytes were (hex of a truncated HMAC of a constant under
-- the key; it reveals nothing of the key): a key given with a known id but
-- other bytes is refused before it seals or opens anything. NULL for a key
-- recorded before this column, filled on the key's first use once it has
-- opened a value sealed under it (store.trustOnFirstUse).
ALTER TABLE oauth_token_keys ADD COLUMN IF NOT EXISTS check_value text;

-- A new expiry written without a schedule drops the schedule; the hash
-- skips sealed tokens of any format version (twenc:v1 and the bound v2).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tokenwarden_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    -- A new expiry written without a schedule (an operator's SQL, clear,
    -- import, Invalidate) is a request to follow the expiry: drop the
    -- schedule the last refresh set.
    IF TG_OP = 'UPDATE'
       AND NEW.access_token_expires IS DISTINCT FROM OLD.access_token_expires
       AND NEW.refresh_not_before IS NOT DISTINCT FROM OLD.refresh_not_before THEN
        NEW.refresh_not_before := NULL;
    END IF;
    -- Plaintext tokens (an operator's SQL, or no encryption) are hashed
    -- here; the worker supplies the hash of the tokens it seals.
    IF NEW.access_token IS NULL THEN
        NEW.access_token_sha256 := NULL;
    ELSIF NEW.access_token NOT LIKE 'twenc:v_:%' THEN
        NEW.access_token_sha256 := sha256(convert_to(NEW.access_token, 'UTF8'));
    END IF;
    -- A row without an access token must be refreshed now; treating a NULL
    -- expiry as "never" here would leave it unusable forever.
    IF NEW.access_token IS NULL OR NEW.access_token = '' THEN
        NEW.access_token := NULL;
        IF NEW.access_token_expires IS NULL OR NEW.access_token_expires > now() THEN
            NEW.access_token_expires := now();
        END IF;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd

-- An invalidated row is due now, whatever its schedule.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tokenwarden_invalidate(p_name text, p_access_token text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    -- LEAST ignores NULL, so a never-expiring token becomes due too.
    UPDATE oauth_tokens
    SET access_token_expires = LEAST(access_token_expires, now()),
        refresh_not_before = NULL
    WHERE name = p_name
      AND access_token = p_access_token
      AND status = 'active'
      AND refresh_token IS NOT NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_notify('tokenwarden_refresh', p_name);
    RETURN true;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tokenwarden_invalidate_hash(p_name text, p_sha256 bytea) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    r record;
BEGIN
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
    SELECT access_token, access_token_sha256 INTO r FROM oauth_tokens WHERE name = p_name;
    IF NOT FOUND THEN
        RETURN 'missing';
    END IF;
    IF r.access_token IS NOT NULL AND r.access_token_sha256 IS NULL THEN
        RETURN 'unhashed';
    END IF;
    RETURN 'stale';
END $$;
-- +goose StatementEnd
