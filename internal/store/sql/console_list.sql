-- One page of the console's connection list, in its order: access-token
-- expiry, soonest first, never-expiring (NULL) last, then name. Keyset
-- pagination on oauth_tokens_console_idx (access_token_expires, name): the
-- first branch is an index range after the cursor among the rows with an
-- expiry, the second the NULL-expiry rows after the cursor's name (an
-- index range too, ordered as the index is, all NULL, so that nothing but
-- the page is sorted), so a page costs the same at row 1,000,000 as at row
-- 1 (never OFFSET). The outer sort orders at most twice @limit rows, so the
-- page's order never rests on how UNION ALL happens to run. @after_null:
-- the cursor is already among the NULLs, and the first branch is skipped.
-- The filters are applied as the index is walked; @name_re is a
-- case-insensitive regular expression ('' for none). No secret column is
-- read.
SELECT * FROM (
    (SELECT id, name, provider, token_url, authorize_url, client_id, scopes, auth_style, "grant",
            has_refresh_token, access_token_expires, refresh_token_expires, updating, updating_until,
            status, failure_count, next_attempt_at, last_error, last_refreshed_at, version,
            json_data, params, created_at, updated_at
     FROM oauth_tokens
     WHERE NOT @after_null
       AND access_token_expires IS NOT NULL
       AND (access_token_expires, name) > (CAST(@after_expires AS timestamptz), CAST(@after_name AS text))
       AND (@status = '' OR status = @status)
       AND (@provider = '' OR provider = @provider)
       AND (@name_re = '' OR name ~* @name_re)
     ORDER BY access_token_expires, name
     LIMIT @limit)
    UNION ALL
    (SELECT id, name, provider, token_url, authorize_url, client_id, scopes, auth_style, "grant",
            has_refresh_token, access_token_expires, refresh_token_expires, updating, updating_until,
            status, failure_count, next_attempt_at, last_error, last_refreshed_at, version,
            json_data, params, created_at, updated_at
     FROM oauth_tokens
     WHERE access_token_expires IS NULL
       AND name > @after_null_name
       AND (@status = '' OR status = @status)
       AND (@provider = '' OR provider = @provider)
       AND (@name_re = '' OR name ~* @name_re)
     ORDER BY access_token_expires, name
     LIMIT @limit)
) AS page
ORDER BY access_token_expires NULLS LAST, name
LIMIT @limit
