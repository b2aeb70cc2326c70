-- 00006: the operator console and the hosted (re)connect (issue 13).
--
-- api_keys.admin: an admin key opens the console and nothing else; the
-- token API and the proxy refuse it (it has no name patterns).
--
-- oauth_tokens.authorize_url: a generic oauth2 connection's own
-- authorization endpoint, as token_url is its token endpoint, so that it
-- can be reconnected like a templated one. It is not part of the identity
-- secrets are sealed to: no secret is ever sent to it.
--
-- Three small tables, each holding only hashes of what a browser carries
-- (a cookie, a link, an OAuth state), so that a reader of the database
-- can neither sign in, nor use a link, nor complete a flow:
--   console_sessions:     a signed-in operator, gone with its key;
--   connect_links:        a single-use reconnect link for one connection;
--   oauth_authorizations: an authorization-code flow between the consent
--                         page and the callback (10 minutes), its PKCE
--                         verifier and a new connection's client secret
--                         sealed with TOKENS_ENCRYPTION_KEYS.
-- The worker's prune deletes what has expired.
--
-- oauth_tokens_console_idx walks the console's list in its order (expiry,
-- never-expiring last, then name), so a page is an index range at any
-- table size (keyset pagination, never OFFSET).
--
-- +goose Up

ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS admin boolean NOT NULL DEFAULT false;

ALTER TABLE oauth_tokens ADD COLUMN IF NOT EXISTS authorize_url text;

CREATE INDEX IF NOT EXISTS oauth_tokens_console_idx ON oauth_tokens (access_token_expires, name);

CREATE TABLE IF NOT EXISTS console_sessions (
    token_hash bytea PRIMARY KEY,
    key_id     text NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_key_id_idx ON console_sessions (key_id);
CREATE INDEX IF NOT EXISTS console_sessions_expires_at_idx ON console_sessions (expires_at);

CREATE TABLE IF NOT EXISTS connect_links (
    id          uuid PRIMARY KEY,
    secret_hash bytea NOT NULL UNIQUE,
    token_id    uuid NOT NULL REFERENCES oauth_tokens (id) ON DELETE CASCADE,
    name        text NOT NULL,
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX IF NOT EXISTS connect_links_token_id_idx ON connect_links (token_id);
CREATE INDEX IF NOT EXISTS connect_links_expires_at_idx ON connect_links (expires_at);

CREATE TABLE IF NOT EXISTS oauth_authorizations (
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
CREATE INDEX IF NOT EXISTS oauth_authorizations_token_id_idx ON oauth_authorizations (token_id);
CREATE INDEX IF NOT EXISTS oauth_authorizations_link_id_idx ON oauth_authorizations (link_id);
CREATE INDEX IF NOT EXISTS oauth_authorizations_expires_at_idx ON oauth_authorizations (expires_at);

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tokenwarden_worker') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON console_sessions, connect_links, oauth_authorizations TO tokenwarden_worker;
    END IF;
END $$;
-- +goose StatementEnd
