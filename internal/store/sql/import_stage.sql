-- The staging table an import COPYs its rows into, gone at commit.
-- provider is NULL where the record leaves it out; has_tokens and fence
-- are what import_upsert.sql decides each row by; is_new says the row was
-- not there when the import looked it up, with the import lock held.
CREATE TEMPORARY TABLE tokenwarden_import (
    id                    uuid NOT NULL,
    name                  text NOT NULL,
    is_new                boolean NOT NULL,
    provider              text,
    token_url             text,
    client_id             text,
    client_secret         text,
    scopes                text,
    auth_style            text,
    access_token          text,
    access_token_sha256   bytea,
    refresh_token         text,
    access_token_expires  timestamptz,
    refresh_token_expires timestamptz,
    params                jsonb,
    has_tokens            boolean NOT NULL,
    fence                 boolean NOT NULL,
    -- NULL: new tokens make the row active, else its status is kept.
    status                text,
    "grant"               text,
    authorize_url         text
) ON COMMIT DROP
