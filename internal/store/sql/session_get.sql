-- The live session with this token hash: unexpired, and its key still an
-- unrevoked admin key (a revoked key ends its sessions at once; a deleted
-- one took them with it).
SELECT s.key_id, k.label, s.csrf_token, s.expires_at
FROM console_sessions AS s
JOIN api_keys AS k ON k.id = s.key_id
WHERE s.token_hash = @token_hash
  AND s.expires_at > now()
  AND k.admin
  AND k.revoked_at IS NULL
