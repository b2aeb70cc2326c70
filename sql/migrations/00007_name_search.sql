-- 00007: the console's name filter (a substring or a glob, matched as a
-- case-insensitive regular expression) reads an index instead of the
-- whole table.
--
-- A filter matching few names walked oauth_tokens_console_idx to its end:
-- 258 ms for a substring and 838 ms for a glob at 1,000,000 rows (cmd/bench
-- -scenarios console). A trigram index (pg_trgm) answers ~*, LIKE and
-- ILIKE with any wildcard in 2-11 ms at that size, for 22 MB and about 10%
-- more time per stored token (measured on 100,000 updates).
--
-- pg_trgm ships with PostgreSQL and has been a trusted extension since
-- PostgreSQL 13, so the database's owner may create it. A role that may
-- not, or a server built without it, is not a reason to refuse the
-- upgrade: the filter stays correct without the index, only slower, and a
-- NOTICE says so, and running its two statements by hand once the
-- extension can be created adds the index.
--
-- +goose Up

-- +goose StatementBegin
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm is not available (%): the console''s name filter will scan the table', SQLERRM;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS oauth_tokens_name_trgm_idx ON oauth_tokens USING gin (name gin_trgm_ops);
    END IF;
EXCEPTION WHEN undefined_object THEN
    -- pg_trgm is installed in a schema outside the search path.
    RAISE NOTICE 'gin_trgm_ops is not on the search path: the console''s name filter will scan the table';
END $$;
-- +goose StatementEnd
