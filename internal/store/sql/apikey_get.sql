-- One API key by the id part of the key, revoked or not.
SELECT id, label, key_hash, patterns::text AS patterns, created_at, last_used_at, revoked_at, admin
FROM api_keys
WHERE id = @id
