-- The unused, unexpired link whose secret hashes to @secret_hash, with its
-- connection's provider. A read only: a GET of the link's page (or a
-- link-preview bot) consumes nothing.
SELECT l.id, l.token_id, l.name, t.provider, l.created_by, l.created_at, l.expires_at
FROM connect_links AS l
JOIN oauth_tokens AS t ON t.id = l.token_id
WHERE l.secret_hash = @secret_hash
  AND l.used_at IS NULL
  AND l.expires_at > now()
