-- tokenwarden schema: the whole of it, as a fresh install has it.
--
-- This file is for reading. `worker migrate` builds the schema from the
-- numbered migrations in sql/migrations (embedded in the binary, recorded
-- in goose_db_version), which is what takes an existing database from its
-- release to this one; TestMigrationsBuildSchemaSQL checks that the
-- migrations and this file describe the same catalog, function bodies
-- included. A change to the schema is a new migration and the same change
-- here.
--
-- Two notification channels tie the pieces together:
--   tokenwarden_tokens  payload = connection name; sent by a trigger whenever a
--                       row's tokens, updating flag or status change, so any
--                       committed change (the worker's or an operator's SQL)
--                       wakes consumers blocked in tokens.Get.
--   tokenwarden_refresh payload = connection name; sent when someone asks for a
--                       refresh (Invalidate, an expired Get, `worker clear`), so
--                       the worker runs a pass at once instead of at its next poll.

-- One row per connection. The columns are in the order the migrations
-- created them, as in every database that grew release by release.
CREATE TABLE oauth_tokens (
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
    -- End of the backoff after a failed attempt.
    next_attempt_at       timestamptz,
    last_error            text,
    last_refreshed_at     timestamptz,
    version               bigint NOT NULL DEFAULT 0,
    json_data             jsonb,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    -- Provider parameters of the connection (Microsoft tenant, Webex app_id,
    -- Salesforce session lifetime, ...), filled into the template's
    -- placeholders.
    params                jsonb,
    -- SHA-256 of the plaintext access token, so that Invalidate compares a
    -- consumer's stale token in one statement even when the token is sealed.
    -- A hash of a high-entropy token reveals nothing usable. Every row with
    -- an access token has it (migration 00003).
    access_token_sha256   bytea,
    -- The earliest a refresh may be scheduled: the worker sets it when it
    -- stores a token, to half the token's lifetime and at least a floor after
    -- the answer. A row is due when its expiry is within TOKENS_REFRESH_BEFORE
    -- and this time has passed, so a token is refreshed once per lifetime
    -- whatever its length: with 60 s tokens and a 5 min window the expiry
    -- alone would make every stored token due again at once. NULL: no
    -- constraint (imported rows, and any explicit request for a refresh).
    refresh_not_before    timestamptz,
    -- When what holds the row inside its refresh window ends (its lease,
    -- its backoff, or a schedule that comes after the window opens); NULL
    -- when nothing holds it.
    -- Kept by tokenwarden_before_write from the row's own columns; it only
    -- sorts rows between oauth_tokens_due_idx and oauth_tokens_held_idx
    -- (migration 00004 says why).
    held_until            timestamptz,
    -- How the worker obtains the next access token (migration 00005): with
    -- the refresh token, or with the connection's own credentials.
    "grant"               text NOT NULL DEFAULT 'refresh_token'
                          CHECK ("grant" IN ('refresh_token', 'client_credentials', 'jwt_bearer', 'github_app')),
    -- Lets a consumer role, which may not read refresh_token, know whether a
    -- connection can be refreshed at all: it has a refresh token, or its
    -- grant needs none. The claims and the due/held indexes use it too.
    has_refresh_token     boolean
                          GENERATED ALWAYS AS ("grant" <> 'refresh_token' OR (refresh_token IS NOT NULL AND refresh_token <> '')) STORED,
    -- A generic oauth2 connection's own authorization endpoint, as token_url
    -- is its token endpoint (migration 00006), so that it can be reconnected
    -- in a browser; NULL: the template's. Not bound into the sealing
    -- identity: no secret is ever sent to it.
    authorize_url         text
);

-- The rows a claim finds by expiry: refreshable and not held. Finding due
-- rows is a range scan over this index whatever the table size.
CREATE INDEX oauth_tokens_due_idx
    ON oauth_tokens (access_token_expires)
    WHERE status = 'active' AND has_refresh_token AND held_until IS NULL;

-- The held rows, by the end of their hold: a claim takes those whose hold
-- has ended, without reading those whose hold has not.
CREATE INDEX oauth_tokens_held_idx
    ON oauth_tokens (held_until)
    WHERE status = 'active' AND has_refresh_token AND held_until IS NOT NULL;

-- The connections out of service (needs_reauth, disabled), few in a
-- healthy table, so that the metrics count them without reading the rest.
CREATE INDEX oauth_tokens_inactive_idx
    ON oauth_tokens (status)
    WHERE status <> 'active';

-- The console's list in its order: expiry (never-expiring last), then
-- name, so that a page is an index range at any table size (keyset
-- pagination, store/sql/console_list.sql).
CREATE INDEX oauth_tokens_console_idx ON oauth_tokens (access_token_expires, name);

-- The console's name filter (a substring or glob, matched with ~*) on a
-- trigram index, when pg_trgm can be created; without it the filter is
-- correct but reads the table (migration 00007 says why).
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm is not available (%): the console''s name filter will scan the table', SQLERRM;
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS oauth_tokens_name_trgm_idx ON oauth_tokens USING gin (name gin_trgm_ops);
    END IF;
EXCEPTION WHEN undefined_object THEN
    RAISE NOTICE 'gin_trgm_ops is not on the search path: the console''s name filter will scan the table';
END $$;

CREATE FUNCTION tokenwarden_before_write() RETURNS trigger
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
    -- What holds the row in its refresh window, if anything: its lease, its
    -- backoff, and its schedule if the writer parked it there (set
    -- held_until to refresh_not_before); GREATEST ignores NULL. A parked
    -- schedule lasts while refresh_not_before does. A held row is held
    -- until its schedule too, so that held_until is when it may next be
    -- claimed.
    NEW.held_until := GREATEST(
        NEW.next_attempt_at,
        CASE WHEN NEW.updating THEN NEW.updating_until END,
        CASE WHEN NEW.held_until = NEW.refresh_not_before THEN NEW.refresh_not_before END);
    IF NEW.held_until IS NOT NULL THEN
        NEW.held_until := GREATEST(NEW.held_until, NEW.refresh_not_before);
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

CREATE FUNCTION tokenwarden_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('tokenwarden_tokens', OLD.name);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('tokenwarden_tokens', NEW.name);
    RETURN NEW;
END $$;

CREATE TRIGGER oauth_tokens_before_write
    BEFORE INSERT OR UPDATE ON oauth_tokens
    FOR EACH ROW EXECUTE FUNCTION tokenwarden_before_write();

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

CREATE TRIGGER oauth_tokens_notify_insert_delete
    AFTER INSERT OR DELETE ON oauth_tokens
    FOR EACH ROW EXECUTE FUNCTION tokenwarden_notify_change();

-- A consumer got 401 with the token whose SHA-256 is p_sha256. Make the
-- row due only if it still holds that token, so many consumers failing
-- with one token cause one refresh, and wake the workers. 'marked',
-- 'stale' (the row holds another token) or 'missing' (no such
-- connection). SECURITY DEFINER: the consumer role may call this but may
-- not update the table itself (sql/roles.sql).
CREATE FUNCTION tokenwarden_invalidate_hash(p_name text, p_sha256 bytea) RETURNS text
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

-- Wake the workers for a connection a consumer is waiting on.
CREATE FUNCTION tokenwarden_request_refresh(p_name text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT pg_notify('tokenwarden_refresh', p_name);
$$;

-- Every refresh attempt, so an operator can answer "why did this
-- connection die" (`worker events NAME`). No foreign key: events outlive a
-- deleted connection, and the worker's batch writes stay cheap. Pruned by
-- the worker after TOKENS_EVENTS_RETENTION.
CREATE TABLE oauth_token_events (
    id          bigserial PRIMARY KEY,
    token_id    uuid NOT NULL,
    name        text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    -- success, transient, reauth, config (the connection's configuration
    -- was refused at refresh time; nothing was sent), or fenced (the claim
    -- had been taken over and the result was refused).
    outcome     text NOT NULL,
    duration_ms int,
    http_status int,
    error       text,
    version     bigint
);
CREATE INDEX oauth_token_events_name_at_idx ON oauth_token_events (name, at DESC);
CREATE INDEX oauth_token_events_at_idx ON oauth_token_events (at);

-- The encryption keys the table's sealed values may name, recorded when a
-- key first seals something, so that start-up can check the configured
-- keys without reading every row. worker rekey trims it.
CREATE TABLE oauth_token_keys (
    key_id        text PRIMARY KEY,
    first_used_at timestamptz NOT NULL DEFAULT now(),
    -- What the key's bytes were (hex of a truncated HMAC of a constant under
    -- the key; it reveals nothing of the key): a key given with a known id
    -- but other bytes is refused before it seals or opens anything. NULL for
    -- a key recorded before this column, filled on the key's first use once
    -- it has opened a value sealed under it (store.trustOnFirstUse).
    check_value   text
);

-- API keys of the token HTTP API (`worker apikey create|list|revoke`). Only
-- a SHA-256 hash of each key is stored; patterns is a JSON array of
-- path.Match globs naming the connections the key may read.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    label        text NOT NULL DEFAULT '',
    key_hash     bytea NOT NULL,
    patterns     jsonb NOT NULL CHECK (jsonb_typeof(patterns) = 'array'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    -- An admin key opens the console (migration 00006) and nothing else:
    -- its patterns are empty, so the token API and the proxy refuse it.
    admin        boolean NOT NULL DEFAULT false
);

-- Signed-in console operators. The cookie holds a random 256-bit token;
-- only its SHA-256 is here, so reading this table signs nobody in. A
-- session is an admin key's (key_id), and ends with its key (revoked:
-- refused on read; deleted: cascade), or a person's signed in through
-- OpenID Connect (migration 00008: the ID token's subject and email),
-- which ends at expires_at or sign-out. Exactly one of the two is set.
CREATE TABLE console_sessions (
    token_hash   bytea PRIMARY KEY,
    key_id       text REFERENCES api_keys (id) ON DELETE CASCADE,
    -- The token every state-changing console request carries.
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    oidc_subject text,
    oidc_email   text,
    CONSTRAINT console_sessions_one_kind CHECK (
        (key_id IS NOT NULL AND oidc_subject IS NULL AND oidc_email IS NULL)
        OR (key_id IS NULL AND oidc_subject IS NOT NULL AND oidc_email IS NOT NULL)
    )
);
CREATE INDEX console_sessions_key_id_idx ON console_sessions (key_id);
CREATE INDEX console_sessions_expires_at_idx ON console_sessions (expires_at);

-- Reconnect links (`worker connect-link`): each re-authorizes one
-- connection, once, before it expires. The link carries a random 256-bit
-- secret and only its SHA-256 is here: as unforgeable as a signature, and
-- unlike one it can be used up (used_at) and revoked server-side.
CREATE TABLE connect_links (
    id          uuid PRIMARY KEY,
    secret_hash bytea NOT NULL UNIQUE,
    token_id    uuid NOT NULL REFERENCES oauth_tokens (id) ON DELETE CASCADE,
    name        text NOT NULL,
    -- Who made it: the admin key's id, or 'cli'.
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX connect_links_token_id_idx ON connect_links (token_id);
CREATE INDEX connect_links_expires_at_idx ON connect_links (expires_at);

-- Authorization-code flows between the consent page and the callback
-- (10 minutes). state_hash is the SHA-256 of the OAuth state; the PKCE
-- verifier and a new connection's client secret are sealed with
-- TOKENS_ENCRYPTION_KEYS (bound to the flow's id). token_id is the
-- connection a reconnect stores into; a new connection has only its name
-- and settings (provider, client_id, scopes, params, URLs). A flow is
-- consumed once (used_at) by one UPDATE, so a replayed state finds nothing.
CREATE TABLE oauth_authorizations (
    id            uuid PRIMARY KEY,
    state_hash    bytea NOT NULL UNIQUE,
    token_id      uuid REFERENCES oauth_tokens (id) ON DELETE CASCADE,
    name          text NOT NULL,
    link_id       uuid REFERENCES connect_links (id) ON DELETE CASCADE,
    redirect_uri  text NOT NULL,
    verifier      text NOT NULL,
    settings      jsonb,
    client_secret text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
CREATE INDEX oauth_authorizations_token_id_idx ON oauth_authorizations (token_id);
CREATE INDEX oauth_authorizations_link_id_idx ON oauth_authorizations (link_id);
CREATE INDEX oauth_authorizations_expires_at_idx ON oauth_authorizations (expires_at);
