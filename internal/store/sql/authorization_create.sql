-- Record a pending authorization-code flow, only if what it is for still
-- holds: the connection of a reconnect exists under its name, and the link
-- it was started from is unused and unexpired. The state is stored as its
-- SHA-256; the verifier and a new connection's client secret arrive sealed.
INSERT INTO oauth_authorizations (id, state_hash, token_id, name, link_id, redirect_uri, verifier, settings,
                                  client_secret, expires_at)
SELECT @id, @state_hash, CAST(@token_id AS uuid), @name, CAST(@link_id AS uuid), @redirect_uri, @verifier,
       CAST(@settings AS jsonb), @client_secret, now() + CAST(@ttl_us AS bigint) * interval '1 microsecond'
WHERE (CAST(@token_id AS uuid) IS NULL
       OR EXISTS (SELECT 1 FROM oauth_tokens WHERE id = CAST(@token_id AS uuid) AND name = @name))
  AND (CAST(@link_id AS uuid) IS NULL
       OR EXISTS (SELECT 1 FROM connect_links
                  WHERE id = CAST(@link_id AS uuid) AND token_id = CAST(@token_id AS uuid)
                    AND used_at IS NULL AND expires_at > now()))
RETURNING id
