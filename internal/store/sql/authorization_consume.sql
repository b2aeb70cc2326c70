-- Consume the pending authorization whose state hashes to @state_hash, in
-- one statement: only an unused, unexpired one is returned, and only once,
-- so a replayed, forged or expired state finds nothing, whoever races.
UPDATE oauth_authorizations
SET used_at = now()
WHERE state_hash = @state_hash
  AND used_at IS NULL
  AND expires_at > now()
RETURNING id, token_id, name, link_id, redirect_uri, verifier, settings, client_secret
