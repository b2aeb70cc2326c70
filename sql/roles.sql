-- Least-privilege roles for tokenwarden. Apply after the migrations as a role
-- that may create roles (`worker migrate --roles`, or psql -f). Idempotent.
-- Grant them to login roles, e.g.
--   CREATE ROLE billing_app LOGIN PASSWORD '...' IN ROLE tokenwarden_consumer;
--
-- tokenwarden_worker: refreshes and manages connections.
-- tokenwarden_consumer: reads access tokens and asks for refreshes (through
-- tokenwarden_invalidate_hash and tokenwarden_request_refresh), but can neither
-- read refresh tokens or client secrets nor change any row.
--
-- Roles are cluster-wide, so two databases (or replicas) applying this at
-- once race to create them: the loser's duplicate is ignored.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tokenwarden_worker') THEN
        BEGIN
            CREATE ROLE tokenwarden_worker NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tokenwarden_consumer') THEN
        BEGIN
            CREATE ROLE tokenwarden_consumer NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
END $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON oauth_tokens TO tokenwarden_worker;
GRANT SELECT, INSERT, DELETE ON oauth_token_events TO tokenwarden_worker;
GRANT USAGE ON SEQUENCE oauth_token_events_id_seq TO tokenwarden_worker;
GRANT SELECT, INSERT, UPDATE ON api_keys TO tokenwarden_worker;
-- The console's sessions, reconnect links and pending authorizations
-- (migration 00006); the worker's prune deletes the expired ones.
GRANT SELECT, INSERT, UPDATE, DELETE ON console_sessions, connect_links, oauth_authorizations TO tokenwarden_worker;
-- The key ids sealed values name (and what checks each key): start-up reads
-- them, the first seal under a key inserts its id, rekey trims the list.
-- Whole-table grants, here as on oauth_tokens, so that a column a
-- migration adds is the worker's without a change here.
GRANT SELECT, INSERT, UPDATE, DELETE ON oauth_token_keys TO tokenwarden_worker;

-- Column by column on purpose, unlike the worker's grants: the consumer may
-- not read refresh_token or client_secret. A column the consumer's read
-- (pkg/tokens/internal/reader/sql/get.sql) comes to need must be added here
-- (pkg/tokens' TestReady and TestLeastPrivilegeRolesWithEncryption fail
-- until it is).
REVOKE ALL ON oauth_tokens FROM tokenwarden_consumer;
GRANT SELECT (id, name, provider, access_token, access_token_expires, updating, updating_until,
              status, last_error, version, json_data, has_refresh_token)
    ON oauth_tokens TO tokenwarden_consumer;

REVOKE ALL ON FUNCTION tokenwarden_invalidate_hash(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tokenwarden_invalidate_hash(text, bytea) TO tokenwarden_consumer, tokenwarden_worker;
REVOKE ALL ON FUNCTION tokenwarden_request_refresh(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tokenwarden_request_refresh(text) TO tokenwarden_consumer, tokenwarden_worker;
