-- 00001: the schema of the last release before versioned migrations
-- (commit 0afbbf5's sql/schema.sql, byte for byte but for goose's
-- annotations). Every statement is idempotent, as that release applied it on
-- every deploy: on a database that ran it, or an earlier release's
-- schema.sql, this migration adds what is missing and changes nothing else;
-- on an empty database it creates everything.
--
-- +goose Up
-- tokenwarden schema. Applied by `worker migrate`; every statement is
-- idempotent so it can run on every deploy.
--
-- Two notification channels tie the pieces together:
--   tokenwarden_tokens  payload = connection name; sent by a trigger whenever a
--                       row's tokens, updating flag or status change, so any
--                       committed change (the worker's or an operator's SQL)
--                       wakes consumers blocked in tokens.Get.
--   tokenwarden_refresh payload = connection name; sent when someone asks for a
--                       refresh (Invalidate, an expired Get, `worker clear`), so
--                       the worker runs a pass at once instead of at its next poll.

CREATE TABLE IF NOT EXISTS oauth_tokens (
    id                    uuid PRIMARY KEY,
    name                  text NOT NULL UNIQUE CHECK (name <> ''),
    provider              text NOT NULL DEFAULT 'oauth2',
    token_url             text,
    client_id             text,
    client_secret         text,
    scopes                text,
    -- Client authentication override for this connection (basic, post); NULL
    -- means the provider template's default.
    auth_style            text,
    access_token          text,
    refresh_token         text,
    -- NULL means the access token never expires (e.g. Mailchimp).
    access_token_expires  timestamptz,
    refresh_token_expires timestamptz,
    updating              boolean NOT NULL DEFAULT false,
    -- End of the current claim's lease: after it another worker may take over.
    updating_until        timestamptz,
    -- Fencing token of the current claim. A worker stores its result only
    -- where claim_id still equals the value it claimed with, so a worker whose
    -- lease ran out and was taken over cannot overwrite the newer tokens.
    claim_id              uuid,
    status                text NOT NULL DEFAULT 'active'
                          CHECK (status IN ('active', 'needs_reauth', 'disabled')),
    failure_count         int NOT NULL DEFAULT 0,
    next_attempt_at       timestamptz,
    last_error            text,
    last_refreshed_at     timestamptz,
    version               bigint NOT NULL DEFAULT 0,
    json_data             jsonb,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Finding due rows is a range scan over this index whatever the table size:
-- only refreshable rows are in it, ordered by expiry.
-- Provider parameters of the connection (Microsoft tenant, Webex app_id,
-- Salesforce session lifetime, ...), filled into the template's
-- placeholders. Added after the first release, hence ALTER.
ALTER TABLE oauth_tokens ADD COLUMN IF NOT EXISTS params jsonb;

CREATE INDEX IF NOT EXISTS oauth_tokens_due_idx
    ON oauth_tokens (access_token_expires)
    WHERE status = 'active' AND refresh_token IS NOT NULL;

-- SHA-256 of the plaintext access token, so that Invalidate can compare a
-- consumer's stale token in one statement even when the token is sealed. A
-- hash of a high-entropy token reveals nothing usable.
ALTER TABLE oauth_tokens ADD COLUMN IF NOT EXISTS access_token_sha256 bytea;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tokenwarden_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    -- Plaintext tokens (an operator's SQL, or no encryption) are hashed
    -- here; the worker supplies the hash of the tokens it seals.
    IF NEW.access_token IS NULL THEN
        NEW.access_token_sha256 := NULL;
    ELSIF NEW.access_token NOT LIKE 'twenc:v1:%' THEN
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tokenwarden_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('tokenwarden_tokens', OLD.name);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('tokenwarden_tokens', NEW.name);
    RETURN NEW;
END $$;
-- +goose StatementEnd

-- Every refresh attempt, so an operator can answer "why did this
-- connection die" (`worker events NAME`). No foreign key: events outlive a
-- deleted connection, and the worker's batch writes stay cheap. Pruned by
-- the worker after TOKENS_EVENTS_RETENTION.
CREATE TABLE IF NOT EXISTS oauth_token_events (
    id          bigserial PRIMARY KEY,
    token_id    uuid NOT NULL,
    name        text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    -- success, transient, reauth, or fenced (the claim had been taken over
    -- and the result was refused).
    outcome     text NOT NULL,
    duration_ms int,
    http_status int,
    error       text,
    version     bigint
);
CREATE INDEX IF NOT EXISTS oauth_token_events_name_at_idx ON oauth_token_events (name, at DESC);
CREATE INDEX IF NOT EXISTS oauth_token_events_at_idx ON oauth_token_events (at);

-- Lets a consumer role, which may not read refresh_token, know whether a
-- connection can be refreshed at all.
ALTER TABLE oauth_tokens ADD COLUMN IF NOT EXISTS has_refresh_token boolean
    GENERATED ALWAYS AS (refresh_token IS NOT NULL AND refresh_token <> '') STORED;

-- A consumer got 401 with the token stored as p_access_token (the stored
-- value, sealed or not). Make the row due only if it still holds that
-- value, so many consumers failing with one token cause one refresh, and
-- wake the workers. SECURITY DEFINER: the consumer role may call this but
-- may not update the table itself (sql/roles.sql).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tokenwarden_invalidate(p_name text, p_access_token text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    -- LEAST ignores NULL, so a never-expiring token becomes due too.
    UPDATE oauth_tokens
    SET access_token_expires = LEAST(access_token_expires, now())
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

-- The same in one statement, comparing the SHA-256 of the stale token:
-- 'marked', 'stale' (the row holds another token), 'missing' (no such
-- connection) or 'unhashed' (a sealed token stored before the hash column
-- existed: compare it the long way, tokenwarden_invalidate).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tokenwarden_invalidate_hash(p_name text, p_sha256 bytea) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    r record;
BEGIN
    UPDATE oauth_tokens
    SET access_token_expires = LEAST(access_token_expires, now())
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

-- Wake the workers for a connection a consumer is waiting on.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tokenwarden_request_refresh(p_name text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT pg_notify('tokenwarden_refresh', p_name);
$$;
-- +goose StatementEnd

-- The encryption keys the table's sealed values may name, recorded when a
-- key first seals something, so that start-up can check the configured
-- keys without reading every row. worker rekey trims it.
CREATE TABLE IF NOT EXISTS oauth_token_keys (
    key_id        text PRIMARY KEY,
    first_used_at timestamptz NOT NULL DEFAULT now()
);

DROP TRIGGER IF EXISTS oauth_tokens_before_write ON oauth_tokens;
CREATE TRIGGER oauth_tokens_before_write
    BEFORE INSERT OR UPDATE ON oauth_tokens
    FOR EACH ROW EXECUTE FUNCTION tokenwarden_before_write();

DROP TRIGGER IF EXISTS oauth_tokens_notify_update ON oauth_tokens;
CREATE TRIGGER oauth_tokens_notify_update
    AFTER UPDATE ON oauth_tokens
    FOR EACH ROW
    WHEN (OLD.access_token IS DISTINCT FROM NEW.access_token
       OR OLD.access_token_expires IS DISTINCT FROM NEW.access_token_expires
       OR OLD.updating IS DISTINCT FROM NEW.updating
       OR OLD.status IS DISTINCT FROM NEW.status
       OR OLD.version IS DISTINCT FROM NEW.version
       OR OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION tokenwarden_notify_change();

DROP TRIGGER IF EXISTS oauth_tokens_notify_insert_delete ON oauth_tokens;
CREATE TRIGGER oauth_tokens_notify_insert_delete
    AFTER INSERT OR DELETE ON oauth_tokens
    FOR EACH ROW EXECUTE FUNCTION tokenwarden_notify_change();

-- API keys of the token HTTP API (`worker apikey create|list|revoke`). Only
-- a SHA-256 hash of each key is stored; patterns is a JSON array of
-- path.Match globs naming the connections the key may read.
CREATE TABLE IF NOT EXISTS api_keys (
    id           text PRIMARY KEY,
    label        text NOT NULL DEFAULT '',
    key_hash     bytea NOT NULL,
    patterns     jsonb NOT NULL CHECK (jsonb_typeof(patterns) = 'array'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
