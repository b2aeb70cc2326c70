-- A reconnect link for the named connection, tied to its id: a connection
-- deleted and created again under the same name is not the one the link
-- was made for (the foreign key deletes the link with its connection).
-- Only the SHA-256 of the link's secret is stored.
WITH l AS (
    INSERT INTO connect_links (id, secret_hash, token_id, name, created_by, expires_at)
    SELECT @id, @secret_hash, id, name, @created_by, now() + CAST(@ttl_us AS bigint) * interval '1 microsecond'
    FROM oauth_tokens
    WHERE name = @name
    RETURNING id, token_id, name, created_by, created_at, expires_at
)
SELECT l.id, l.token_id, l.name, t.provider, l.created_by, l.created_at, l.expires_at
FROM l JOIN oauth_tokens AS t ON t.id = l.token_id
