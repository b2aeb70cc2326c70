-- One page of `worker export`: the rows after @after by name, which the
-- unique index on name walks without sorting, so that a page costs the
-- same at the end of a million rows as at the start (keyset pagination,
-- never OFFSET). The secrets are read only when the export writes them
-- (@secrets): an export without them never has them in memory. The name
-- globs are matched by the caller, with path.Match, as API keys match them.
SELECT id, name, provider, token_url, authorize_url, client_id, scopes, auth_style, params, "grant",
       access_token_expires, refresh_token_expires, status,
       CASE WHEN @secrets THEN client_secret END,
       CASE WHEN @secrets THEN access_token END,
       CASE WHEN @secrets THEN refresh_token END
FROM oauth_tokens
WHERE name > @after
  AND (@status = '' OR status = @status)
ORDER BY name
LIMIT @limit
