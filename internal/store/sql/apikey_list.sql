-- Every API key, oldest first. The caller prints no hash.
SELECT id, label, key_hash, patterns::text AS patterns, created_at, last_used_at, revoked_at, admin
FROM api_keys
ORDER BY created_at, id
