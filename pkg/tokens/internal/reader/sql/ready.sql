-- Whether a consumer can work here: the database answers, the schema is
-- applied (a missing table or function is an error), this role may read
-- get.sql's columns (checked as the statement starts, though no row is
-- read) and may call what invalidate.sql and request_refresh.sql call.
SELECT has_function_privilege('tokenwarden_invalidate_hash(text, bytea)', 'EXECUTE')
       AND has_function_privilege('tokenwarden_request_refresh(text)', 'EXECUTE')
       AND NOT EXISTS (SELECT id, access_token, access_token_expires, updating, updating_until,
                              status, last_error, version, json_data, has_refresh_token
                       FROM oauth_tokens LIMIT 0)
