-- Revoke a key; revoking it again keeps the first revocation time.
UPDATE api_keys
SET revoked_at = COALESCE(revoked_at, now())
WHERE id = @id
RETURNING id
