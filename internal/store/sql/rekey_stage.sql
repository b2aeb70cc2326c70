-- The staging table a rekey page COPYs its re-sealed rows into, gone at
-- commit: each row's sealed values and identity as read (old_*), and its
-- values as re-sealed.
CREATE TEMPORARY TABLE tokenwarden_rekey (
    id                uuid NOT NULL,
    old_provider      text,
    old_token_url     text,
    old_client_id     text,
    old_params        jsonb,
    old_grant         text,
    old_access_token  text,
    old_refresh_token text,
    old_client_secret text,
    access_token      text,
    refresh_token     text,
    client_secret     text
) ON COMMIT DROP
